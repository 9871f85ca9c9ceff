export { fuzzers, type Fuzzer } from './fuzzers.js';
export { runFuzzer, formatResult, type FuzzResult } from './runner.js';
