import { Bitfield } from '@mainline/bitfield';
import { ByteQueue } from './byte-queue.js';
import { DEFAULT_MAX_EXTENDED_LENGTH, DEFAULT_MAX_FRAME_LENGTH, DEFAULT_MAX_REQUEST_LENGTH, MessageId } from './constants.js';
import { ConnecterError, ProtocolError } from './errors.js';
import { decodeExtensionHandshake } from './extension.js';
import { PROTOCOL_HEADER } from './handshake.js';
import type { Message } from './messages.js';
import { parseReserved } from './reserved.js';

/** What a torrent allows on the wire; used to validate every message. */
export interface WireLimits {
  /** Number of pieces: indices must be below it, and bitfields must have exactly this many bits. */
  numPieces: number;
  /** With `totalLength`, lets requests, pieces and rejects be checked against the piece's end. */
  pieceLength?: number;
  totalLength?: number;
  /** Largest length prefix accepted (default 2^23 = 8 MiB). */
  maxFrameLength?: number;
  /** Largest request served, and largest block a piece message may carry (default 2^17 = 128 KiB). */
  maxRequestLength?: number;
  /**
   * Largest extended message (BEP 10), and largest bitfield while the piece count is unknown
   * (default 2^20 = 1 MiB). With the block cap this bounds what a peer can make us buffer.
   */
  maxExtendedLength?: number;
  /**
   * The piece count is not known yet (BEP 9 metadata exchange): `numPieces` is ignored, bitfields
   * of any size are accepted and piece indices are not checked.
   */
  piecesUnknown?: boolean;
}

export interface WireReaderHandler {
  /** The peer's reserved bytes and info-hash arrived (throw a ProtocolError to refuse). */
  onInfoHash?(infoHash: Uint8Array, reserved: Uint8Array): void;
  /** The peer's id arrived: the handshake is complete (throw a ProtocolError to refuse). */
  onPeerId?(peerId: Uint8Array): void;
  /** One decoded, validated message. */
  onMessage(message: Message): void;
}

export interface WireReaderOptions {
  /** Validation limits; may be set later with `setLimits` (before the first message). */
  limits?: WireLimits;
  /** Start by reading a handshake (default true). False: messages only (e.g. for tests). */
  handshake?: boolean;
  /**
   * Whether BEP 6 / BEP 10 are on. With a handshake they default to what both sides' reserved
   * bytes say (ours given here as `localReserved`); without one, to false.
   */
  fast?: boolean;
  extended?: boolean;
  /** Our reserved bytes: a feature is on when both sides set its bit. */
  localReserved?: Uint8Array;
  /**
   * Pushed chunks are overwritten once push() returns (a shared read buffer): the reader copies
   * the unparsed rest it keeps, and every payload it hands out — except a piece message's block,
   * which is then only valid during onMessage.
   */
  transient?: boolean;
}

type Stage = 'protocol' | 'info-hash' | 'peer-id' | 'messages' | 'stopped';

interface ResolvedLimits {
  numPieces: number;
  pieceLength: number | undefined;
  lastPieceLength: number | undefined;
  maxFrameLength: number;
  maxRequestLength: number;
  maxExtendedLength: number;
  piecesUnknown: boolean;
}

function resolveLimits(l: WireLimits): ResolvedLimits {
  if (!Number.isInteger(l.numPieces) || l.numPieces < 0) {
    throw new ConnecterError('BAD_ARGUMENT', `numPieces must be a non-negative integer, got ${String(l.numPieces)}`);
  }
  let lastPieceLength: number | undefined;
  if (l.pieceLength !== undefined && l.totalLength !== undefined && l.numPieces > 0) {
    lastPieceLength = l.totalLength - l.pieceLength * (l.numPieces - 1);
    if (!(lastPieceLength > 0 && lastPieceLength <= l.pieceLength)) {
      throw new ConnecterError('BAD_ARGUMENT', 'totalLength does not fit numPieces × pieceLength');
    }
  }
  return {
    numPieces: l.numPieces,
    pieceLength: lastPieceLength === undefined ? undefined : l.pieceLength,
    lastPieceLength,
    maxFrameLength: l.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH,
    maxRequestLength: l.maxRequestLength ?? DEFAULT_MAX_REQUEST_LENGTH,
    maxExtendedLength: l.maxExtendedLength ?? DEFAULT_MAX_EXTENDED_LENGTH,
    piecesUnknown: l.piecesUnknown === true,
  };
}

/**
 * Bytes looked at to tell text from an MSE key exchange when a handshake does not start with 19:
 * 8 random bytes all look like text once in ~3000 tries.
 */
const TEXT_PROBE_BYTES = 8;

/** Message names for error text. */
const NAMES: Record<number, string> = {
  0: 'choke',
  1: 'unchoke',
  2: 'interested',
  3: 'not interested',
  4: 'have',
  5: 'bitfield',
  6: 'request',
  7: 'piece',
  8: 'cancel',
  9: 'port',
  13: 'suggest',
  14: 'have all',
  15: 'have none',
  16: 'reject',
  17: 'allowed fast',
  20: 'extended',
};

/** Body length (after the id byte) of fixed-size messages. */
const FIXED: Record<number, number> = { 0: 0, 1: 0, 2: 0, 3: 0, 4: 4, 6: 12, 8: 12, 9: 2, 13: 4, 14: 0, 15: 0, 16: 12, 17: 4 };

const CHOKE: Message = { type: 'choke' };
const UNCHOKE: Message = { type: 'unchoke' };
const INTERESTED: Message = { type: 'interested' };
const NOT_INTERESTED: Message = { type: 'not-interested' };
const HAVE_ALL: Message = { type: 'have-all' };
const HAVE_NONE: Message = { type: 'have-none' };
const KEEP_ALIVE: Message = { type: 'keep-alive' };

function u32(b: Uint8Array, o: number): number {
  return ((b[o] as number) * 0x1000000 + (((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number))) >>> 0;
}

/**
 * Incremental peer-wire parser: handshake, then length-prefixed messages, validated as they are
 * cut out. Chunks are kept as received and frames are sliced out of them, so a block payload is a
 * view into a received chunk, or one copy when its frame spans two reads.
 *
 * `push` throws only ProtocolError for bad input (and whatever a handler callback throws); after
 * a throw or `stop()` the reader ignores further input.
 */
export class WireReader {
  private readonly queue = new ByteQueue();
  private readonly transient: boolean;
  private stage: Stage;
  private limits: ResolvedLimits | undefined;
  private fastValue: boolean;
  private extendedValue: boolean;
  private readonly localReserved: Uint8Array | undefined;
  private readonly autoFlags: { fast: boolean; extended: boolean };
  private frameLength = -1; // length of the frame being waited for, -1 = reading a prefix
  // What the peer has announced (bitfield, haves, have-all), to check a later bitfield against:
  // a peer may restate its pieces (aria2 sends a bitfield instead of haves), never take one back.
  private peerAll = false;
  private peerPieces: Bitfield | undefined; // only while the piece count is known, made on first use
  private gotExtHandshake = false;
  private remoteReservedValue: Uint8Array | undefined;
  private pushing = false;

  constructor(
    private readonly handler: WireReaderHandler,
    options: WireReaderOptions = {},
  ) {
    this.stage = options.handshake === false ? 'messages' : 'protocol';
    if (options.limits) this.limits = resolveLimits(options.limits);
    this.fastValue = options.fast ?? false;
    this.extendedValue = options.extended ?? false;
    this.autoFlags = { fast: options.fast === undefined, extended: options.extended === undefined };
    this.localReserved = options.localReserved;
    this.transient = options.transient ?? false;
  }

  /** Sets or replaces the validation limits (e.g. once the info-hash has chosen the torrent). */
  setLimits(limits: WireLimits): void {
    this.limits = resolveLimits(limits);
    // Pieces announced under other limits (before the metadata) are the new owner's to check.
    if (this.peerPieces && (this.limits.piecesUnknown || this.peerPieces.length !== this.limits.numPieces)) this.peerPieces = undefined;
  }

  /** Whether BEP 6 fast messages are allowed. */
  get fast(): boolean {
    return this.fastValue;
  }

  /** Whether BEP 10 extended messages are allowed. */
  get extended(): boolean {
    return this.extendedValue;
  }

  /** The peer's reserved bytes, once read. */
  get remoteReserved(): Uint8Array | undefined {
    return this.remoteReservedValue;
  }

  /** Bytes received and not parsed yet. */
  get buffered(): number {
    return this.queue.length;
  }

  /** Ignore all further input (the connection is being closed). */
  stop(): void {
    this.stage = 'stopped';
    this.queue.clear();
  }

  get stopped(): boolean {
    return this.stage === 'stopped';
  }

  /** Feeds received bytes; calls the handler for each complete unit. Keep `chunk` unmodified. */
  push(chunk: Uint8Array): void {
    if (this.stage === 'stopped') return;
    if (this.pushing) throw new ConnecterError('BAD_ARGUMENT', 'WireReader.push is not re-entrant');
    this.queue.push(chunk);
    this.pushing = true;
    try {
      this.drain();
      if (this.transient) this.queue.detach();
    } catch (err) {
      this.stop();
      throw err;
    } finally {
      this.pushing = false;
    }
  }

  private drain(): void {
    const q = this.queue;
    for (;;) {
      switch (this.stage) {
        case 'stopped':
          return;
        case 'protocol': {
          if (q.length >= 1 && q.peekByte(0) !== 19) {
            // Clients that prefer encryption (aria2, libtorrent, Transmission by default) open with an
            // MSE/PE key exchange — 96 random bytes — and redial in plain when it is refused. Text
            // (an HTTP request, say) is just a bad handshake.
            const probe = Math.min(q.length, TEXT_PROBE_BYTES);
            for (let i = 0; i < probe; i++) {
              const b = q.peekByte(i);
              if ((b < 0x20 || b > 0x7e) && b !== 0x0d && b !== 0x0a) {
                throw new ProtocolError('ENCRYPTED_HANDSHAKE', `handshake starts with byte ${q.peekByte(0)}, not 19: likely an encrypted (MSE) handshake, which is not supported`);
              }
            }
            if (probe < TEXT_PROBE_BYTES) return;
            const text = String.fromCharCode(...Array.from({ length: probe }, (_, i) => q.peekByte(i)));
            throw new ProtocolError('BAD_HANDSHAKE', `text instead of a handshake: ${JSON.stringify(text)}…`);
          }
          const have = Math.min(q.length, 20);
          for (let i = 1; i < have; i++) {
            if (q.peekByte(i) !== PROTOCOL_HEADER[i]) throw new ProtocolError('BAD_HANDSHAKE', 'protocol string is not "BitTorrent protocol"');
          }
          if (q.length < 28) return;
          q.skip(20);
          this.remoteReservedValue = Uint8Array.from(q.take(8));
          if (this.localReserved) {
            const ours = parseReserved(this.localReserved);
            const theirs = parseReserved(this.remoteReservedValue);
            if (this.autoFlags.fast) this.fastValue = ours.fast && theirs.fast;
            if (this.autoFlags.extended) this.extendedValue = ours.extended && theirs.extended;
          }
          this.stage = 'info-hash';
          break;
        }
        case 'info-hash': {
          if (q.length < 20) return;
          const infoHash = Uint8Array.from(q.take(20));
          this.stage = 'peer-id';
          this.handler.onInfoHash?.(infoHash, this.remoteReservedValue as Uint8Array);
          break;
        }
        case 'peer-id': {
          if (q.length < 20) return;
          const peerId = Uint8Array.from(q.take(20));
          this.stage = 'messages';
          this.handler.onPeerId?.(peerId);
          break;
        }
        case 'messages': {
          if (this.frameLength < 0) {
            if (q.length < 4) return;
            const len = q.peekUInt32(0);
            const limits = this.requireLimits();
            if (len > limits.maxFrameLength) {
              throw new ProtocolError('FRAME_TOO_LONG', `message length ${len} is over the maximum ${limits.maxFrameLength}`);
            }
            if (len === 0) {
              q.skip(4);
              this.handler.onMessage(KEEP_ALIVE);
              break;
            }
            // Check the size against the id as soon as the id is in, before buffering the body.
            if (q.length < 5) return;
            this.checkFrameHeader(q.peekByte(4), len - 1, limits);
            q.skip(4);
            this.frameLength = len;
          }
          if (q.length < this.frameLength) return;
          // Transient: the frame's bytes are used up by dispatch (which copies what is kept).
          const frame = q.take(this.frameLength, this.transient);
          this.frameLength = -1;
          this.dispatch(frame);
          break;
        }
      }
    }
  }

  private requireLimits(): ResolvedLimits {
    if (!this.limits) throw new ConnecterError('BAD_ARGUMENT', 'WireReader needs limits before the first message');
    return this.limits;
  }

  private checkFrameHeader(id: number, bodyLength: number, limits: ResolvedLimits): void {
    const name = NAMES[id];
    if (name === undefined) throw new ProtocolError('UNKNOWN_MESSAGE', `unknown message id ${id}`);
    const fixed = FIXED[id];
    if (fixed !== undefined && bodyLength !== fixed) {
      throw new ProtocolError('BAD_MESSAGE_LENGTH', `${name} message with a ${bodyLength}-byte body (must be ${fixed})`);
    }
    if (id >= MessageId.suggest && id <= MessageId.allowedFast && !this.fastValue) {
      throw new ProtocolError('FAST_NOT_NEGOTIATED', `${name} message without the fast extension`);
    }
    switch (id) {
      case MessageId.bitfield: {
        const want = (limits.numPieces + 7) >>> 3;
        if (bodyLength !== want && !limits.piecesUnknown) {
          throw new ProtocolError('BAD_BITFIELD', `bitfield of ${bodyLength} bytes for ${limits.numPieces} pieces (must be ${want})`);
        }
        if (bodyLength > limits.maxExtendedLength && limits.piecesUnknown) {
          throw new ProtocolError('BAD_BITFIELD', `bitfield of ${bodyLength} bytes (at most ${limits.maxExtendedLength} while the piece count is unknown)`);
        }
        break;
      }
      case MessageId.piece:
        if (bodyLength <= 8) throw new ProtocolError('BAD_MESSAGE_LENGTH', `piece message with a ${bodyLength}-byte body (must be > 8)`);
        // Nobody requests more than maxRequestLength: a longer block answers no request.
        if (bodyLength - 8 > limits.maxRequestLength) {
          throw new ProtocolError('BAD_MESSAGE_LENGTH', `piece message with a ${bodyLength - 8}-byte block (at most ${limits.maxRequestLength})`);
        }
        break;
      case MessageId.extended:
        if (!this.extendedValue) throw new ProtocolError('EXTENSION_NOT_NEGOTIATED', 'extended message without the extension protocol');
        if (bodyLength < 1) throw new ProtocolError('BAD_MESSAGE_LENGTH', 'extended message without an extended id');
        if (bodyLength > limits.maxExtendedLength) {
          throw new ProtocolError('BAD_MESSAGE_LENGTH', `extended message of ${bodyLength} bytes (at most ${limits.maxExtendedLength})`);
        }
        break;
    }
  }

  private checkIndex(index: number, name: string): void {
    const { numPieces: n, piecesUnknown } = this.limits as ResolvedLimits;
    if (index >= n && !piecesUnknown) throw new ProtocolError('INDEX_OUT_OF_RANGE', `${name} for piece ${index}, but there are ${n} pieces`);
  }

  private checkBlock(index: number, begin: number, length: number, name: string): void {
    this.checkIndex(index, name);
    const l = this.limits as ResolvedLimits;
    if (l.pieceLength === undefined) return;
    const size = index === l.numPieces - 1 ? (l.lastPieceLength as number) : l.pieceLength;
    if (begin + length > size) {
      throw new ProtocolError('BLOCK_OUT_OF_RANGE', `${name} ${index}:${begin}+${length} runs past the piece end ${size}`);
    }
  }

  /**
   * BEP 3 wants the bitfield first, but clients restate their pieces later: aria2 1.36 sends a
   * whole bitfield instead of haves whenever that is shorter (so after have-none, haves, pieces,
   * and many times), and libtorrent accepts a later bitfield as a replacement. What stays a
   * violation is taking back a piece already announced.
   */
  private checkRestatement(name: string, pieces: Bitfield | 'all' | 'none'): void {
    const l = this.limits as ResolvedLimits;
    let withdrawn = false;
    if (pieces === 'all' || l.piecesUnknown) withdrawn = false; // (a bitfield's size is no piece count then)
    else if (this.peerAll) withdrawn = pieces === 'none' || !pieces.isComplete();
    else if (this.peerPieces) withdrawn = pieces === 'none' ? !this.peerPieces.isEmpty() : this.peerPieces.hasAnyNotIn(pieces);
    if (withdrawn) throw new ProtocolError('PIECES_WITHDRAWN', `${name} without pieces the peer had announced`);
    if (pieces === 'all') {
      this.peerAll = true;
      this.peerPieces = undefined;
    } else if (pieces !== 'none' && !this.peerAll && !l.piecesUnknown) this.peerPieces = pieces.clone();
  }

  /** A have: remembered, so that a later bitfield cannot drop it. */
  private rememberHave(index: number): void {
    const l = this.limits as ResolvedLimits;
    if (this.peerAll || l.piecesUnknown) return;
    (this.peerPieces ??= new Bitfield(l.numPieces)).set(index);
  }

  private dispatch(f: Uint8Array): void {
    const id = f[0] as number;
    const h = this.handler;
    switch (id) {
      case MessageId.choke:
        return h.onMessage(CHOKE);
      case MessageId.unchoke:
        return h.onMessage(UNCHOKE);
      case MessageId.interested:
        return h.onMessage(INTERESTED);
      case MessageId.notInterested:
        return h.onMessage(NOT_INTERESTED);
      case MessageId.have: {
        const index = u32(f, 1);
        this.checkIndex(index, 'have');
        this.rememberHave(index);
        return h.onMessage({ type: 'have', index });
      }
      case MessageId.bitfield: {
        let bitfield: Bitfield;
        try {
          const l = this.limits as ResolvedLimits;
          bitfield = Bitfield.fromBytes(f.subarray(1), l.piecesUnknown ? (f.length - 1) * 8 : l.numPieces);
        } catch (err) {
          throw new ProtocolError('BAD_BITFIELD', `bad bitfield: ${(err as Error).message}`);
        }
        this.checkRestatement('bitfield', bitfield);
        return h.onMessage({ type: 'bitfield', bitfield });
      }
      case MessageId.request:
      case MessageId.cancel:
      case MessageId.reject: {
        const index = u32(f, 1);
        const begin = u32(f, 5);
        const length = u32(f, 9);
        const name = id === MessageId.request ? 'request' : id === MessageId.cancel ? 'cancel' : 'reject';
        if (id === MessageId.request) {
          const max = (this.limits as ResolvedLimits).maxRequestLength;
          try {
            if (length === 0 || length > max) {
              this.checkIndex(index, name);
              throw new ProtocolError('BAD_REQUEST_LENGTH', `request of ${length} bytes (must be 1..${max})`);
            }
            this.checkBlock(index, begin, length, name);
          } catch (err) {
            // BEP 6: a fast peer's bad request is answered with a reject, not a closed connection.
            if (!this.fastValue || !(err instanceof ProtocolError)) throw err;
            return h.onMessage({ type: 'invalid-request', index, begin, length, reason: err.message });
          }
        }
        // A reject echoes the request it answers, which may have been a bad one (answered with a
        // reject just above): it is checked against our requests in flight, not against the torrent.
        if (id !== MessageId.reject) this.checkBlock(index, begin, length, name);
        const type = id === MessageId.request ? 'request' : id === MessageId.cancel ? 'cancel' : 'reject';
        return h.onMessage({ type, index, begin, length });
      }
      case MessageId.piece: {
        const index = u32(f, 1);
        const begin = u32(f, 5);
        const block = f.subarray(9);
        this.checkBlock(index, begin, block.length, 'piece');
        return h.onMessage({ type: 'piece', index, begin, block });
      }
      case MessageId.port:
        return h.onMessage({ type: 'port', port: ((f[1] as number) << 8) | (f[2] as number) });
      case MessageId.suggest: {
        const index = u32(f, 1);
        this.checkIndex(index, 'suggest');
        return h.onMessage({ type: 'suggest', index });
      }
      case MessageId.allowedFast: {
        const index = u32(f, 1);
        this.checkIndex(index, 'allowed fast');
        return h.onMessage({ type: 'allowed-fast', index });
      }
      case MessageId.haveAll:
        this.checkRestatement('have all', 'all');
        return h.onMessage(HAVE_ALL);
      case MessageId.haveNone:
        this.checkRestatement('have none', 'none');
        return h.onMessage(HAVE_NONE);
      case MessageId.extended: {
        const extId = f[1] as number;
        const payload = this.transient ? Buffer.from(f.subarray(2)) : f.subarray(2); // Buffer.from copies
        if (extId === 0) {
          const handshake = decodeExtensionHandshake(payload);
          this.gotExtHandshake = true;
          return h.onMessage({ type: 'extended-handshake', handshake });
        }
        if (!this.gotExtHandshake) {
          throw new ProtocolError('MESSAGE_BEFORE_HANDSHAKE', `extended message ${extId} before the extension handshake`);
        }
        return h.onMessage({ type: 'extended', id: extId, payload });
      }
      default:
        // checkFrameHeader has already refused unknown ids.
        throw new ProtocolError('UNKNOWN_MESSAGE', `unknown message id ${id}`);
    }
  }
}
