import { libraryConfig } from '../../tsup.preset.mjs';

// The library entry (commands as functions) and the `mainline` executable.
export default libraryConfig({ entry: ['src/index.ts', 'src/cli.ts'] });
