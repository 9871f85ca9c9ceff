#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';
import { daemonV8Flags } from './v8-flags.js';

// Memory-saving V8 settings for a mostly idle daemon (see v8-flags.ts), unless node's own
// command line says otherwise. Set before the daemon's modules load: loading them runs node's
// module loader hot enough to be optimized, which alone leaves ~3.5 MiB of the optimizing
// compiler's pages resident.
for (const flag of daemonV8Flags(process.execArgv)) setFlagsFromString(flag);

import('./program.js')
  .then(({ runDaemon }) => runDaemon(process.argv))
  .then(
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
