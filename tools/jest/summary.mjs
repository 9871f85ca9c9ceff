// Prints the repository-wide test totals recorded by summary-reporter.cjs, as the closing line.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const totals = { passed: 0, failed: 0, skipped: 0 };
for (const group of ['packages', 'apps', 'tools']) {
  const dir = join(root, group);
  if (!existsSync(dir)) continue;
  for (const name of readdirSync(dir).sort()) {
    const file = join(dir, name, '.jest-summary.json');
    if (!existsSync(file)) continue;
    const r = JSON.parse(readFileSync(file, 'utf8'));
    for (const k of Object.keys(totals)) totals[k] += r[k];
    console.log(`  ${`${group}/${name}`.padEnd(24)} ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
  }
}
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
