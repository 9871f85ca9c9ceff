import { libraryConfig } from '../../tsup.preset.mjs';

// The library entry (commands as functions). The `mainline` executable is built next, by
// tsup.bin.config.ts.
export default libraryConfig({ entry: ['src/index.ts'] });
