#!/usr/bin/env node
import { runDaemon } from './program.js';

runDaemon(process.argv).then(
  (code) => {
    process.exitCode = code;
    // Nothing else should keep the process alive once the daemon has stopped.
    setTimeout(() => process.exit(code), 500).unref();
  },
  (err: unknown) => {
    process.stderr.write(`mainlined: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
