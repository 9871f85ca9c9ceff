import { Bitfield } from '@mainline/bitfield';
import { MessageId } from './constants.js';
import { ConnecterError } from './errors.js';
import { encodeExtensionHandshake, type ExtensionHandshake } from './extension.js';

/** Every peer-wire message: BEP 3, port (BEP 5), BEP 6 fast, BEP 10 extended. */
export type Message =
  | { type: 'keep-alive' }
  | { type: 'choke' }
  | { type: 'unchoke' }
  | { type: 'interested' }
  | { type: 'not-interested' }
  | { type: 'have'; index: number }
  /**
   * Received: the peer's pieces, first or again later (a restatement, a superset of what it had
   * announced: it replaces what is known of the peer).
   */
  | { type: 'bitfield'; bitfield: Bitfield }
  | { type: 'request'; index: number; begin: number; length: number }
  /** `block` is a view into the received bytes (copied at most once, when a frame spans reads). */
  | { type: 'piece'; index: number; begin: number; block: Uint8Array }
  | { type: 'cancel'; index: number; begin: number; length: number }
  | { type: 'port'; port: number }
  | { type: 'suggest'; index: number }
  | { type: 'have-all' }
  | { type: 'have-none' }
  | { type: 'reject'; index: number; begin: number; length: number }
  | { type: 'allowed-fast'; index: number }
  | { type: 'extended-handshake'; handshake: ExtensionHandshake }
  /** `id` is the extended message id as the receiver assigned it in its own `m` dictionary. */
  | { type: 'extended'; id: number; payload: Uint8Array }
  /**
   * Received only, on a fast connection: a request that names no block we could serve (a piece
   * index out of range, a length of 0 or over `maxRequestLength`, past the piece end). Without
   * BEP 6 that closes the connection; with it the answer is a reject (libtorrent does the same).
   */
  | { type: 'invalid-request'; index: number; begin: number; length: number; reason: string };

export type MessageType = Message['type'];

/** Messages that only exist with BEP 6. */
export const FAST_MESSAGES: ReadonlySet<MessageType> = new Set(['suggest', 'have-all', 'have-none', 'reject', 'allowed-fast']);

function u32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new ConnecterError('BAD_ARGUMENT', `${name} must be an integer in [0, 2^32), got ${String(v)}`);
  }
  return v;
}

function bare(id: number): Buffer {
  const b = Buffer.allocUnsafe(5);
  b.writeUInt32BE(1, 0);
  b[4] = id;
  return b;
}

function withIndex(id: number, index: number): Buffer {
  const b = Buffer.allocUnsafe(9);
  b.writeUInt32BE(5, 0);
  b[4] = id;
  b.writeUInt32BE(u32('index', index), 5);
  return b;
}

function triple(id: number, index: number, begin: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(17);
  b.writeUInt32BE(13, 0);
  b[4] = id;
  b.writeUInt32BE(u32('index', index), 5);
  b.writeUInt32BE(u32('begin', begin), 9);
  b.writeUInt32BE(u32('length', length), 13);
  return b;
}

/** Length prefix + id (+ one byte for extended) for a message whose payload is written separately. */
function header(id: number, payloadLength: number, extId?: number): Buffer {
  const extra = extId === undefined ? 0 : 1;
  const b = Buffer.allocUnsafe(5 + extra);
  b.writeUInt32BE(u32('message length', 1 + extra + payloadLength), 0);
  b[4] = id;
  if (extId !== undefined) b[5] = extId;
  return b;
}

/** The 13-byte header of a piece message (length, id 7, index, begin) for `blockLength` bytes. */
export function encodePieceHeader(index: number, begin: number, blockLength: number): Buffer {
  const b = Buffer.allocUnsafe(13);
  b.writeUInt32BE(u32('message length', 9 + blockLength), 0);
  b[4] = MessageId.piece;
  b.writeUInt32BE(u32('index', index), 5);
  b.writeUInt32BE(u32('begin', begin), 9);
  return b;
}

const KEEP_ALIVE = Buffer.alloc(4);

/**
 * Encodes a message as 1 or 2 buffers: small messages are one buffer; piece, bitfield and extended
 * messages are a header plus the payload itself (never concatenated), for a single writev.
 */
export function encodeMessage(msg: Message): Uint8Array[] {
  switch (msg.type) {
    case 'keep-alive':
      return [KEEP_ALIVE];
    case 'choke':
      return [bare(MessageId.choke)];
    case 'unchoke':
      return [bare(MessageId.unchoke)];
    case 'interested':
      return [bare(MessageId.interested)];
    case 'not-interested':
      return [bare(MessageId.notInterested)];
    case 'have':
      return [withIndex(MessageId.have, msg.index)];
    case 'bitfield': {
      const bytes = msg.bitfield.toBytes();
      return [header(MessageId.bitfield, bytes.length), bytes];
    }
    case 'request':
      return [triple(MessageId.request, msg.index, msg.begin, msg.length)];
    case 'invalid-request':
      throw new ConnecterError('BAD_ARGUMENT', 'invalid-request is what the reader makes of a bad request; it is never sent');
    case 'piece':
      return [encodePieceHeader(msg.index, msg.begin, msg.block.length), msg.block];
    case 'cancel':
      return [triple(MessageId.cancel, msg.index, msg.begin, msg.length)];
    case 'port': {
      if (!Number.isInteger(msg.port) || msg.port < 0 || msg.port > 65535) {
        throw new ConnecterError('BAD_ARGUMENT', `port must be in [0, 65535], got ${String(msg.port)}`);
      }
      const b = Buffer.allocUnsafe(7);
      b.writeUInt32BE(3, 0);
      b[4] = MessageId.port;
      b.writeUInt16BE(msg.port, 5);
      return [b];
    }
    case 'suggest':
      return [withIndex(MessageId.suggest, msg.index)];
    case 'have-all':
      return [bare(MessageId.haveAll)];
    case 'have-none':
      return [bare(MessageId.haveNone)];
    case 'reject':
      return [triple(MessageId.reject, msg.index, msg.begin, msg.length)];
    case 'allowed-fast':
      return [withIndex(MessageId.allowedFast, msg.index)];
    case 'extended-handshake': {
      const payload = encodeExtensionHandshake(msg.handshake);
      return [header(MessageId.extended, payload.length, 0), payload];
    }
    case 'extended': {
      if (!Number.isInteger(msg.id) || msg.id < 1 || msg.id > 255) {
        throw new ConnecterError('BAD_ARGUMENT', `extended message id must be in [1, 255], got ${String(msg.id)}`);
      }
      return [header(MessageId.extended, msg.payload.length, msg.id), msg.payload];
    }
    default: {
      const never: never = msg;
      throw new ConnecterError('BAD_ARGUMENT', `unknown message ${JSON.stringify(never)}`);
    }
  }
}

/** Encodings up to this size are copied together; larger ones (payloads) go out as they are. */
const SMALL_CHUNK = 64;

/**
 * Encodes several messages for one writev: runs of small encodings (requests, haves, cancels …)
 * are joined into one buffer, so a batch of 32 requests is one 544-byte chunk rather than 32
 * chunks each taking its own trip through the socket's write queue.
 */
export function encodeMessages(messages: readonly Message[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let run: Uint8Array[] = [];
  let runBytes = 0;
  const flush = (): void => {
    if (run.length === 1) out.push(run[0] as Uint8Array);
    else if (run.length > 1) out.push(Buffer.concat(run, runBytes));
    run = [];
    runBytes = 0;
  };
  for (const message of messages) {
    for (const chunk of encodeMessage(message)) {
      if (chunk.length > SMALL_CHUNK) {
        flush();
        out.push(chunk);
      } else if (chunk.length > 0) {
        run.push(chunk);
        runBytes += chunk.length;
      }
    }
  }
  flush();
  return out;
}
