import fc from 'fast-check';
import { formatResult, fuzzers, runFuzzer, type Fuzzer } from './index.js';

// The full runs are `pnpm fuzz` (a million inputs each); here each fuzzer runs briefly, so the
// fuzzers themselves are known to work and the generators reach the parsers' success paths.
describe.each(fuzzers().map((f) => [f.name, f] as const))('fuzzer %s', (_name, fuzzer) => {
  test('raises only the parser\'s own errors, and both accepts and refuses some inputs', () => {
    const r = runFuzzer(fuzzer, { runs: 500, seed: 42 });
    expect(r.failure).toBeUndefined();
    expect(r.runs).toBe(500);
    expect(r.accepted).toBeGreaterThan(0);
    expect(r.refused).toBeGreaterThan(0);
    expect(formatResult(r)).toMatch(new RegExp(`^${fuzzer.name} +500 inputs .* ok: `));
  });
});

test('an exception that is not a typed error fails the run, with the input and the error', () => {
  const broken: Fuzzer = {
    name: 'broken',
    what: 'a parser that crashes on input of more than 3 bytes',
    input: fc.uint8Array({ maxLength: 20 }),
    run: (b) => {
      if ((b as Uint8Array).length > 3) throw new TypeError('boom');
    },
    typed: () => undefined,
  };
  const r = runFuzzer(broken, { runs: 1000, seed: 1 });
  expect(r.failure?.error).toContain('TypeError: boom');
  expect(r.failure?.input).toMatch(/Uint8Array/);
  expect(formatResult(r)).toContain('UNEXPECTED EXCEPTION');
});
