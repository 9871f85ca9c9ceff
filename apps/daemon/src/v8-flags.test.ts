import { execFileSync } from 'node:child_process';
import { daemonV8Flags } from './v8-flags.js';

/** Sets `flags` at runtime, as mainlined does, then asks V8 how a hot function ended up compiled. */
function optimizationStatusWith(flags: readonly string[]): number {
  const script = `
    for (const f of ${JSON.stringify(flags)}) require('node:v8').setFlagsFromString(f);
    function hot(a) { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]; return s; }
    %PrepareFunctionForOptimization(hot); hot([1, 2]); hot([3, 4]);
    %OptimizeFunctionOnNextCall(hot); hot([5, 6]);
    process.stdout.write(String(%GetOptimizationStatus(hot)));`;
  return Number(execFileSync(process.execPath, ['--allow-natives-syntax', '-e', script], { encoding: 'utf8' }));
}
// V8's OptimizationStatus bits (src/runtime/runtime.h): the function has optimized code.
const OPTIMIZED = 1 << 4;

test('mainlined caps tiering at the baseline compiler: set at runtime, a hot function is not optimized', () => {
  const flags = daemonV8Flags([]);
  expect(flags).toEqual(['--semi-space-growth-factor=1', '--optimize-for-size', '--max-opt=2']);
  // Without the cap the same function is optimized: the check can tell the two apart.
  expect(optimizationStatusWith(flags.filter((f) => !f.startsWith('--max-opt'))) & OPTIMIZED).toBe(OPTIMIZED);
  expect(optimizationStatusWith(flags) & OPTIMIZED).toBe(0);
});

test("node's own command line wins over each of mainlined's V8 settings", () => {
  expect(daemonV8Flags(['--max-opt=4'])).toEqual(['--semi-space-growth-factor=1', '--optimize-for-size']);
  expect(daemonV8Flags(['--no-turbofan'])).not.toContain('--max-opt=2');
  expect(daemonV8Flags(['--no-optimize_for_size', '--max-semi-space-size=4'])).toEqual(['--max-opt=2']);
  expect(daemonV8Flags(['--inspect'])).toHaveLength(3);
});
