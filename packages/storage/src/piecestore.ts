import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { EventEmitter } from 'node:events';
import { BLOCK_SIZE, Bitfield } from '@mainline/bitfield';
import { StorageError, toStorageError } from './errors.js';
import { HashPool, type HashResult } from './hashpool.js';
import { recheckStorage, type RecheckProgress } from './recheck.js';
import { decodeResume, type ResumeRecord } from './resume.js';
import type { FileStamp, Storage } from './storage.js';

/** The block size of requests, re-exported from `@mainline/bitfield` where it is defined. */
export { BLOCK_SIZE };
/** Pieces are hashed from disk in reads of at most this many bytes (bounded memory). */
const HASH_READ = 1 << 20;
/** At most this many completed pieces are hashed at once (memory ≤ 2 × HASH_READ). */
const MAX_CONCURRENT_HASHES = 2;
/** writePiece hashes pieces at least this big on a worker thread (smaller ones cost more to post). */
const MIN_WORKER_HASH_BYTES = 64 * 1024;
/** Another piece thread starts only when every running one has this much waiting (see HashPool). */
const PIECE_WORKER_GROW_BYTES = 4 * 1024 * 1024;

/**
 * The threads that hash and write whole pieces (PieceStore.writePiece with `transfer`): by default
 * one per CPU core beyond the first, at most 2 (the network thread needs a core of its own), the
 * first started on first use and each further one only when all running ones are 4 MiB behind.
 * One pool can serve every store of a process (PieceStoreOptions.pieceHasher).
 */
export function createPieceHasher(threads = Math.max(1, Math.min(2, availableParallelism() - 1))): HashPool {
  if (!Number.isInteger(threads) || threads < 0) {
    throw new StorageError('BAD_INPUT', `pieceWorkers must be a whole number ≥ 0, got ${threads}`);
  }
  return new HashPool(threads, { growAtBytes: PIECE_WORKER_GROW_BYTES });
}

export interface PieceStoreOptions {
  /**
   * SHA-1 of every piece: 20·N bytes (kept as they are, not copied: the metainfo's own, which do
   * not change), or N arrays of 20 bytes. N must match the storage's piece count.
   */
  readonly pieceHashes: Uint8Array | readonly Uint8Array[];
  /** Worker threads for rechecks (default 2). */
  readonly hashWorkers?: number;
  /**
   * Threads that hash, and write, the whole pieces given to writePiece with `transfer` (0: hash on
   * the calling thread and write through the thread pool); default as `createPieceHasher`.
   */
  readonly pieceWorkers?: number;
  /**
   * A pool from `createPieceHasher` shared with other stores (a session's torrents), instead of
   * threads of this store's own; the store never closes it. `pieceWorkers` is then ignored.
   */
  readonly pieceHasher?: HashPool;
}

export interface StartOptions {
  /** The record from the last run (decoded or plain); if it matches the files on disk, no recheck. */
  readonly resume?: ResumeRecord | unknown;
  readonly onProgress?: (progress: RecheckProgress) => void;
}

export interface StartResult {
  /** True when the resume record was accepted (no hashing done). */
  readonly resumed: boolean;
  /** Why the resume record was not used (absent, malformed, stamps differ). */
  readonly reason?: string;
}

export interface WritePieceOptions {
  /**
   * Let the store move `data`'s ArrayBuffer to a hashing thread (when it is a whole, unshared
   * ArrayBuffer of at least 64 KiB): the main thread then spends no time on SHA-1. `data` is
   * detached after the call; the result gives the same memory back as `data` for reuse.
   */
  readonly transfer?: boolean;
}

/** Outcome of a whole-piece write; with `transfer`, `data` is the piece's memory handed back. */
export type PieceWriteResult = WriteResult & { readonly data?: Uint8Array };

/** Outcome of a block write. */
export type WriteResult =
  /** Stored; the piece still needs `blocksLeft` blocks. */
  | { readonly status: 'written'; readonly piece: number; readonly blocksLeft: number }
  /** It completed the piece, which hashed correctly and is now had. */
  | { readonly status: 'verified'; readonly piece: number }
  /** It completed the piece, which failed its hash: the piece's blocks are discarded (blame the senders). */
  | { readonly status: 'hashfail'; readonly piece: number }
  /** Ignored: the piece is had or being hashed, or the block was already written or being written. */
  | { readonly status: 'duplicate'; readonly piece: number };

export type PieceStoreState = 'idle' | 'checking' | 'ready' | 'failed' | 'closed';

export interface PieceStoreEvents {
  verified: [piece: number];
  hashfail: [piece: number];
  /** Every piece is verified (amountLeft is 0). */
  complete: [];
  /** A disk error; the store is now 'failed'. Emitted only when someone listens. */
  error: [error: StorageError];
  progress: [progress: RecheckProgress];
}

interface Partial {
  readonly written: Bitfield;
  readonly writing: Set<number>;
  hashing: boolean;
}

/** The hashes as 20·N bytes: the caller's own bytes when given so (shared, not copied). */
function normaliseHashes(h: Uint8Array | readonly Uint8Array[]): Uint8Array {
  if (h instanceof Uint8Array) {
    if (h.length % 20 !== 0) throw new StorageError('BAD_INPUT', `piece hashes are ${h.length} bytes, not a multiple of 20`);
    return h;
  }
  if (!Array.isArray(h)) throw new StorageError('BAD_INPUT', 'piece hashes must be bytes or a list of 20-byte arrays');
  const out = new Uint8Array(h.length * 20);
  h.forEach((d: unknown, i) => {
    if (!(d instanceof Uint8Array) || d.length !== 20) throw new StorageError('BAD_INPUT', `piece hash ${i} is not 20 bytes`);
    out.set(d, i * 20);
  });
  return out;
}

/**
 * Verified pieces on top of a Storage (mainline's StorageWrapper): the have-bitfield, which blocks
 * of unfinished pieces are written, SHA-1 verification on completion, amount left, uploads of
 * verified data, fast resume and full recheck. Request picking and in-flight bookkeeping belong
 * to the piece picker.
 *
 * Written blocks live on disk only; a completed piece is hashed back from disk in 1 MiB reads
 * (from the page cache in practice), at most two pieces at a time, so memory stays bounded
 * whatever the piece size. A piece is marked had only after all its blocks were written and its
 * hash matched; a failed write never marks anything. After a disk error the store is 'failed':
 * every call rejects with FAILED until clearError().
 */
export class PieceStore extends EventEmitter<PieceStoreEvents> {
  readonly storage: Storage;
  readonly pieceCount: number;
  readonly pieceLength: number;
  readonly totalLength: number;
  private readonly hashes: Uint8Array;
  private readonly hashWorkers: number;
  private have: Bitfield;
  private left: number;
  /** Pieces being written; made at the first written block (a seed nobody asks has none). */
  private partials: Map<number, Partial> | undefined;
  private stateValue: PieceStoreState = 'idle';
  private failure: StorageError | null = null;
  private activeHashes = 0;
  private hashQueue: (() => void)[] | undefined;
  private pendingOps = 0;
  private idle: (() => void)[] | undefined;
  /** The hashing threads of writePiece; closed by close() only when this store made them. */
  private readonly pieceHasher: HashPool;
  private readonly ownsPieceHasher: boolean;

  constructor(storage: Storage, options: PieceStoreOptions) {
    super();
    // EventEmitter keeps listeners in a null-prototype object made with a literal, which V8 holds
    // as a dictionary (~140 bytes more than a plain object): thousands of stores each keep one.
    // This one has the same null prototype and stays a fast object with its few event names.
    (this as unknown as { _events: object })._events = Object.setPrototypeOf({}, null) as object;
    this.storage = storage;
    const { layout } = storage;
    this.pieceCount = layout.pieceCount;
    this.pieceLength = layout.pieceLength;
    this.totalLength = layout.totalLength;
    this.hashes = normaliseHashes(options.pieceHashes);
    if (this.hashes.length / 20 !== this.pieceCount) {
      throw new StorageError('BAD_INPUT', `${this.hashes.length / 20} piece hashes for ${this.pieceCount} pieces`);
    }
    this.hashWorkers = options.hashWorkers ?? 2;
    this.ownsPieceHasher = options.pieceHasher === undefined;
    this.pieceHasher = options.pieceHasher ?? createPieceHasher(options.pieceWorkers);
    this.have = new Bitfield(this.pieceCount);
    this.left = this.totalLength;
  }

  get state(): PieceStoreState {
    return this.stateValue;
  }

  /** The disk error that stopped the store, if any. */
  get error(): StorageError | null {
    return this.failure;
  }

  /** Bytes not yet verified. */
  get amountLeft(): number {
    return this.left;
  }

  get haveCount(): number {
    return this.have.count();
  }

  isComplete(): boolean {
    return this.left === 0;
  }

  hasPiece(piece: number): boolean {
    this.storage.layout.checkPiece(piece);
    return this.have.get(piece);
  }

  /** A copy of the verified pieces. */
  haveBitfield(): Bitfield {
    return this.have.clone();
  }

  pieceSize(piece: number): number {
    return this.storage.layout.pieceSize(piece);
  }

  blockCount(piece: number): number {
    return Math.ceil(this.pieceSize(piece) / BLOCK_SIZE);
  }

  /** Length of block `block` of `piece` (the last block of a piece may be short). */
  blockSize(piece: number, block: number): number {
    const n = this.blockCount(piece);
    if (!Number.isInteger(block) || block < 0 || block >= n) throw new StorageError('OUT_OF_RANGE', `block ${block} is not in [0, ${n}) for piece ${piece}`);
    return block === n - 1 ? this.pieceSize(piece) - block * BLOCK_SIZE : BLOCK_SIZE;
  }

  /** Blocks of `piece` already written (all set if the piece is had). A copy. */
  writtenBlocks(piece: number): Bitfield {
    const n = this.blockCount(piece);
    if (this.have.get(piece)) return Bitfield.full(n);
    return this.partials?.get(piece)?.written.clone() ?? new Bitfield(n);
  }

  /** Unverified pieces with at least one block written, ascending. */
  partialPieces(): number[] {
    return [...(this.partials?.entries() ?? [])]
      .filter(([, p]) => !p.written.isEmpty())
      .map(([i]) => i)
      .sort((a, b) => a - b);
  }

  /**
   * Loads the have-state: from `resume` when its file stamps match the disk, else by a full
   * recheck. Emits 'complete' if nothing is left. Must be called once, after storage.open().
   */
  async start(options: StartOptions = {}): Promise<StartResult> {
    if (this.stateValue !== 'idle') throw new StorageError('BAD_INPUT', `start() needs an idle store (state is ${this.stateValue})`);
    let reason: string | undefined;
    if (options.resume !== undefined && options.resume !== null) {
      try {
        reason = await this.tryResume(options.resume);
      } catch (err) {
        if (!(err instanceof StorageError) || err.code !== 'BAD_RESUME') return this.fail(toStorageError(err, 'resume'), 'idle');
        reason = err.message;
      }
      if (reason === undefined) {
        this.stateValue = 'ready';
        if (this.left === 0) this.emit('complete');
        return { resumed: true };
      }
    } else {
      reason = 'no resume record';
    }
    await this.recheck(options.onProgress);
    return { resumed: false, reason };
  }

  /** Returns why the record does not apply, or undefined after applying it. */
  private async tryResume(input: unknown): Promise<string | undefined> {
    const record = decodeResume(input);
    if (record.pieceLength !== this.pieceLength || record.totalLength !== this.totalLength) return 'resume record is for another layout';
    if (record.files.length !== this.storage.layout.files.length) return 'resume record lists another number of files';
    const now = await this.storage.stamps();
    for (let i = 0; i < now.files.length; i++) {
      if (!sameStamp(now.files[i] ?? null, record.files[i] ?? null)) return `file ${this.storage.layout.paths[i]} changed since the resume record`;
    }
    if (!sameStamp(now.parts, record.parts)) return 'the parts file changed since the resume record';
    const have = Bitfield.fromBytes(record.have, this.pieceCount);
    const partials = new Map<number, Partial>();
    for (const p of record.partial) {
      if (have.get(p.piece)) continue;
      let written: Bitfield;
      try {
        written = Bitfield.fromBytes(p.blocks, this.blockCount(p.piece));
      } catch {
        return `resume record has a bad block list for piece ${p.piece}`;
      }
      if (!written.isEmpty() && !written.isComplete()) partials.set(p.piece, { written, writing: new Set(), hashing: false });
    }
    this.have = have;
    this.partials = partials.size > 0 ? partials : undefined;
    this.left = this.totalLength - this.verifiedBytes();
    return undefined;
  }

  private verifiedBytes(): number {
    let n = this.have.count() * this.pieceLength;
    if (this.pieceCount > 0 && this.have.get(this.pieceCount - 1)) n -= this.pieceLength - this.pieceSize(this.pieceCount - 1);
    return n;
  }

  /**
   * Full recheck of the data on disk (also used by start() without a usable resume record).
   * Forgets written-but-unverified blocks. Reports progress through `onProgress` and 'progress'.
   */
  async recheck(onProgress?: (progress: RecheckProgress) => void): Promise<void> {
    if (this.stateValue === 'failed' || this.stateValue === 'closed' || this.stateValue === 'checking') {
      throw this.stateError();
    }
    const previous = this.stateValue;
    this.stateValue = 'checking';
    await this.drain();
    let good: Bitfield;
    try {
      good = await recheckStorage(this.storage, this.hashes, {
        workers: this.hashWorkers,
        onProgress: (p) => {
          onProgress?.(p);
          this.emit('progress', p);
        },
      });
    } catch (err) {
      return this.fail(toStorageError(err, 'check'), previous === 'ready' ? 'ready' : 'idle');
    }
    this.have = good;
    this.partials = undefined;
    this.left = this.totalLength - this.verifiedBytes();
    this.stateValue = 'ready';
    if (this.left === 0) this.emit('complete');
  }

  /**
   * Writes one block (`begin` a multiple of 16 KiB, `data` exactly the block's length). When this
   * completes the piece, the piece is hashed from disk and the result says whether it verified.
   */
  async writeBlock(piece: number, begin: number, data: Uint8Array): Promise<WriteResult> {
    this.checkReady();
    const n = this.blockCount(piece);
    if (!Number.isInteger(begin) || begin < 0 || begin % BLOCK_SIZE !== 0 || begin / BLOCK_SIZE >= n) {
      throw new StorageError('OUT_OF_RANGE', `block offset ${begin} is not a block start of piece ${piece}`);
    }
    const block = begin / BLOCK_SIZE;
    const size = this.blockSize(piece, block);
    if (!(data instanceof Uint8Array) || data.length !== size) {
      throw new StorageError('OUT_OF_RANGE', `block ${block} of piece ${piece} is ${size} bytes, got ${data instanceof Uint8Array ? data.length : typeof data}`);
    }
    if (this.have.get(piece)) return { status: 'duplicate', piece };
    let partial = this.partials?.get(piece);
    if (partial === undefined) {
      partial = { written: new Bitfield(n), writing: new Set(), hashing: false };
      (this.partials ??= new Map()).set(piece, partial);
    }
    if (partial.hashing || partial.written.get(block) || partial.writing.has(block)) return { status: 'duplicate', piece };
    partial.writing.add(block);
    await this.tracked(async () => {
      try {
        await this.storage.write(piece * this.pieceLength + begin, data);
      } catch (err) {
        partial.writing.delete(block);
        return this.fail(toStorageError(err, 'write'), 'ready');
      }
      partial.writing.delete(block);
      partial.written.set(block);
    });
    if (this.stateValue !== 'ready') throw this.stateError();
    const missing = n - partial.written.count();
    if (missing > 0 || partial.writing.size > 0 || partial.hashing || this.partials?.get(piece) !== partial) {
      return { status: 'written', piece, blocksLeft: missing };
    }
    // Every block is on disk and no write to this piece is in flight: hash it.
    partial.hashing = true;
    let ok: boolean;
    try {
      ok = await this.tracked(() => this.verify(piece));
    } catch (err) {
      partial.hashing = false;
      return this.fail(toStorageError(err, 'hash'), 'ready');
    }
    this.partials?.delete(piece);
    if (!ok) {
      this.emit('hashfail', piece);
      return { status: 'hashfail', piece };
    }
    return this.markHad(piece);
  }

  /**
   * Writes a whole piece assembled in memory: hashed first (bad data never reaches the disk),
   * then written in one call and marked had. Cheaper than block by block plus a read-back hash
   * when a downloader received the piece in full. Blocks of it already written by writeBlock
   * are simply overwritten; a piece being hashed or already had is a 'duplicate'.
   */
  async writePiece(piece: number, data: Uint8Array, options: WritePieceOptions = {}): Promise<PieceWriteResult> {
    this.checkReady();
    const size = this.pieceSize(piece);
    if (!(data instanceof Uint8Array) || data.length !== size) {
      throw new StorageError('OUT_OF_RANGE', `piece ${piece} is ${size} bytes, got ${data instanceof Uint8Array ? data.length : typeof data}`);
    }
    const partial = this.partials?.get(piece);
    if (this.have.get(piece) || partial?.hashing || (partial && partial.writing.size > 0)) return { status: 'duplicate', piece };
    // Claimed before hashing (which may wait for the worker): other writes of it are duplicates.
    const mine = { written: new Bitfield(this.blockCount(piece)), writing: new Set<number>(), hashing: true };
    (this.partials ??= new Map()).set(piece, mine);
    return this.tracked(async () => {
      const position = piece * this.pieceLength;
      let digest: Uint8Array;
      let written = false;
      try {
        if (options.transfer === true && this.movable(data)) {
          // On a hashing thread: hash and, if it matches, write there (then `written`); this thread
          // only hands the buffer over and gets it back.
          const hasher = this.pieceHasher;
          const buffer = data.buffer as ArrayBuffer;
          // A copy: posting a view would clone the whole hash table to the worker each time.
          const expected = this.hashes.slice(piece * 20, piece * 20 + 20);
          let direct = undefined as HashResult | undefined;
          await this.storage.writeDirect(position, size, async (writes) => {
            direct = await hasher.hash(buffer, size, size, { writes, expected });
          });
          // Part of it goes to a parts file: only hashed there, and written here below.
          const r = direct ?? (await hasher.hash(buffer, size, size));
          ({ digests: digest, written } = r);
          data = Buffer.from(r.buffer, 0, size);
        } else {
          digest = createHash('sha1').update(data).digest();
        }
      } catch (err) {
        this.partials?.delete(piece);
        return this.fail(toStorageError(err, 'write'), 'ready');
      }
      const handBack = options.transfer === true ? { data } : {};
      if (this.stateValue !== 'ready') {
        this.partials?.delete(piece);
        throw this.stateError();
      }
      if (!this.matchesHash(piece, digest)) {
        this.partials?.delete(piece);
        this.emit('hashfail', piece);
        return { status: 'hashfail', piece, ...handBack };
      }
      try {
        if (!written) await this.storage.write(position, data);
      } catch (err) {
        this.partials?.delete(piece);
        return this.fail(toStorageError(err, 'write'), 'ready');
      }
      this.partials?.delete(piece);
      if (this.stateValue !== 'ready') throw this.stateError();
      return { ...this.markHad(piece), ...handBack };
    });
  }

  /** Whether `data` can move to the hashing thread: a whole, unshared ArrayBuffer, big enough to be worth it. */
  private movable(data: Uint8Array): boolean {
    return this.pieceHasher.maxThreads > 0 && data.length >= MIN_WORKER_HASH_BYTES && data.byteOffset === 0 && data.buffer instanceof ArrayBuffer && data.buffer.byteLength === data.length;
  }

  /** Records a piece whose bytes are on disk and hashed correctly. */
  private markHad(piece: number): WriteResult {
    this.have.set(piece);
    this.left -= this.pieceSize(piece);
    this.emit('verified', piece);
    if (this.left === 0) this.emit('complete');
    return { status: 'verified', piece };
  }

  private matchesHash(piece: number, digest: Uint8Array): boolean {
    return Buffer.compare(digest, this.hashes.subarray(piece * 20, piece * 20 + 20)) === 0;
  }

  /** Hashes piece `piece` from disk and compares with the metainfo. */
  private async verify(piece: number): Promise<boolean> {
    while (this.activeHashes >= MAX_CONCURRENT_HASHES) await new Promise<void>((r) => (this.hashQueue ??= []).push(r));
    this.activeHashes++;
    try {
      const size = this.pieceSize(piece);
      const buf = Buffer.allocUnsafe(Math.min(size, HASH_READ));
      const sha = createHash('sha1');
      for (let off = 0; off < size; off += buf.length) {
        const chunk = buf.subarray(0, Math.min(buf.length, size - off));
        await this.storage.readInto(piece * this.pieceLength + off, chunk);
        sha.update(chunk);
      }
      return this.matchesHash(piece, sha.digest());
    } finally {
      this.activeHashes--;
      this.hashQueue?.shift()?.();
    }
  }

  /**
   * Reads [begin, begin+length) of a verified piece, for upload. NOT_HAD for a piece we do not
   * have, OUT_OF_RANGE past the piece's end.
   */
  async readBlock(piece: number, begin: number, length: number): Promise<Buffer> {
    this.checkReady();
    const size = this.pieceSize(piece);
    if (!Number.isInteger(begin) || !Number.isInteger(length) || begin < 0 || length <= 0 || begin + length > size) {
      throw new StorageError('OUT_OF_RANGE', `[${begin}, +${length}) is outside piece ${piece} (${size} bytes)`);
    }
    if (!this.have.get(piece)) throw new StorageError('NOT_HAD', `piece ${piece} is not verified`);
    try {
      return await this.tracked(() => this.storage.read(piece * this.pieceLength + begin, length));
    } catch (err) {
      return this.fail(toStorageError(err, 'read'), 'ready');
    }
  }

  /** A record of the current state for fast resume (taken after in-flight writes settle). */
  async resumeRecord(): Promise<ResumeRecord> {
    this.checkReady();
    await this.drain();
    let stamps: { files: (FileStamp | null)[]; parts: FileStamp | null };
    try {
      stamps = await this.storage.stamps();
    } catch (err) {
      return this.fail(toStorageError(err, 'stat'), 'ready');
    }
    this.checkReady();
    return {
      version: 1,
      pieceLength: this.pieceLength,
      totalLength: this.totalLength,
      have: this.have.toBytes(),
      files: stamps.files,
      parts: stamps.parts,
      partial: this.partialPieces().map((piece) => ({ piece, blocks: (this.partials?.get(piece) as Partial).written.toBytes() })),
    };
  }

  /** Leaves the failed state (e.g. after the user freed disk space). Verified pieces are kept. */
  clearError(): void {
    if (this.stateValue !== 'failed') return;
    this.failure = null;
    this.stateValue = 'ready';
  }

  /** Waits for I/O in progress and closes the storage. */
  async close(): Promise<void> {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    await this.drain();
    if (this.ownsPieceHasher) await this.pieceHasher.close();
    await this.storage.close();
  }

  private checkReady(): void {
    if (this.stateValue !== 'ready') throw this.stateError();
  }

  private stateError(): StorageError {
    if (this.stateValue === 'failed') {
      return new StorageError('FAILED', `storage stopped after an error: ${this.failure?.message ?? 'unknown'}`, { cause: this.failure });
    }
    if (this.stateValue === 'closed') return new StorageError('CLOSED', 'piece store is closed');
    return new StorageError('BAD_INPUT', `piece store is ${this.stateValue}, not ready`);
  }

  /**
   * Disk errors stop the store ('failed', 'error' event) and reject; argument errors just reject.
   * `otherwise` is the state to return to for non-disk errors.
   */
  private fail(err: StorageError, otherwise: PieceStoreState): never {
    if (err.isDiskError && err.code !== 'CLOSED') {
      if (this.stateValue !== 'failed' && this.stateValue !== 'closed') {
        this.failure = err;
        this.stateValue = 'failed';
        if (this.listenerCount('error') > 0) this.emit('error', err);
      }
    } else if (this.stateValue === 'checking') {
      this.stateValue = otherwise;
    }
    throw err;
  }

  private async tracked<T>(fn: () => Promise<T>): Promise<T> {
    this.pendingOps++;
    try {
      return await fn();
    } finally {
      this.pendingOps--;
      if (this.pendingOps === 0 && this.idle !== undefined) {
        const waiting = this.idle;
        this.idle = undefined;
        for (const r of waiting) r();
      }
    }
  }

  private async drain(): Promise<void> {
    while (this.pendingOps > 0) await new Promise<void>((r) => (this.idle ??= []).push(r));
  }
}

function sameStamp(a: FileStamp | null, b: FileStamp | null): boolean {
  if (a === null || b === null) return a === b;
  return a.size === b.size && a.mtimeMs === b.mtimeMs;
}
