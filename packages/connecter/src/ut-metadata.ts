import { BencodeError, decodePrefix, encode, isDict, type BencodeValue } from '@mainline/bencode';
import { ConnecterError, ProtocolError } from './errors.js';

/** BEP 9: metadata travels in 16 KiB pieces; only the last one may be shorter. */
export const METADATA_PIECE_LENGTH = 16384;
/** The largest metadata_size we accept or serve (8 MiB: ~400k pieces of a torrent; far above any real one). */
export const MAX_METADATA_SIZE = 8 * 1024 * 1024;
/** The extension name in the BEP 10 `m` dictionary. */
export const UT_METADATA = 'ut_metadata';
/** The id we ask peers to send ut_metadata messages under (our side of `m`). */
export const UT_METADATA_ID = 3;

/** One BEP 9 message. `data` is a view into the received payload. */
export type MetadataMessage =
  | { type: 'request'; piece: number }
  | { type: 'data'; piece: number; totalSize: number; data: Uint8Array }
  | { type: 'reject'; piece: number };

const MSG_TYPE = { request: 0, data: 1, reject: 2 } as const;

function bad(message: string): ProtocolError {
  return new ProtocolError('BAD_METADATA_MESSAGE', message);
}

/** Whether `size` is a metadata size we accept: 1..MAX_METADATA_SIZE bytes (or the given cap). */
export function validMetadataSize(size: number, max = MAX_METADATA_SIZE): boolean {
  return Number.isSafeInteger(size) && size > 0 && size <= max;
}

/** Number of 16 KiB pieces of `size` bytes of metadata. */
export function metadataPieceCount(size: number): number {
  return Math.ceil(size / METADATA_PIECE_LENGTH);
}

/** Length of metadata piece `piece` of `size` bytes: 16 KiB except a shorter last one. */
export function metadataPieceLength(size: number, piece: number): number {
  return Math.min(METADATA_PIECE_LENGTH, size - piece * METADATA_PIECE_LENGTH);
}

/** Bencodes a ut_metadata message; a data message is the dict followed by the raw piece. */
export function encodeMetadataMessage(msg: MetadataMessage): Buffer {
  if (!Number.isSafeInteger(msg.piece) || msg.piece < 0) throw new ConnecterError('BAD_ARGUMENT', `bad metadata piece ${String(msg.piece)}`);
  if (msg.type !== 'data') return encode({ msg_type: MSG_TYPE[msg.type], piece: msg.piece });
  if (!validMetadataSize(msg.totalSize) || msg.data.length !== metadataPieceLength(msg.totalSize, msg.piece)) {
    throw new ConnecterError('BAD_ARGUMENT', `metadata piece ${msg.piece} of ${msg.data.length} bytes does not fit total_size ${msg.totalSize}`);
  }
  return Buffer.concat([encode({ msg_type: MSG_TYPE.data, piece: msg.piece, total_size: msg.totalSize }), msg.data]);
}

function intField(v: BencodeValue | undefined, name: string): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw bad(`ut_metadata '${name}' is not a non-negative integer`);
  return n;
}

/**
 * Parses a ut_metadata payload (the bytes after the extended message id). Returns undefined for
 * an unknown `msg_type` (BEP 9: ignore it). Throws ProtocolError BAD_METADATA_MESSAGE for anything
 * malformed or out of bounds:
 * - the payload must start with a bencoded dict with integer `msg_type` and `piece`; only a data
 *   message may have bytes after the dict;
 * - a data message's `total_size` must be a size we accept (and equal `metadataSize` when known),
 *   its piece index in range and its piece exactly 16 KiB (the last: the remainder);
 * - a request or reject must name a piece in range (of `metadataSize`, or of the largest size we
 *   accept when it is unknown).
 */
export function decodeMetadataMessage(payload: Uint8Array, metadataSize?: number, maxSize = MAX_METADATA_SIZE): MetadataMessage | undefined {
  let value: BencodeValue;
  let end: number;
  try {
    ({ value, end } = decodePrefix(payload, { strict: false, maxDepth: 4 }));
  } catch (err) {
    if (err instanceof BencodeError) throw bad(`ut_metadata message is not bencode: ${err.message}`);
    throw err;
  }
  if (!isDict(value)) throw bad('ut_metadata message is not a dictionary');
  const type = intField(value.get('msg_type'), 'msg_type');
  const piece = intField(value.get('piece'), 'piece');
  const known = metadataSize !== undefined && validMetadataSize(metadataSize, maxSize);
  if (type === MSG_TYPE.data) {
    const totalSize = intField(value.get('total_size'), 'total_size');
    if (!validMetadataSize(totalSize, maxSize)) throw bad(`ut_metadata total_size ${totalSize} is not in 1..${maxSize}`);
    if (known && totalSize !== metadataSize) throw bad(`ut_metadata total_size ${totalSize} differs from the metadata_size ${metadataSize} announced`);
    const count = metadataPieceCount(totalSize);
    if (piece >= count) throw bad(`ut_metadata data for piece ${piece}, but there are ${count}`);
    const data = payload.subarray(end);
    const want = metadataPieceLength(totalSize, piece);
    if (data.length !== want) throw bad(`ut_metadata piece ${piece} has ${data.length} bytes (must be ${want})`);
    return { type: 'data', piece, totalSize, data };
  }
  if (type !== MSG_TYPE.request && type !== MSG_TYPE.reject) return undefined;
  if (end !== payload.length) throw bad(`${payload.length - end} byte(s) after a ut_metadata ${type === MSG_TYPE.request ? 'request' : 'reject'}`);
  const count = metadataPieceCount(known ? (metadataSize as number) : maxSize);
  if (piece >= count) throw bad(`ut_metadata ${type === MSG_TYPE.request ? 'request' : 'reject'} for piece ${piece}, but there are ${count}`);
  return type === MSG_TYPE.request ? { type: 'request', piece } : { type: 'reject', piece };
}
