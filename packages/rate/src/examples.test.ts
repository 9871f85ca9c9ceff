import { join } from 'node:path';
import { runExample, testReadmeShowsExamples } from '@mainline/readme-examples';

const pkg = join(__dirname, '..');

testReadmeShowsExamples(pkg);

test('examples/usage.mjs runs as pasted: rate, display rate, ETA and a fair token bucket on a ManualClock', async () => {
  const { stdout } = await runExample(pkg, 'examples/usage.mjs');
  const [rate, shown, eta, grants, count] = stdout.trimEnd().split('\n');
  // Upload measure, fudge 5 s: 16,384 bytes over the 5 s fudge, then 1 s idle → 16384 / 6.
  expect(rate).toBe(`${(16_384 / 6).toFixed(1)} 16384`);
  // The display rate: 3 MB in the 1 s since the first reading.
  expect(shown).toBe('3000000 B/s shown');
  // 500 kB in 10 s, 500 kB to go: 10 s, plus what the estimator's 2 s start fudge adds.
  expect(Number(/^(\d+) s left$/.exec(eta!)?.[1])).toBeGreaterThanOrEqual(10);
  expect(Number(/^(\d+) s left$/.exec(eta!)?.[1])).toBeLessThanOrEqual(12);
  // 32 KiB/s with a 16 KiB burst: one 16 KiB slice every 500 ms, in request order.
  expect(grants).toBe('a@0ms b@500ms c@1000ms');
  expect(count).toBe('3'); // the cancelled ticket never ran
});
