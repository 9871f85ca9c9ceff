#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';
import { runDaemon } from './program.js';

// A daemon is mostly idle and holds many small long-lived objects (its torrents): V8's young
// generation, which otherwise grows to 2 x 16 MiB while the torrents load and never gives the
// pages back, stays at its first size. Costs a few more (cheap) scavenges under load; saves ~30 MiB
// of resident memory (bench/daemon-scale.bench.mjs). `node --semi-space-growth-factor=N` overrides.
if (!process.execArgv.some((a) => a.startsWith('--semi-space-growth-factor') || a.startsWith('--max-semi-space-size'))) {
  setFlagsFromString('--semi-space-growth-factor=1');
}
// V8's memory-saving mode (smaller heap growth steps, memory reducer sooner, less eager
// optimisation): an idle daemon with 1,000 torrents ends ~5 MiB smaller and peaks ~20 MiB lower
// (bench/daemon-scale.bench.mjs), and a 1 GiB download (bench e2e, our CLI with the same flag)
// was no slower. `node --no-optimize-for-size` overrides.
if (!process.execArgv.some((a) => a.includes('optimize-for-size') || a.includes('optimize_for_size'))) {
  setFlagsFromString('--optimize-for-size');
}

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
