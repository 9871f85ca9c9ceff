/**
 * Received chunks waiting to be parsed. Frames are cut out without concatenating the whole queue:
 * a frame inside one chunk is a view (no copy); one spanning chunks is copied once.
 */
export class ByteQueue {
  private chunks: Uint8Array[] = [];
  private head = 0; // offset into chunks[0]
  private size = 0;

  get length(): number {
    return this.size;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** The byte at `offset` from the front (offset < length). */
  peekByte(offset: number): number {
    let i = 0;
    let pos = this.head + offset;
    for (;;) {
      const c = this.chunks[i] as Uint8Array;
      if (pos < c.length) return c[pos] as number;
      pos -= c.length;
      i++;
    }
  }

  /** Big-endian uint32 at `offset` from the front (offset + 4 <= length). */
  peekUInt32(offset: number): number {
    const c = this.chunks[0] as Uint8Array;
    const p = this.head + offset;
    if (p + 4 <= c.length) {
      return ((c[p] as number) * 0x1000000 + (((c[p + 1] as number) << 16) | ((c[p + 2] as number) << 8) | (c[p + 3] as number))) >>> 0;
    }
    return (
      (this.peekByte(offset) * 0x1000000 +
        ((this.peekByte(offset + 1) << 16) | (this.peekByte(offset + 2) << 8) | this.peekByte(offset + 3))) >>>
      0
    );
  }

  /** Drops `n` bytes from the front. */
  skip(n: number): void {
    this.size -= n;
    while (n > 0) {
      const c = this.chunks[0] as Uint8Array;
      const avail = c.length - this.head;
      if (n < avail) {
        this.head += n;
        return;
      }
      n -= avail;
      this.chunks.shift();
      this.head = 0;
    }
  }

  /** Removes and returns the first `n` bytes (n <= length): a view when they sit in one chunk, else one copy. */
  take(n: number): Uint8Array {
    const first = this.chunks[0];
    if (n === 0 || first === undefined) return new Uint8Array(0);
    const avail = first.length - this.head;
    if (n <= avail) {
      const out = first.subarray(this.head, this.head + n);
      this.skip(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0] as Uint8Array;
      const want = Math.min(n - filled, c.length - this.head);
      out.set(c.subarray(this.head, this.head + want), filled);
      filled += want;
      this.skip(want);
    }
    return out;
  }

  /** Copies the queued bytes into memory of their own (the chunks they came in are about to be reused). */
  detach(): void {
    if (this.size === 0) {
      this.clear();
      return;
    }
    const own = Buffer.allocUnsafe(this.size);
    let filled = 0;
    for (const [i, c] of this.chunks.entries()) {
      const part = i === 0 ? c.subarray(this.head) : c;
      own.set(part, filled);
      filled += part.length;
    }
    this.chunks = [own];
    this.head = 0;
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.size = 0;
  }
}
