/**
 * Read-ahead for serving uploads. Peers request 16 KiB blocks, mostly in order within a piece;
 * reading each block alone costs a thread-pool round trip per 16 KiB. This reads aligned windows
 * (default 256 KiB) once and serves the blocks inside them from memory, keeping the most recently
 * used windows (default 32, i.e. at most 8 MiB).
 */
export class ReadCache {
  readonly #windows = new Map<string, Promise<Buffer>>();

  constructor(
    private readonly read: (piece: number, begin: number, length: number) => Promise<Buffer>,
    private readonly pieceSize: (piece: number) => number,
    private readonly windowBytes = 256 * 1024,
    private readonly maxWindows = 32,
    /** A window of `piece` was read from disk (what a seed suggests to peers, BEP 6). */
    private readonly loaded?: (piece: number) => void,
  ) {}

  /** The block's bytes (a view into the cached window). */
  async get(piece: number, begin: number, length: number): Promise<Uint8Array> {
    const start = begin - (begin % this.windowBytes);
    // A request that crosses a window edge (non-aligned, unusual) is read on its own.
    if (begin + length > start + this.windowBytes) return this.read(piece, begin, length);
    const key = `${piece}:${start}`;
    let window = this.#windows.get(key);
    if (window) {
      this.#windows.delete(key); // most recently used goes to the end
    } else {
      window = this.read(piece, start, Math.min(this.windowBytes, this.pieceSize(piece) - start));
      window.then(
        () => this.loaded?.(piece),
        () => this.#windows.delete(key),
      );
      if (this.#windows.size >= this.maxWindows) this.#windows.delete(this.#windows.keys().next().value!);
    }
    this.#windows.set(key, window);
    const bytes = await window;
    return bytes.subarray(begin - start, begin - start + length);
  }

  clear(): void {
    this.#windows.clear();
  }

  get size(): number {
    return this.#windows.size;
  }
}
