// Runs the benchmarks in this folder: `pnpm bench` (all) or `pnpm bench -- <name>...` (some).
// Each <name>.bench.mjs exports `async function run()` that prints its figures, always as
// ratios against a named peer measured in the same run (e.g. `ours/npm-bencode decode = 0.31`).
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2);
const benches = readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();

if (benches.length === 0) {
  console.error(`no benchmark matches ${wanted.join(' ')}`);
  process.exit(1);
}
for (const file of benches) {
  console.log(`\n## ${file.replace('.bench.mjs', '')}`);
  const { run } = await import(join(here, file));
  await run();
}
