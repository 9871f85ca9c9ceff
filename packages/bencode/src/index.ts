export { decode, decodePrefix, type DecodeOptions } from './decode.js';
export { encode, Preencoded, type Encodable } from './encode.js';
export { BencodeDict, type BencodeKey } from './dict.js';
export {
  BencodeError,
  type BencodeErrorCode,
  type BencodeValue,
  isBytes,
  isDict,
  isInteger,
  isList,
} from './types.js';
export { toBytes, toText, toTextStrict } from './text.js';
