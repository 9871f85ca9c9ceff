import type { PieceStore, PieceWriteResult } from '@mainline/storage';
import { BufferPool } from './buffer-pool.js';

/** Received bytes allowed to wait for the disk before we stop reading from peers. */
const MAX_PENDING_WRITE_BYTES = 8 * 1024 * 1024;
/** Memory for pieces collected before one write each, and the largest piece collected so. */
const ASSEMBLY_BUDGET = 32 * 1024 * 1024;
const MAX_ASSEMBLED_PIECE = 4 * 1024 * 1024;

/** What the assembler tells the swarm. */
export interface AssemblyEvents {
  verified(index: number): void;
  failed(index: number): void;
  /** Bytes of a block or piece that was there already. */
  duplicate(bytes: number): void;
  /** The disk fell behind (true) or caught up (false): stop or resume reading from every peer. */
  reading(paused: boolean): void;
  /** A store write failed. */
  error(error: unknown): void;
}

/**
 * The disk end of the download side: accepted blocks become pieces on disk. Each piece's blocks
 * are collected in memory while the budget allows, then written with one call
 * (PieceStore.writePiece hashes it in memory first: no read-back, and corrupt data never reaches
 * the disk); pieces that do not fit go to disk block by block. Received bytes waiting for the
 * disk are counted: past 8 MiB the swarm stops reading from its peers until half is written.
 */
export class PieceAssembler {
  /** Pieces being collected in memory, their total size, and pieces written block by block. */
  readonly #assemblies = new Map<number, { data: Buffer; missing: number }>();
  #assembledBytes = 0;
  /** Piece buffers for collecting, reused once their piece is written. */
  readonly #pieceBuffers: BufferPool;
  readonly #blockByBlock = new Set<number>();
  #pendingWriteBytes = 0;
  #readingPaused = false;

  constructor(
    private readonly store: PieceStore,
    private readonly events: AssemblyEvents,
  ) {
    // Enough idle buffers to cover the pieces that can wait for the disk at once.
    this.#pieceBuffers = new BufferPool(store.pieceLength, Math.ceil(MAX_PENDING_WRITE_BYTES / store.pieceLength) + 1);
  }

  /** Reading from peers is paused for the disk (a new peer starts paused too). */
  get readingPaused(): boolean {
    return this.#readingPaused;
  }

  /** An accepted block. It may be a view of a shared read buffer: whatever is kept is copied. */
  add(index: number, begin: number, block: Uint8Array): void {
    if (this.#assemble(index, begin, block)) return;
    const own = Buffer.from(block);
    this.#write(block.length, () => this.store.writeBlock(index, begin, own));
  }

  /** The piece is done with (verified or failed): its next blocks start afresh. */
  settled(index: number): void {
    this.#blockByBlock.delete(index);
  }

  /** Drops what is being collected (the swarm stops). */
  clear(): void {
    this.#assemblies.clear();
    this.#blockByBlock.clear();
    this.#assembledBytes = 0;
    this.#pieceBuffers.clear();
  }

  /** Returns false when the block must be written on its own. */
  #assemble(index: number, begin: number, block: Uint8Array): boolean {
    const store = this.store;
    let a = this.#assemblies.get(index);
    if (!a) {
      if (this.#blockByBlock.has(index)) return false;
      const size = store.pieceSize(index);
      if (size > MAX_ASSEMBLED_PIECE || this.#assembledBytes + size > ASSEMBLY_BUDGET || !store.writtenBlocks(index).isEmpty()) {
        this.#blockByBlock.add(index);
        return false;
      }
      a = { data: size === this.#pieceBuffers.size ? this.#pieceBuffers.take() : Buffer.allocUnsafe(size), missing: store.blockCount(index) };
      this.#assemblies.set(index, a);
      this.#assembledBytes += size;
    }
    a.data.set(block, begin);
    if (--a.missing > 0) return true;
    const data = a.data;
    this.#assemblies.delete(index);
    this.#assembledBytes -= data.length;
    // The buffer moves to the store's hashing thread and comes back in the result for reuse.
    this.#write(data.length, () => store.writePiece(index, data, { transfer: true }));
    return true;
  }

  /**
   * Runs a store write, with back-pressure accounting, and acts on its result. A piece buffer
   * handed back goes to the pool (after a disk error, part of a multi-file write may still be in
   * flight, so that buffer is left to the GC).
   */
  #write(bytes: number, write: () => Promise<PieceWriteResult>): void {
    this.#writesPending(bytes);
    write().then(
      (w) => {
        if (w.data) this.#pieceBuffers.give(w.data);
        this.#writesPending(-bytes);
        if (w.status === 'verified') this.events.verified(w.piece);
        else if (w.status === 'hashfail') this.events.failed(w.piece);
        else if (w.status === 'duplicate') this.events.duplicate(bytes);
      },
      (err: unknown) => {
        this.#writesPending(-bytes);
        this.events.error(err);
      },
    );
  }

  /**
   * Disk back-pressure: received blocks wait in memory until written, so when the disk falls
   * behind we stop reading from every peer (TCP then slows the senders) and resume once the
   * backlog is down to half.
   */
  #writesPending(delta: number): void {
    this.#pendingWriteBytes += delta;
    if (!this.#readingPaused && this.#pendingWriteBytes > MAX_PENDING_WRITE_BYTES) {
      this.#readingPaused = true;
      this.events.reading(true);
    } else if (this.#readingPaused && this.#pendingWriteBytes <= MAX_PENDING_WRITE_BYTES / 2) {
      this.#readingPaused = false;
      this.events.reading(false);
    }
  }
}
