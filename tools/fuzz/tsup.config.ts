import { libraryConfig } from '../../tsup.preset.mjs';

// The runner is a program (dist/run.js); index.ts is what the tests import.
export default libraryConfig({ entry: ['src/index.ts', 'src/run.ts'], format: ['esm'] });
