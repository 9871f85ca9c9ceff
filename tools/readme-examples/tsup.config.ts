import { libraryConfig } from '../../tsup.preset.mjs';

// The library (for the packages' example tests) and the `readme-examples` command.
export default libraryConfig({ entry: ['src/index.ts', 'src/cli.ts'] });
