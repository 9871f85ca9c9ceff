#!/usr/bin/env node
// readme-examples [--check] [package dir ...]: refresh (or, with --check, verify) the example
// blocks of every package README from its examples/ files. Default: every package and app.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { staleExamples, syncReadme } from './index.js';

function workspaceRoot(from: string): string {
  for (let dir = from; ; dir = resolve(dir, '..')) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    if (resolve(dir, '..') === dir) throw new Error('not inside the workspace');
  }
}

const args = process.argv.slice(2);
const check = args.includes('--check');
const root = workspaceRoot(process.cwd());
const dirs = args.filter((a) => a !== '--check').map((d) => resolve(d));
if (dirs.length === 0) {
  for (const group of ['packages', 'apps']) {
    for (const name of readdirSync(join(root, group))) dirs.push(join(root, group, name));
  }
}

let failed = false;
for (const dir of dirs.filter((d) => existsSync(join(d, 'README.md')))) {
  const readmePath = join(dir, 'README.md');
  const before = readFileSync(readmePath, 'utf8');
  if (check) {
    for (const problem of staleExamples(dir)) {
      console.error(`${relative(root, dir)}: ${problem}`);
      failed = true;
    }
  } else {
    const after = syncReadme(dir, before);
    if (after !== before) {
      writeFileSync(readmePath, after);
      console.log(`updated ${relative(root, readmePath)}`);
    }
  }
}
process.exitCode = failed ? 1 : 0;
