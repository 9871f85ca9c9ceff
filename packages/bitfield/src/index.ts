export { Bitfield, BitfieldError, MAX_BITFIELD_LENGTH, type BitfieldErrorCode } from './bitfield.js';
export { BLOCK_SIZE } from './block.js';
