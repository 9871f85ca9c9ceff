import { libraryConfig } from '../../tsup.preset.mjs';

// The library entry (Daemon, RPC handler) and the `mainlined` executable. shims: __dirname in the
// ESM build (the web UI in public/ is found relative to it).
export default libraryConfig({ entry: ['src/index.ts', 'src/mainlined.ts'], shims: true });
