/** Why a bitfield operation failed; stable strings callers may switch on. */
export type BitfieldErrorCode = 'BAD_LENGTH' | 'SPARE_BITS' | 'OUT_OF_RANGE';

/** Every failure of this package: a code plus a message for people. */
export class BitfieldError extends Error {
  override readonly name = 'BitfieldError';
  constructor(
    readonly code: BitfieldErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The largest bit count accepted (2^31; a 256 MiB bitfield, far above any real torrent). */
export const MAX_BITFIELD_LENGTH = 2 ** 31;

function checkLength(length: number): void {
  if (!Number.isInteger(length) || length < 0 || length > MAX_BITFIELD_LENGTH) {
    throw new BitfieldError('BAD_LENGTH', `bitfield length must be an integer in [0, 2^31], got ${String(length)}`);
  }
}

// Cold paths live outside the methods so that get/set stay small enough to inline.
function outOfRange(index: number, length: number): never {
  throw new BitfieldError('OUT_OF_RANGE', `bit index ${String(index)} is not an integer in [0, ${length})`);
}

function lengthMismatch(a: number, b: number): never {
  throw new BitfieldError('BAD_LENGTH', `bitfields differ in length (${a} vs ${b})`);
}

/** Set bits in a 32-bit word (SWAR popcount). */
function popcount32(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
}

/** Index (0..7, MSB first) of the highest set bit of a non-zero byte. */
function firstBit(b: number): number {
  return Math.clz32(b) - 24;
}

/**
 * A fixed-length set of piece indices, stored in the BitTorrent wire form (MSB first: piece 0 is
 * bit 0x80 of byte 0). Spare trailing bits are always zero. The set-bit count is maintained on
 * every change, so `count()`, `isComplete()` and `isEmpty()` are O(1). The bytes sit in a buffer
 * padded to whole 32-bit words so scans and set algebra run a word at a time.
 */
export class Bitfield implements Iterable<boolean> {
  /** Number of bits (pieces). */
  readonly length: number;
  /** Wire bytes, ceil(length/8) long; a view over the first bytes of `words`' buffer. */
  private readonly bytes: Uint8Array;
  /** The same memory as whole words (padding bytes beyond `bytes` are always zero). */
  private readonly words: Uint32Array;
  private setCount = 0;

  /** An all-clear bitfield of `length` bits; `length` must be an integer in [0, 2^31]. */
  constructor(length: number) {
    checkLength(length);
    this.length = length;
    const byteLength = Math.ceil(length / 8);
    this.words = new Uint32Array(Math.ceil(byteLength / 4));
    this.bytes = new Uint8Array(this.words.buffer, 0, byteLength);
  }

  /**
   * Parses the wire form. Needs exactly ceil(length/8) bytes and every spare trailing bit clear
   * (mainline closes the connection otherwise). The input is copied.
   */
  static fromBytes(bytes: Uint8Array, length: number): Bitfield {
    checkLength(length);
    const field = new Bitfield(length);
    if (bytes.length !== field.bytes.length) {
      throw new BitfieldError(
        'BAD_LENGTH',
        `a bitfield of ${length} bits needs ${field.bytes.length} bytes, got ${bytes.length}`,
      );
    }
    const spare = length & 7;
    if (spare !== 0 && (bytes[bytes.length - 1]! & (0xff >>> spare)) !== 0) {
      throw new BitfieldError('SPARE_BITS', `spare bits after bit ${length} must be zero`);
    }
    field.bytes.set(bytes);
    field.recount();
    return field;
  }

  /** A bitfield with every bit set (what a seed has). */
  static full(length: number): Bitfield {
    const field = new Bitfield(length);
    field.setAll();
    return field;
  }

  /** Number of wire bytes, ceil(length/8). */
  get byteLength(): number {
    return this.bytes.length;
  }

  /** Whether bit `index` is set. Throws OUT_OF_RANGE for anything but an integer in [0, length). */
  get(index: number): boolean {
    if (index >>> 0 !== index || index >= this.length) outOfRange(index, this.length);
    return (this.bytes[index >>> 3]! & (0x80 >>> (index & 7))) !== 0;
  }

  /** Sets bit `index` to `value` (default true). Returns true if the bit changed. */
  set(index: number, value = true): boolean {
    if (index >>> 0 !== index || index >= this.length) outOfRange(index, this.length);
    const i = index >>> 3;
    const mask = 0x80 >>> (index & 7);
    const old = this.bytes[i]!;
    if (value) {
      if ((old & mask) !== 0) return false;
      this.bytes[i] = old | mask;
      this.setCount++;
    } else {
      if ((old & mask) === 0) return false;
      this.bytes[i] = old & ~mask;
      this.setCount--;
    }
    return true;
  }

  /** Clears bit `index`. Returns true if the bit changed. */
  clear(index: number): boolean {
    return this.set(index, false);
  }

  /** Number of set bits. O(1). */
  count(): number {
    return this.setCount;
  }

  /** Every bit set (true for length 0). O(1). */
  isComplete(): boolean {
    return this.setCount === this.length;
  }

  /** No bit set. O(1). */
  isEmpty(): boolean {
    return this.setCount === 0;
  }

  /** Sets every bit. */
  setAll(): void {
    this.bytes.fill(0xff);
    const spare = this.length & 7;
    if (spare !== 0) this.bytes[this.bytes.length - 1] = (0xff << (8 - spare)) & 0xff;
    this.setCount = this.length;
  }

  /** Clears every bit. */
  clearAll(): void {
    this.words.fill(0);
    this.setCount = 0;
  }

  /** A copy of the wire form: ceil(length/8) bytes, spare bits zero. */
  toBytes(): Uint8Array {
    return this.bytes.slice();
  }

  /** An independent copy. */
  clone(): Bitfield {
    const copy = new Bitfield(this.length);
    copy.words.set(this.words);
    copy.setCount = this.setCount;
    return copy;
  }

  /** The first set index >= `from` (default 0), or -1. Skips zero words. */
  nextSet(from = 0): number {
    if (from < 0) from = 0;
    if (!(from < this.length)) return -1;
    from = Math.floor(from);
    const bytes = this.bytes;
    const n = bytes.length;
    let i = from >>> 3;
    const head = bytes[i]! & (0xff >>> (from & 7));
    if (head !== 0) return i * 8 + firstBit(head);
    i++;
    while (i < n && (i & 3) !== 0) {
      const b = bytes[i]!;
      if (b !== 0) return i * 8 + firstBit(b);
      i++;
    }
    if (i >= n) return -1;
    const words = this.words;
    let w = i >>> 2;
    while (w < words.length && words[w] === 0) w++;
    for (i = w * 4; i < n; i++) {
      const b = bytes[i]!;
      if (b !== 0) return i * 8 + firstBit(b);
    }
    return -1;
  }

  /** The first clear index >= `from` (default 0), or -1. Skips all-ones words. */
  nextUnset(from = 0): number {
    if (from < 0) from = 0;
    if (!(from < this.length)) return -1;
    from = Math.floor(from);
    const bytes = this.bytes;
    const n = bytes.length;
    let found = -1;
    let i = from >>> 3;
    const head = ~bytes[i]! & (0xff >>> (from & 7));
    if (head !== 0) {
      found = i * 8 + firstBit(head);
    } else {
      i++;
      while (i < n && (i & 3) !== 0 && found < 0) {
        const b = ~bytes[i]! & 0xff;
        if (b !== 0) found = i * 8 + firstBit(b);
        i++;
      }
      if (found < 0 && i < n) {
        const words = this.words;
        let w = i >>> 2;
        while (w < words.length && words[w] === 0xffffffff) w++;
        for (i = w * 4; i < n && found < 0; i++) {
          const b = ~bytes[i]! & 0xff;
          if (b !== 0) found = i * 8 + firstBit(b);
        }
      }
    }
    return found < this.length ? found : -1;
  }

  /** Set indices in ascending order; whole zero words are skipped. */
  *setIndices(): IterableIterator<number> {
    const words = this.words;
    const bytes = this.bytes;
    for (let w = 0; w < words.length; w++) {
      if (words[w] === 0) continue;
      const end = Math.min(w * 4 + 4, bytes.length);
      for (let i = w * 4; i < end; i++) {
        let b = bytes[i]!;
        while (b !== 0) {
          const k = firstBit(b);
          yield i * 8 + k;
          b &= ~(0x80 >>> k);
        }
      }
    }
  }

  /** Clear indices in ascending order; whole all-ones words are skipped. */
  *unsetIndices(): IterableIterator<number> {
    const words = this.words;
    const bytes = this.bytes;
    const length = this.length;
    for (let w = 0; w < words.length; w++) {
      if (words[w] === 0xffffffff) continue;
      const end = Math.min(w * 4 + 4, bytes.length);
      for (let i = w * 4; i < end; i++) {
        let b = ~bytes[i]! & 0xff;
        while (b !== 0) {
          const k = firstBit(b);
          const index = i * 8 + k;
          if (index >= length) return;
          yield index;
          b &= ~(0x80 >>> k);
        }
      }
    }
  }

  /** Every bit as a boolean, index 0 first. */
  *[Symbol.iterator](): IterableIterator<boolean> {
    const bytes = this.bytes;
    for (let index = 0; index < this.length; index++) {
      yield (bytes[index >>> 3]! & (0x80 >>> (index & 7))) !== 0;
    }
  }

  /**
   * Whether this has a bit that `other` lacks ("does the peer have a piece we don't?").
   * Word-wise; stops at the first hit. Throws BAD_LENGTH if the lengths differ.
   */
  hasAnyNotIn(other: Bitfield): boolean {
    if (other.length !== this.length) lengthMismatch(this.length, other.length);
    const a = this.words;
    const b = other.words;
    for (let w = 0; w < a.length; w++) {
      if ((a[w]! & ~b[w]!) !== 0) return true;
    }
    return false;
  }

  /** Number of bits set here and clear in `other`. Word-wise. */
  countNotIn(other: Bitfield): number {
    if (other.length !== this.length) lengthMismatch(this.length, other.length);
    const a = this.words;
    const b = other.words;
    let total = 0;
    for (let w = 0; w < a.length; w++) total += popcount32(a[w]! & ~b[w]!);
    return total;
  }

  /** Whether some bit is set in both. Word-wise. */
  intersects(other: Bitfield): boolean {
    if (other.length !== this.length) lengthMismatch(this.length, other.length);
    const a = this.words;
    const b = other.words;
    for (let w = 0; w < a.length; w++) {
      if ((a[w]! & b[w]!) !== 0) return true;
    }
    return false;
  }

  /** Same length and same bits. */
  equals(other: Bitfield): boolean {
    if (other.length !== this.length || other.setCount !== this.setCount) return false;
    const a = this.words;
    const b = other.words;
    for (let w = 0; w < a.length; w++) if (a[w] !== b[w]) return false;
    return true;
  }

  /** A new bitfield: bits set in both. */
  and(other: Bitfield): Bitfield {
    return this.combine(other, (x, y) => x & y);
  }

  /** A new bitfield: bits set in either. */
  or(other: Bitfield): Bitfield {
    return this.combine(other, (x, y) => x | y);
  }

  /** A new bitfield: bits set here and clear in `other`. */
  andNot(other: Bitfield): Bitfield {
    return this.combine(other, (x, y) => x & ~y);
  }

  private combine(other: Bitfield, op: (x: number, y: number) => number): Bitfield {
    if (other.length !== this.length) lengthMismatch(this.length, other.length);
    const out = new Bitfield(this.length);
    const a = this.words;
    const b = other.words;
    const c = out.words;
    for (let w = 0; w < a.length; w++) c[w] = op(a[w]!, b[w]!);
    out.recount();
    return out;
  }

  private recount(): void {
    const words = this.words;
    let total = 0;
    for (let w = 0; w < words.length; w++) total += popcount32(words[w]!);
    this.setCount = total;
  }
}
