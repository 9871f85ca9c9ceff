/**
 * A free list of equal-sized buffers (one piece each). Reusing them instead of allocating a fresh
 * piece buffer per piece spares the allocator, the page faults of untouched memory, and the
 * garbage collector (large external buffers drive V8's GC heuristics).
 */
export class BufferPool {
  readonly #free: Buffer[] = [];

  /** @param size bytes per buffer; @param maxFree how many idle buffers to keep at most. */
  constructor(
    readonly size: number,
    readonly maxFree: number,
  ) {}

  /** A buffer of `size` bytes with stale contents (the caller overwrites all of it). */
  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  /** Gives a buffer back; the caller must hold no other reference that is still in use. */
  give(buf: Uint8Array): void {
    if (buf.length !== this.size || this.#free.length >= this.maxFree) return;
    this.#free.push(Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength));
  }

  get idle(): number {
    return this.#free.length;
  }

  clear(): void {
    this.#free.length = 0;
  }
}
