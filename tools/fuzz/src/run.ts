// `pnpm fuzz [-- --runs N] [--seed S] [name...]`: runs the parser fuzzers (all by default, a
// million inputs each) and exits non-zero if any input raised an exception that is not the
// parser's own typed error.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { formatResult, fuzzers, runFuzzer } from './index.js';

function fixturesDir(): string | undefined {
  // webtorrent-fixtures is a data-only package with no entry point: look for its folder.
  for (const base of createRequire(import.meta.url).resolve.paths('webtorrent-fixtures') ?? []) {
    const dir = join(base, 'webtorrent-fixtures', 'fixtures');
    if (existsSync(dir)) return dir;
  }
  return undefined;
}

const args = process.argv.slice(2).filter((a) => a !== '--');
let runs = 1_000_000;
let seed: number | undefined;
const names: string[] = [];
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === '--runs') runs = Number(args[++i]);
  else if (a === '--seed') seed = Number(args[++i]);
  else names.push(a);
}
if (!Number.isSafeInteger(runs) || runs < 1) {
  console.error(`--runs must be a positive integer, got ${String(runs)}`);
  process.exit(2);
}
const all = fuzzers({ fixturesDir: fixturesDir() });
const chosen = names.length === 0 ? all : all.filter((f) => names.includes(f.name));
const unknown = names.filter((n) => !all.some((f) => f.name === n));
if (unknown.length > 0) {
  console.error(`no fuzzer named ${unknown.join(', ')}; there are ${all.map((f) => f.name).join(', ')}`);
  process.exit(2);
}
let failed = 0;
console.log(`fuzzing ${chosen.length} parser(s), ${runs} inputs each${seed !== undefined ? `, seed ${seed}` : ''}`);
for (const f of chosen) {
  const r = runFuzzer(f, { runs, ...(seed !== undefined ? { seed } : {}) });
  console.log(formatResult(r));
  if (r.failure) {
    failed++;
    console.log(`  seed ${r.seed}; input: ${r.failure.input}\n  ${r.failure.error.replace(/\n/g, '\n  ')}`);
  }
}
if (failed > 0) {
  console.log(`${failed} fuzzer(s) found an unexpected exception`);
  process.exitCode = 1;
}
