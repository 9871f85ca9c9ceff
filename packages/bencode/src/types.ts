import { BencodeDict } from './dict.js';

/** A decoded bencode value. Byte strings stay bytes; integers beyond 2^53 become bigint. */
export type BencodeValue = number | bigint | Uint8Array | BencodeValue[] | BencodeDict;

/** Why decoding or encoding failed; stable strings callers may switch on. */
export type BencodeErrorCode =
  | 'EMPTY'
  | 'TRAILING_BYTES'
  | 'UNEXPECTED_BYTE'
  | 'BAD_INTEGER'
  | 'LEADING_ZERO'
  | 'NEGATIVE_ZERO'
  | 'INTEGER_TOO_LONG'
  | 'BAD_LENGTH'
  | 'TRUNCATED'
  | 'UNSORTED_KEYS'
  | 'DUPLICATE_KEY'
  | 'NON_STRING_KEY'
  | 'DEPTH_EXCEEDED'
  | 'UNENCODABLE';

/** Every failure of this package: a code, the byte offset where it was seen, and a message for people. */
export class BencodeError extends Error {
  override readonly name = 'BencodeError';
  constructor(
    readonly code: BencodeErrorCode,
    /** Byte offset in the input where decoding failed (-1 for encoding errors). */
    readonly offset: number,
    message: string,
  ) {
    super(offset >= 0 ? `${message} (at byte ${offset})` : message);
  }
}

export function isDict(value: unknown): value is BencodeDict {
  return value instanceof BencodeDict;
}

export function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

export function isList(value: unknown): value is BencodeValue[] {
  return Array.isArray(value);
}

export function isInteger(value: unknown): value is number | bigint {
  return (typeof value === 'number' && Number.isInteger(value)) || typeof value === 'bigint';
}
