import { libraryConfig } from '../../tsup.preset.mjs';

// shims: __dirname in the ESM build (lt_peer.py is found relative to it).
export default libraryConfig({ shims: true });
