import { BLOCK_SIZE, Bitfield } from '@mainline/bitfield';
import { PiecePickerError } from './errors.js';
import { AvailabilityOrder } from './order.js';

/** User priority of a piece. `skip` pieces are never requested. */
export type PiecePriority = 'skip' | 'normal' | 'high';

/** One block to request: `length` bytes at `begin` within `piece`. */
export interface BlockRequest {
  readonly piece: number;
  readonly begin: number;
  readonly length: number;
}

/** A block request that was sent to `peer`. */
export interface PeerBlockRequest<P> extends BlockRequest {
  readonly peer: P;
}

/** What `blockReceived` tells the caller. */
export interface BlockReceivedResult<P> {
  /** False: drop the data (the block was already received, or the piece is not being downloaded). */
  readonly accepted: boolean;
  /** Every block of the piece is now received: hash it, then call pieceVerified or pieceFailed. */
  readonly pieceComplete: boolean;
  /** Endgame duplicates: send `cancel` for each to its peer (they no longer count as outstanding). */
  readonly duplicateRequestsToCancel: PeerBlockRequest<P>[];
}

export interface PiecePickerOptions {
  pieceCount: number;
  pieceLength: number;
  /** Total byte length; must satisfy pieceLength·(pieceCount−1) < totalLength ≤ pieceLength·pieceCount. */
  totalLength: number;
  /** Pieces we already have (verified); not kept, only read. */
  have?: Bitfield;
  /** Request size (default BLOCK_SIZE, 16 KiB, mainline's download_slice_size). */
  blockSize?: number;
  /** Below this many pieces had, new pieces are chosen at random (default 4, as mainline). */
  rarestFirstCutoff?: number;
  /** Uniform random number in [0, 1); inject a seeded one for determinism (default Math.random). */
  random?: () => number;
}

export interface PickOptions {
  /** When nothing is free, ask for blocks others already requested (default true). */
  endgame?: boolean;
  /**
   * Pick only from these pieces, in their order (e.g. a peer's BEP 6 allowed-fast pieces while
   * it chokes us); still only pieces the peer has and we want.
   */
  only?: Iterable<number>;
}

/** Suggestions (BEP 6 suggest piece) kept per peer; older ones are forgotten first. */
export const MAX_SUGGESTIONS_PER_PEER = 16;

const BLOCK_FREE = 0;
const BLOCK_REQUESTED = 1;
const BLOCK_RECEIVED = 2;

const STATE_IDLE = 0; // lacking, not started, skip priority
const STATE_FRESH = 1; // lacking, not started, wanted: in orders[priority]
const STATE_STARTED = 2; // has a Download record
const STATE_HAVE = 3;

const PRIO_SKIP = 0;
const PRIO_NORMAL = 1;
const PRIO_HIGH = 2;
const PRIORITY_CODE: Record<PiecePriority, number> = { skip: PRIO_SKIP, normal: PRIO_NORMAL, high: PRIO_HIGH };
const PRIORITY_NAME: PiecePriority[] = ['skip', 'normal', 'high'];

/** More set bits than this in one bitfield change → bulk mode (bump counters, rebuild lazily). */
const BULK_THRESHOLD = 64;
/** Random probes tried while picking the first pieces at random, before falling back to rarest. */
const RANDOM_PROBES = 32;

interface PeerState {
  /** null while the peer has nothing, and for seeds. */
  bitfield: Bitfield | null;
  seed: boolean;
  /** Outstanding requests, keyed piece·maxBlocks + block. */
  requests: Set<number>;
  /** Pieces it suggested, oldest first (at most MAX_SUGGESTIONS_PER_PEER). */
  suggested: number[];
}

/** Block bookkeeping of a started piece. */
class Download<P> {
  readonly states: Uint8Array;
  readonly requesters: (P[] | undefined)[];
  free: number;
  received = 0;
  /** No free block below this index. */
  firstFree = 0;
  /** Index in the picker's list of started pieces with free blocks, -1 if not there. */
  partialIndex = -1;
  constructor(
    readonly piece: number,
    readonly blockCount: number,
  ) {
    this.states = new Uint8Array(blockCount);
    this.requesters = new Array<P[] | undefined>(blockCount);
    this.free = blockCount;
  }
}

/**
 * Decides which blocks to request from which peer (mainline's PiecePicker plus the block
 * bookkeeping of StorageWrapper/Downloader). Peers are identified by any key `P` usable in a
 * Map (a string id, a connection object...).
 *
 * Order of picking for a peer: (1) pieces already started, strictly first (high priority first,
 * then rarest, or lowest index in sequential mode); (2) new pieces, high priority before normal:
 * at random while fewer than `rarestFirstCutoff` pieces are had, else rarest first (or lowest
 * index in sequential mode); (3) endgame duplicates once no wanted block is free.
 *
 * Costs: peerHave is O(1); peerBitfield/peerLeft are O(set bits) counter bumps (large ones defer
 * the re-sort to the next pick: one O(pieces) counting sort, amortised); seeds are O(1) to add and
 * remove; starting or finishing a piece is O(distinct availability values).
 */
export class PiecePicker<P = string> {
  readonly pieceCount: number;
  readonly pieceLength: number;
  readonly totalLength: number;
  readonly blockSize: number;
  readonly rarestFirstCutoff: number;

  private readonly random: () => number;
  private readonly maxBlocks: number;
  /** Non-seed peers having each piece. */
  private readonly counts: Uint32Array;
  private readonly pos: Int32Array;
  private readonly state: Uint8Array;
  private readonly prio: Uint8Array;
  /** orders[PRIO_NORMAL], orders[PRIO_HIGH]: fresh wanted pieces by availability. */
  private readonly orders: AvailabilityOrder[];
  /** Lowest index that may be fresh in each priority (sequential mode). */
  private readonly seqCursor = [0, 0, 0];
  private readonly have: Bitfield;
  /** Pieces we have or skip: a peer is interesting iff it has a piece outside this. */
  private readonly done: Bitfield;
  private readonly downloads = new Map<number, Download<P>>();
  /** Started wanted pieces that still have free blocks. */
  private readonly partial: Download<P>[] = [];
  private readonly peers = new Map<P, PeerState>();
  private seeds = 0;
  private wantedLeft = 0;
  private sequential = false;

  constructor(options: PiecePickerOptions) {
    const { pieceCount, pieceLength, totalLength } = options;
    const blockSize = options.blockSize ?? BLOCK_SIZE;
    const cutoff = options.rarestFirstCutoff ?? 4;
    const int = (v: unknown, min: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min;
    if (!int(pieceCount, 0) || pieceCount > 2 ** 31) bad('pieceCount must be an integer in [0, 2^31]');
    if (!int(pieceLength, 1)) bad('pieceLength must be a positive integer');
    if (!int(totalLength, 0) || !Number.isSafeInteger(totalLength)) bad('totalLength must be a non-negative safe integer');
    if (pieceCount === 0 ? totalLength !== 0 : !(pieceLength * (pieceCount - 1) < totalLength && totalLength <= pieceLength * pieceCount)) {
      bad(`totalLength ${totalLength} does not fit ${pieceCount} pieces of ${pieceLength} bytes`);
    }
    if (!int(blockSize, 1)) bad('blockSize must be a positive integer');
    if (!int(cutoff, 0)) bad('rarestFirstCutoff must be a non-negative integer');
    if (options.have !== undefined && options.have.length !== pieceCount) {
      throw new PiecePickerError('BAD_BITFIELD', `have has ${options.have.length} bits, expected ${pieceCount}`);
    }
    this.pieceCount = pieceCount;
    this.pieceLength = pieceLength;
    this.totalLength = totalLength;
    this.blockSize = blockSize;
    this.rarestFirstCutoff = cutoff;
    this.random = options.random ?? Math.random;
    this.maxBlocks = Math.ceil(pieceLength / blockSize);
    this.counts = new Uint32Array(pieceCount);
    this.pos = new Int32Array(pieceCount).fill(-1);
    this.state = new Uint8Array(pieceCount);
    this.prio = new Uint8Array(pieceCount).fill(PRIO_NORMAL);
    this.orders = [PRIO_SKIP, PRIO_NORMAL, PRIO_HIGH].map(
      (p) => new AvailabilityOrder(p === PRIO_SKIP ? 0 : pieceCount, this.counts, this.pos, this.random),
    );
    this.have = options.have ? options.have.clone() : new Bitfield(pieceCount);
    this.done = this.have.clone();
    const normal = this.orders[PRIO_NORMAL]!;
    normal.markDirty(); // bulk insert, sorted on first pick
    for (const p of this.have.unsetIndices()) {
      this.state[p] = STATE_FRESH;
      normal.insert(p);
    }
    for (const p of this.have.setIndices()) this.state[p] = STATE_HAVE;
    this.wantedLeft = pieceCount - this.have.count();
  }

  // ---------------------------------------------------------------- geometry

  /** Byte length of `piece` (the last one may be short). */
  pieceSize(piece: number): number {
    this.checkPiece(piece);
    return piece === this.pieceCount - 1 ? this.totalLength - this.pieceLength * piece : this.pieceLength;
  }

  /** Number of blocks in `piece`. */
  blockCount(piece: number): number {
    return Math.ceil(this.pieceSize(piece) / this.blockSize);
  }

  /** Byte length of the block at `begin` in `piece` (the last one may be short). */
  blockLength(piece: number, begin: number): number {
    const size = this.pieceSize(piece);
    if (!Number.isInteger(begin) || begin < 0 || begin >= size || begin % this.blockSize !== 0) {
      throw new PiecePickerError('BAD_BLOCK', `no block starts at ${String(begin)} in piece ${piece} (${size} bytes)`);
    }
    return Math.min(this.blockSize, size - begin);
  }

  // ---------------------------------------------------------------- state queries

  /** Pieces we have (verified). */
  get haveCount(): number {
    return this.have.count();
  }

  hasPiece(piece: number): boolean {
    this.checkPiece(piece);
    return this.have.get(piece);
  }

  /** A copy of the pieces we have. */
  haveBitfield(): Bitfield {
    return this.have.clone();
  }

  /** Every piece had. */
  get isComplete(): boolean {
    return this.have.isComplete();
  }

  /** Every wanted (non-skip) piece had. */
  get isWantedComplete(): boolean {
    return this.wantedLeft === 0;
  }

  /** Connected peers that have everything. */
  get seedCount(): number {
    return this.seeds;
  }

  get peerCount(): number {
    return this.peers.size;
  }

  /** Peers that have `piece` (seeds included). */
  availability(piece: number): number {
    this.checkPiece(piece);
    return this.counts[piece]! + this.seeds;
  }

  priority(piece: number): PiecePriority {
    this.checkPiece(piece);
    return PRIORITY_NAME[this.prio[piece]!]!;
  }

  get isSequential(): boolean {
    return this.sequential;
  }

  /**
   * Endgame: some wanted piece is missing but every wanted block is requested or received, so
   * pickBlocks hands out duplicates of outstanding requests.
   */
  get isEndgame(): boolean {
    return this.wantedLeft > 0 && this.partial.length === 0 && this.orders[PRIO_NORMAL]!.size === 0 && this.orders[PRIO_HIGH]!.size === 0;
  }

  /** Whether `peer` has a wanted piece we lack (mainline's "interested"). */
  isInteresting(peer: P): boolean {
    const state = this.peers.get(peer);
    if (state === undefined) return false;
    if (state.seed) return !this.done.isComplete();
    return state.bitfield !== null && state.bitfield.hasAnyNotIn(this.done);
  }

  /** Whether `peer` is known to have `piece`. */
  peerHasPiece(peer: P, piece: number): boolean {
    this.checkPiece(piece);
    const state = this.peers.get(peer);
    return state !== undefined && (state.seed || (state.bitfield !== null && state.bitfield.get(piece)));
  }

  isSeed(peer: P): boolean {
    return this.peers.get(peer)?.seed ?? false;
  }

  /** Requests outstanding to `peer`, by piece then offset. */
  outstandingRequests(peer: P): BlockRequest[] {
    const state = this.peers.get(peer);
    if (state === undefined) return [];
    return [...state.requests].sort((a, b) => a - b).map((key) => this.requestOf(key));
  }

  // ---------------------------------------------------------------- peers

  /** Registers a peer that has nothing yet (optional: the other peer calls register too). */
  peerJoined(peer: P): void {
    this.peerState(peer);
  }

  /**
   * The peer's full bitfield (it replaces anything known before). The picker keeps `bitfield`
   * itself, without copying, and updates it on later peerHave calls: do not change it elsewhere.
   * A complete bitfield makes the peer a seed (counted once, no per-piece work).
   */
  peerBitfield(peer: P, bitfield: Bitfield): void {
    if (!(bitfield instanceof Bitfield) || bitfield.length !== this.pieceCount) {
      throw new PiecePickerError('BAD_BITFIELD', `expected a Bitfield of ${this.pieceCount} bits`);
    }
    const state = this.peerState(peer);
    this.forgetPieces(state);
    if (bitfield.isComplete() && this.pieceCount > 0) {
      state.seed = true;
      this.seeds++;
      return;
    }
    state.bitfield = bitfield;
    this.addBits(bitfield, 1);
  }

  /** The peer has every piece (a seed, or BEP 6 have-all). O(1). */
  peerHaveAll(peer: P): void {
    const state = this.peerState(peer);
    if (state.seed) return;
    this.forgetPieces(state);
    state.seed = true;
    this.seeds++;
  }

  /** The peer announced `piece`. O(1). Returns false if it was already known. */
  peerHave(peer: P, piece: number): boolean {
    this.checkPiece(piece);
    const state = this.peerState(peer);
    if (state.seed) return false;
    if (state.bitfield === null) state.bitfield = new Bitfield(this.pieceCount);
    const bitfield = state.bitfield;
    if (!bitfield.set(piece)) return false;
    this.counts[piece]!++;
    if (this.state[piece] === STATE_FRESH) this.orders[this.prio[piece]!]!.incremented(piece);
    if (bitfield.isComplete()) {
      // It became a seed: trade its per-piece counts for one seed count (paid for by its HAVEs).
      this.addBits(bitfield, -1);
      state.bitfield = null;
      state.seed = true;
      this.seeds++;
    }
    return true;
  }

  /**
   * The peer is gone (disconnect). Its outstanding requests are released and returned (blocks
   * nobody else requested become free again); its pieces stop counting toward availability.
   */
  peerLeft(peer: P): BlockRequest[] {
    const state = this.peers.get(peer);
    if (state === undefined) return [];
    const released = this.releaseAll(peer, state);
    this.forgetPieces(state);
    this.peers.delete(peer);
    return released;
  }

  /**
   * The peer suggested `piece` (BEP 6): among new pieces as good as each other (same priority and
   * availability; any while picking at random), a suggested one is started first for that peer.
   * Advisory, ignored in sequential mode; at most MAX_SUGGESTIONS_PER_PEER kept per peer.
   */
  peerSuggested(peer: P, piece: number): void {
    this.checkPiece(piece);
    const state = this.peerState(peer);
    if (this.state[piece] === STATE_HAVE || state.suggested.includes(piece)) return;
    if (state.suggested.length >= MAX_SUGGESTIONS_PER_PEER) state.suggested.shift();
    state.suggested.push(piece);
  }

  /** The pieces `peer` suggested that are still worth it (not had yet), oldest first. */
  suggestions(peer: P): number[] {
    const state = this.peers.get(peer);
    return state === undefined ? [] : state.suggested.filter((p) => this.state[p] !== STATE_HAVE);
  }

  /** The peer choked us: its outstanding requests are released and returned. */
  peerChoked(peer: P): BlockRequest[] {
    const state = this.peers.get(peer);
    return state === undefined ? [] : this.releaseAll(peer, state);
  }

  // ---------------------------------------------------------------- priorities and modes

  /**
   * Sets the priority of one piece or of the pieces in [start, end). Started pieces keep their
   * outstanding requests; skipped ones get no new requests.
   */
  setPriority(target: number | { start: number; end: number }, priority: PiecePriority): void {
    const code = PRIORITY_CODE[priority];
    if (code === undefined || !Object.hasOwn(PRIORITY_CODE, priority)) {
      throw new PiecePickerError('BAD_PRIORITY', `priority must be 'skip', 'normal' or 'high', got ${String(priority)}`);
    }
    let start: number;
    let end: number;
    if (typeof target === 'number') {
      this.checkPiece(target);
      start = target;
      end = target + 1;
    } else {
      start = target.start;
      end = target.end;
      const ok = Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= this.pieceCount;
      if (!ok) throw new PiecePickerError('BAD_PIECE', `bad piece range [${String(start)}, ${String(end)})`);
    }
    if (end - start > BULK_THRESHOLD) this.markDirty();
    for (let p = start; p < end; p++) this.setOnePriority(p, code);
  }

  /** Sequential mode (streaming): lowest index first instead of rarest first. */
  setSequential(on: boolean): void {
    this.sequential = on;
    this.seqCursor.fill(0);
  }

  // ---------------------------------------------------------------- picking

  /**
   * Up to `count` blocks to request from `peer`, now recorded as requested by it. Outside
   * endgame a block is never handed out twice; in endgame the result holds blocks other peers
   * were already asked for (never ones this peer was asked for). A peer never heard of has
   * nothing, so gets [].
   */
  pickBlocks(peer: P, count: number, options: PickOptions = {}): BlockRequest[] {
    const out: BlockRequest[] = [];
    const state = this.peers.get(peer);
    if (state === undefined || count <= 0 || (!state.seed && state.bitfield === null)) return out;
    if (options.only !== undefined) {
      this.pickOnly(peer, state, count, options.only, options.endgame !== false, out);
      return out;
    }
    // 1. Finish started pieces first.
    while (out.length < count) {
      const download = this.bestStarted(state);
      if (download === undefined) break;
      this.takeBlocks(download, peer, state, count, out);
    }
    // 2. Start new pieces (one the peer suggested, among equally good ones).
    while (out.length < count) {
      const next = this.nextFresh(state);
      if (next < 0) break;
      const piece = this.preferSuggested(state, next);
      this.takeBlocks(this.start(piece), peer, state, count, out);
    }
    // 3. Endgame duplicates.
    if (out.length < count && options.endgame !== false && this.isEndgame) this.endgamePick(peer, state, count, out);
    return out;
  }

  /**
   * A block arrived from `peer`. Accepted if not received before (even if another peer was
   * asked for it); the other peers that were asked for it are returned for cancelling.
   */
  blockReceived(piece: number, begin: number, peer: P): BlockReceivedResult<P> {
    const b = this.blockIndex(piece, begin);
    const download = this.downloads.get(piece);
    const none: BlockReceivedResult<P> = { accepted: false, pieceComplete: false, duplicateRequestsToCancel: [] };
    if (download === undefined) return none;
    const key = piece * this.maxBlocks + b;
    const blockState = download.states[b]!;
    const requesters = download.requesters[b];
    if (blockState === BLOCK_RECEIVED) return none;
    const cancels: PeerBlockRequest<P>[] = [];
    if (requesters !== undefined) {
      const length = this.blockLength(piece, begin);
      for (const other of requesters) {
        this.peers.get(other)?.requests.delete(key);
        if (other !== peer) cancels.push({ peer: other, piece, begin, length });
      }
      download.requesters[b] = undefined;
    }
    if (blockState === BLOCK_FREE) {
      download.free--;
      if (download.free === 0) this.removePartial(download);
    }
    download.states[b] = BLOCK_RECEIVED;
    download.received++;
    return { accepted: true, pieceComplete: download.received === download.blockCount, duplicateRequestsToCancel: cancels };
  }

  /**
   * A request to `peer` will not be answered (choke, reject, timeout). Returns true if it was
   * outstanding. The block becomes free again unless another peer was also asked (endgame).
   */
  requestLost(piece: number, begin: number, peer: P): boolean {
    const b = this.blockIndex(piece, begin);
    const state = this.peers.get(peer);
    const key = piece * this.maxBlocks + b;
    if (state === undefined || !state.requests.delete(key)) return false;
    const download = this.downloads.get(piece);
    if (download !== undefined) this.dropRequester(download, b, peer);
    return true;
  }

  /** The piece hashed correctly: it is ours now. */
  pieceVerified(piece: number): void {
    this.checkPiece(piece);
    const st = this.state[piece];
    if (st === STATE_HAVE) return;
    if (st === STATE_STARTED) this.dropDownload(piece);
    else if (st === STATE_FRESH) this.removeFresh(piece);
    this.state[piece] = STATE_HAVE;
    this.have.set(piece);
    if (this.prio[piece] !== PRIO_SKIP) {
      this.done.set(piece);
      this.wantedLeft--;
    }
  }

  /**
   * The piece failed its hash check: all its blocks are free again and it goes back among new
   * pieces at the end of its availability bucket (mainline's bump). Outstanding requests for it
   * are dropped and returned so the caller can cancel them.
   */
  pieceFailed(piece: number): PeerBlockRequest<P>[] {
    this.checkPiece(piece);
    if (this.state[piece] !== STATE_STARTED) return [];
    const dropped = this.dropDownload(piece);
    this.makeFreshOrIdle(piece, true);
    return dropped;
  }

  /** For tests: throws if internal structures disagree. O(pieces). */
  checkInvariants(): void {
    this.orders[PRIO_NORMAL]!.checkInvariants();
    this.orders[PRIO_HIGH]!.checkInvariants();
    const counts = new Uint32Array(this.pieceCount);
    let seeds = 0;
    for (const state of this.peers.values()) {
      if (state.seed) seeds++;
      else if (state.bitfield) for (const p of state.bitfield.setIndices()) counts[p]!++;
    }
    if (seeds !== this.seeds) throw new Error(`seed count ${this.seeds}, expected ${seeds}`);
    for (let p = 0; p < this.pieceCount; p++) {
      if (counts[p] !== this.counts[p]) throw new Error(`count of ${p} is ${this.counts[p]}, expected ${counts[p]}`);
      const fresh = this.state[p] === STATE_FRESH;
      const inOrder = this.pos[p]! >= 0 && this.orders[this.prio[p]!]!.order[this.pos[p]!] === p;
      if (fresh !== inOrder) throw new Error(`piece ${p} state ${this.state[p]} but in-order ${inOrder}`);
      if ((this.state[p] === STATE_STARTED) !== this.downloads.has(p)) throw new Error(`piece ${p} download mismatch`);
    }
    for (const d of this.downloads.values()) {
      const wanted = this.prio[d.piece] !== PRIO_SKIP;
      if ((d.partialIndex >= 0) !== (wanted && d.free > 0)) throw new Error(`piece ${d.piece} partial list mismatch`);
    }
  }

  // ---------------------------------------------------------------- internals

  private checkPiece(piece: number): void {
    if (!Number.isInteger(piece) || piece < 0 || piece >= this.pieceCount) {
      throw new PiecePickerError('BAD_PIECE', `piece ${String(piece)} is not in [0, ${this.pieceCount})`);
    }
  }

  private blockIndex(piece: number, begin: number): number {
    this.blockLength(piece, begin);
    return begin / this.blockSize;
  }

  private requestOf(key: number): BlockRequest {
    const piece = Math.floor(key / this.maxBlocks);
    const begin = (key % this.maxBlocks) * this.blockSize;
    return { piece, begin, length: this.blockLength(piece, begin) };
  }

  private peerState(peer: P): PeerState {
    let state = this.peers.get(peer);
    if (state === undefined) {
      state = { bitfield: null, seed: false, requests: new Set(), suggested: [] };
      this.peers.set(peer, state);
    }
    return state;
  }

  private randomInt(n: number): number {
    const r = Math.floor(this.random() * n);
    return r < n ? r : n - 1;
  }

  private markDirty(): void {
    this.orders[PRIO_NORMAL]!.markDirty();
    this.orders[PRIO_HIGH]!.markDirty();
  }

  /** Removes what the peer's pieces contributed to availability. */
  private forgetPieces(state: PeerState): void {
    if (state.seed) {
      state.seed = false;
      this.seeds--;
    } else if (state.bitfield !== null) {
      this.addBits(state.bitfield, -1);
    }
    state.bitfield = null;
  }

  private addBits(bitfield: Bitfield, delta: 1 | -1): void {
    const counts = this.counts;
    if (bitfield.count() > BULK_THRESHOLD) {
      this.markDirty();
      // Branch-free per byte: about twice as fast as walking set bits on ~50% fields. The
      // spare bits of the last byte are zero, so indices past the end only ever get += 0.
      const bytes = bitfield.toBytes();
      const whole = bytes.length - (this.pieceCount & 7 ? 1 : 0);
      for (let i = 0; i < whole; i++) {
        const b = bytes[i]!;
        if (b === 0) continue;
        const o = i * 8;
        counts[o]! += delta * (b >>> 7);
        counts[o + 1]! += delta * ((b >>> 6) & 1);
        counts[o + 2]! += delta * ((b >>> 5) & 1);
        counts[o + 3]! += delta * ((b >>> 4) & 1);
        counts[o + 4]! += delta * ((b >>> 3) & 1);
        counts[o + 5]! += delta * ((b >>> 2) & 1);
        counts[o + 6]! += delta * ((b >>> 1) & 1);
        counts[o + 7]! += delta * (b & 1);
      }
      for (let p = whole * 8; p < this.pieceCount; p++) if (bitfield.get(p)) counts[p]! += delta;
      return;
    }
    for (const p of bitfield.setIndices()) {
      counts[p]! += delta;
      if (this.state[p] === STATE_FRESH) {
        const order = this.orders[this.prio[p]!]!;
        if (delta > 0) order.incremented(p);
        else order.decremented(p);
      }
    }
  }

  private setOnePriority(p: number, code: number): void {
    const old = this.prio[p]!;
    if (old === code) return;
    const st = this.state[p];
    if (st === STATE_FRESH) this.removeFresh(p);
    this.prio[p] = code;
    if (st !== STATE_HAVE) {
      if (old === PRIO_SKIP) {
        this.wantedLeft++;
        this.done.clear(p);
      } else if (code === PRIO_SKIP) {
        this.wantedLeft--;
        this.done.set(p);
      }
    }
    if (st === STATE_FRESH || st === STATE_IDLE) {
      this.makeFreshOrIdle(p, false);
    } else if (st === STATE_STARTED) {
      const download = this.downloads.get(p)!;
      if (code === PRIO_SKIP) this.removePartial(download);
      else if (download.free > 0) this.addPartial(download);
    }
  }

  private makeFreshOrIdle(p: number, bump: boolean): void {
    const code = this.prio[p]!;
    if (code === PRIO_SKIP) {
      this.state[p] = STATE_IDLE;
      return;
    }
    this.state[p] = STATE_FRESH;
    this.orders[code]!.insert(p, bump);
    if (p < this.seqCursor[code]!) this.seqCursor[code] = p;
  }

  private removeFresh(p: number): void {
    this.orders[this.prio[p]!]!.remove(p);
    this.state[p] = STATE_IDLE;
  }

  private addPartial(download: Download<P>): void {
    if (download.partialIndex >= 0) return;
    download.partialIndex = this.partial.length;
    this.partial.push(download);
  }

  private removePartial(download: Download<P>): void {
    const i = download.partialIndex;
    if (i < 0) return;
    const last = this.partial.pop()!;
    if (last !== download) {
      this.partial[i] = last;
      last.partialIndex = i;
    }
    download.partialIndex = -1;
  }

  /** Turns a fresh piece into a started one. */
  private start(piece: number): Download<P> {
    this.removeFresh(piece);
    const download = new Download<P>(piece, this.blockCount(piece));
    this.downloads.set(piece, download);
    this.state[piece] = STATE_STARTED;
    this.addPartial(download);
    return download;
  }

  /** Forgets a started piece's blocks; returns the requests that were still outstanding. */
  private dropDownload(piece: number): PeerBlockRequest<P>[] {
    const download = this.downloads.get(piece)!;
    const dropped: PeerBlockRequest<P>[] = [];
    for (let b = 0; b < download.blockCount; b++) {
      const requesters = download.requesters[b];
      if (requesters === undefined) continue;
      const begin = b * this.blockSize;
      const length = this.blockLength(piece, begin);
      for (const peer of requesters) {
        this.peers.get(peer)?.requests.delete(piece * this.maxBlocks + b);
        dropped.push({ peer, piece, begin, length });
      }
    }
    this.removePartial(download);
    this.downloads.delete(piece);
    this.state[piece] = STATE_IDLE;
    return dropped;
  }

  private dropRequester(download: Download<P>, b: number, peer: P): void {
    const requesters = download.requesters[b];
    if (requesters === undefined) return;
    const i = requesters.indexOf(peer);
    if (i < 0) return;
    requesters.splice(i, 1);
    if (requesters.length > 0) return;
    download.requesters[b] = undefined;
    if (download.states[b] !== BLOCK_REQUESTED) return;
    download.states[b] = BLOCK_FREE;
    download.free++;
    if (b < download.firstFree) download.firstFree = b;
    if (this.prio[download.piece] !== PRIO_SKIP) this.addPartial(download);
  }

  private releaseAll(peer: P, state: PeerState): BlockRequest[] {
    const released: BlockRequest[] = [];
    for (const key of [...state.requests].sort((a, b) => a - b)) {
      const request = this.requestOf(key);
      released.push(request);
      state.requests.delete(key);
      const download = this.downloads.get(request.piece);
      if (download !== undefined) this.dropRequester(download, key % this.maxBlocks, peer);
    }
    return released;
  }

  /** Hands out the lowest free blocks of `download` to `peer`. */
  private takeBlocks(download: Download<P>, peer: P, state: PeerState, count: number, out: BlockRequest[]): void {
    const { piece, states } = download;
    let b = download.firstFree;
    for (; b < download.blockCount && out.length < count; b++) {
      if (states[b] !== BLOCK_FREE) continue;
      states[b] = BLOCK_REQUESTED;
      download.requesters[b] = [peer];
      download.free--;
      state.requests.add(piece * this.maxBlocks + b);
      const begin = b * this.blockSize;
      out.push({ piece, begin, length: this.blockLength(piece, begin) });
    }
    download.firstFree = b;
    if (download.free === 0) this.removePartial(download);
  }

  /** The started piece with free blocks the peer should work on, or undefined. */
  private bestStarted(state: PeerState): Download<P> | undefined {
    const partial = this.partial;
    const bitfield = state.bitfield;
    let best: Download<P> | undefined;
    let bestPrio = -1;
    let bestKey = Infinity;
    let ties = 0;
    for (let i = 0; i < partial.length; i++) {
      const download = partial[i]!;
      const p = download.piece;
      if (!state.seed && !bitfield!.get(p)) continue;
      const prio = this.prio[p]!;
      const key = this.sequential ? p : this.counts[p]!;
      if (prio > bestPrio || (prio === bestPrio && key < bestKey)) {
        best = download;
        bestPrio = prio;
        bestKey = key;
        ties = 1;
      } else if (prio === bestPrio && key === bestKey && this.randomInt(++ties) === 0) {
        best = download;
      }
    }
    return best;
  }

  /** `candidate` (the picker's choice of new piece), or a piece the peer suggested that is as good. */
  private preferSuggested(state: PeerState, candidate: number): number {
    const suggested = state.suggested;
    if (suggested.length === 0 || this.sequential) return candidate;
    const randomFirst = this.have.count() < this.rarestFirstCutoff;
    const prio = this.prio[candidate]!;
    let keep = 0;
    let best = candidate;
    for (const p of suggested) {
      const st = this.state[p];
      if (st === STATE_HAVE || st === STATE_STARTED) continue; // forgotten: nothing left to start
      suggested[keep++] = p;
      if (best !== candidate || st !== STATE_FRESH || this.prio[p] !== prio) continue;
      if (!state.seed && !state.bitfield!.get(p)) continue;
      if (randomFirst || this.counts[p]! <= this.counts[candidate]!) best = p;
    }
    suggested.length = keep;
    return best;
  }

  /** pickBlocks restricted to `only`: started or new pieces among them, then endgame duplicates among them. */
  private pickOnly(peer: P, state: PeerState, count: number, only: Iterable<number>, endgame: boolean, out: BlockRequest[]): void {
    const pieces: number[] = [];
    for (const p of only) {
      if (!Number.isInteger(p) || p < 0 || p >= this.pieceCount) continue;
      if (this.prio[p] === PRIO_SKIP || (!state.seed && !state.bitfield!.get(p))) continue;
      pieces.push(p);
    }
    for (const p of pieces) {
      if (out.length >= count) return;
      const st = this.state[p];
      if (st === STATE_FRESH) this.takeBlocks(this.start(p), peer, state, count, out);
      else if (st === STATE_STARTED) {
        const download = this.downloads.get(p)!;
        if (download.free > 0) this.takeBlocks(download, peer, state, count, out);
      }
    }
    if (out.length < count && endgame && this.isEndgame) this.endgamePick(peer, state, count, out, new Set(pieces));
  }

  /** The next new piece for the peer, or -1. */
  private nextFresh(state: PeerState): number {
    const randomFirst = this.have.count() < this.rarestFirstCutoff;
    for (const code of [PRIO_HIGH, PRIO_NORMAL]) {
      const order = this.orders[code]!;
      if (order.size === 0) continue;
      const piece = this.sequential
        ? this.nextSequential(state, code)
        : randomFirst
          ? this.nextRandom(state, order)
          : this.nextRarest(state, order);
      if (piece >= 0) return piece;
    }
    return -1;
  }

  private nextRarest(state: PeerState, order: AvailabilityOrder): number {
    order.ensureSorted();
    const pieces = order.order;
    const size = order.size;
    if (state.seed) return pieces[0]!;
    const bitfield = state.bitfield!;
    // A peer with few pieces: walk its pieces instead of the order (same choice, random ties).
    if (bitfield.count() * 16 < size) return this.bestOfPeer(bitfield, order === this.orders[PRIO_HIGH] ? PRIO_HIGH : PRIO_NORMAL, false);
    // Pieces no connected non-seed has (bucket 0) cannot be this peer's.
    for (let i = order.bucketStart(1); i < size; i++) {
      const p = pieces[i]!;
      if (bitfield.get(p)) return p;
    }
    return -1;
  }

  private nextRandom(state: PeerState, order: AvailabilityOrder): number {
    order.ensureSorted();
    const pieces = order.order;
    const size = order.size;
    if (state.seed) return pieces[this.randomInt(size)]!;
    const bitfield = state.bitfield!;
    if (bitfield.count() * 16 < size) return this.bestOfPeer(bitfield, order === this.orders[PRIO_HIGH] ? PRIO_HIGH : PRIO_NORMAL, true);
    for (let probe = 0; probe < RANDOM_PROBES; probe++) {
      const p = pieces[this.randomInt(size)]!;
      if (bitfield.get(p)) return p;
    }
    return this.nextRarest(state, order);
  }

  /** Among the peer's pieces in `order`: the rarest (or any, if `uniform`), ties at random. */
  private bestOfPeer(bitfield: Bitfield, code: number, uniform: boolean): number {
    let best = -1;
    let bestKey = Infinity;
    let ties = 0;
    for (const p of bitfield.setIndices()) {
      if (this.state[p] !== STATE_FRESH || this.prio[p] !== code) continue;
      const key = uniform ? 0 : this.counts[p]!;
      if (key < bestKey) {
        best = p;
        bestKey = key;
        ties = 1;
      } else if (key === bestKey && this.randomInt(++ties) === 0) {
        best = p;
      }
    }
    return best;
  }

  private nextSequential(state: PeerState, code: number): number {
    const n = this.pieceCount;
    let leading = true;
    for (let p = this.seqCursor[code]!; p < n; p++) {
      if (this.state[p] !== STATE_FRESH || this.prio[p] !== code) {
        if (leading) this.seqCursor[code] = p + 1;
        continue;
      }
      leading = false;
      if (state.seed || state.bitfield!.get(p)) return p;
    }
    return -1;
  }

  private endgamePick(peer: P, state: PeerState, count: number, out: BlockRequest[], only?: ReadonlySet<number>): void {
    const candidates: [Download<P>, number][] = [];
    for (const download of this.downloads.values()) {
      const p = download.piece;
      if (this.prio[p] === PRIO_SKIP || (!state.seed && !state.bitfield!.get(p))) continue;
      if (only !== undefined && !only.has(p)) continue;
      for (let b = 0; b < download.blockCount; b++) {
        if (download.states[b] !== BLOCK_REQUESTED) continue;
        if (download.requesters[b]!.includes(peer)) continue;
        candidates.push([download, b]);
      }
    }
    // Partial Fisher-Yates: a random subset in random order, as mainline shuffles.
    for (let i = 0; i < candidates.length && out.length < count; i++) {
      const j = i + this.randomInt(candidates.length - i);
      const chosen = candidates[j]!;
      candidates[j] = candidates[i]!;
      const [download, b] = chosen;
      download.requesters[b]!.push(peer);
      state.requests.add(download.piece * this.maxBlocks + b);
      const begin = b * this.blockSize;
      out.push({ piece: download.piece, begin, length: this.blockLength(download.piece, begin) });
    }
  }
}

function bad(message: string): never {
  throw new PiecePickerError('BAD_OPTIONS', message);
}
