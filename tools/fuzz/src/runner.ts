import fc from 'fast-check';
import type { Fuzzer } from './fuzzers.js';

/** What one fuzzer's run found. */
export interface FuzzResult {
  name: string;
  /** Inputs tried. */
  runs: number;
  ms: number;
  /** Inputs the parser accepted, and those it refused with one of its own errors (by code). */
  accepted: number;
  refused: number;
  codes: Map<string, number>;
  /** The first input that raised anything else (after shrinking), with the error. */
  failure?: { input: string; error: string };
  seed: number;
}

/** Runs `fuzzer` on `runs` inputs: every exception must be one of the parser's own typed errors. */
export function runFuzzer(fuzzer: Fuzzer, options: { runs: number; seed?: number }): FuzzResult {
  const codes = new Map<string, number>();
  let accepted = 0;
  let refused = 0;
  const started = performance.now();
  const details = fc.check(
    fc.property(fuzzer.input, (input) => {
      try {
        fuzzer.run(input);
        accepted++;
      } catch (e) {
        const code = fuzzer.typed(e);
        if (code === undefined) throw e;
        refused++;
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    }),
    { numRuns: options.runs, ...(options.seed !== undefined ? { seed: options.seed } : {}) },
  );
  const result: FuzzResult = { name: fuzzer.name, runs: details.numRuns, ms: performance.now() - started, accepted, refused, codes, seed: details.seed };
  if (details.failed) {
    const err = details.errorInstance;
    result.failure = {
      input: fc.stringify(details.counterexample).slice(0, 2000),
      error: err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err),
    };
  }
  return result;
}

/** One line per fuzzer: count, time, what the parser did with the inputs, and the three most frequent refusals. */
export function formatResult(r: FuzzResult): string {
  const top = [...r.codes]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  const verdict = r.failure ? 'UNEXPECTED EXCEPTION' : 'ok';
  return `${r.name.padEnd(13)} ${String(r.runs).padStart(9)} inputs ${(r.ms / 1000).toFixed(1).padStart(7)} s  ${verdict}: ${r.accepted} accepted, ${r.refused} refused with typed errors${top ? ` (${top})` : ''}`;
}
