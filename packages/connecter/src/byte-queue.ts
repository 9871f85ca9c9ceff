/**
 * Received chunks waiting to be parsed. Frames are cut out without concatenating the whole queue:
 * a frame inside one chunk is a view (no copy); one spanning chunks is copied once.
 */
export class ByteQueue {
  private chunks: Uint8Array[] = [];
  private head = 0; // offset into chunks[0]
  private size = 0;
  /** Reused memory for callers whose data is transient anyway: frames cut across chunks... */
  private scratch: Buffer | undefined;
  /** ...and the bytes detach() carries over, in two buffers used in turn (one may still be queued). */
  private readonly carries: (Buffer | undefined)[] = [undefined, undefined];
  private carryTurn = 0;

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

  /**
   * Removes and returns the first `n` bytes (n <= length): a view when they sit in one chunk, else
   * one copy — into memory reused by the next such call when `reuse` (for callers done with the
   * bytes before they take more).
   */
  take(n: number, reuse = false): Uint8Array {
    const first = this.chunks[0];
    if (n === 0 || first === undefined) return new Uint8Array(0);
    const avail = first.length - this.head;
    if (n <= avail) {
      const out = first.subarray(this.head, this.head + n);
      this.skip(n);
      return out;
    }
    const out = reuse ? (this.scratch = grown(this.scratch, n)).subarray(0, n) : Buffer.allocUnsafe(n);
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

  /**
   * Copies the queued bytes into memory of the queue's own (the chunks they came in are about to be
   * reused). Two carry buffers take turns: the queue then holds one of them, so the other is free.
   */
  detach(): void {
    if (this.size === 0) {
      this.clear();
      return;
    }
    const turn = this.carryTurn;
    this.carryTurn ^= 1;
    const own = (this.carries[turn] = grown(this.carries[turn], this.size)).subarray(0, this.size);
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

/** `buf` if it holds `n` bytes, else a new buffer that does (at least 32 KiB, two 16 KiB blocks). */
function grown(buf: Buffer | undefined, n: number): Buffer {
  return buf !== undefined && buf.length >= n ? buf : Buffer.allocUnsafeSlow(Math.max(n, 32 * 1024));
}
