export { Bitfield, BitfieldError, MAX_BITFIELD_LENGTH, type BitfieldErrorCode } from './bitfield.js';
