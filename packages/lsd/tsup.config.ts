import { libraryConfig } from '../../tsup.preset.mjs';

export default libraryConfig();
