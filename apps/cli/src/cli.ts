#!/usr/bin/env node
import { guardOutput, write } from './output.js';
import { runCli } from './program.js';

guardOutput();
runCli(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    write(process.stderr, `mainline: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
