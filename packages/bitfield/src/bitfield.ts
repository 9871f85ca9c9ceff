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

/** Fields of up to this many bits keep them in one number: a typed array costs ~200 bytes. */
const SMALL = 32;

/** The word of a small field of `length` bits with every bit set (the top `length` bits). */
function smallMask(length: number): number {
  return length === 0 ? 0 : -1 << (32 - length);
}

/** Bit `index` (0..31) of a small field's word: MSB first, like the wire form. */
function smallBit(index: number): number {
  return 1 << (31 - index);
}

/** The words of a complete big field (spare bits clear), for set algebra with a stored one. */
function onesWords(length: number): Uint32Array {
  const byteLength = Math.ceil(length / 8);
  const words = new Uint32Array(Math.ceil(byteLength / 4));
  fillOnes(new Uint8Array(words.buffer, 0, byteLength), length);
  return words;
}

/** Set while completeField() runs: the constructor then makes a complete field without bytes. */
let makingComplete = false;

/** A field with every bit set that stores nothing per bit. */
function completeField(length: number): Bitfield {
  makingComplete = true;
  try {
    return new Bitfield(length);
  } finally {
    makingComplete = false;
  }
}

/** All of `length` bits set in `bytes` (ceil(length/8) long), spare bits clear. */
function fillOnes(bytes: Uint8Array, length: number): void {
  bytes.fill(0xff);
  const spare = length & 7;
  if (spare !== 0) bytes[bytes.length - 1] = (0xff << (8 - spare)) & 0xff;
}

/** Whether the wire bytes of a `length`-bit field (more than 8 bits, spare bits clear) have every bit set. */
function isComplete(bytes: Uint8Array, length: number): boolean {
  const last = bytes.length - 1;
  for (let k = 0; k < last; k++) if (bytes[k] !== 0xff) return false;
  const spare = length & 7;
  return bytes[last] === (spare === 0 ? 0xff : (0xff << (8 - spare)) & 0xff);
}

/**
 * A fixed-length set of piece indices, in the BitTorrent wire form (MSB first: piece 0 is bit
 * 0x80 of byte 0). Spare trailing bits are always zero. The set-bit count is maintained on every
 * change, so `count()`, `isComplete()` and `isEmpty()` are O(1). The bytes sit in a buffer padded
 * to whole 32-bit words so scans and set algebra run a word at a time.
 *
 * Memory: a field of up to 32 bits keeps them in a number (no buffer at all), and a complete
 * one (a seed's, a seeding peer's) stores nothing per bit until a bit is cleared.
 */
export class Bitfield implements Iterable<boolean> {
  /** Number of bits (pieces). */
  readonly length: number;
  /**
   * Wire bytes, ceil(length/8) long, a view over the first bytes of `words`' buffer; only for a
   * field of more than 32 bits that is not complete (else undefined: see `bits`).
   */
  private bytes: Uint8Array | undefined;
  /** The same memory as whole words (padding bytes beyond `bytes` are always zero). */
  private words: Uint32Array | undefined;
  /**
   * Without `bytes`: the bits of a field of up to 32 bits, MSB first (bit i is the sign bit of
   * `bits << i`, spare bits zero); -1 for a bigger field (which is then complete).
   */
  private bits = 0;
  private setCount = 0;

  /** An all-clear bitfield of `length` bits; `length` must be an integer in [0, 2^31]. */
  constructor(length: number) {
    checkLength(length);
    this.length = length;
    if (makingComplete) {
      this.bits = length > SMALL ? -1 : smallMask(length);
      this.setCount = length;
    } else if (length > SMALL) {
      this.store();
    }
  }

  /**
   * Parses the wire form. Needs exactly ceil(length/8) bytes and every spare trailing bit clear
   * (mainline closes the connection otherwise). The input is copied (or not kept at all).
   */
  static fromBytes(bytes: Uint8Array, length: number): Bitfield {
    checkLength(length);
    const byteLength = Math.ceil(length / 8);
    if (bytes.length !== byteLength) {
      throw new BitfieldError('BAD_LENGTH', `a bitfield of ${length} bits needs ${byteLength} bytes, got ${bytes.length}`);
    }
    const spare = length & 7;
    if (spare !== 0 && (bytes[bytes.length - 1]! & (0xff >>> spare)) !== 0) {
      throw new BitfieldError('SPARE_BITS', `spare bits after bit ${length} must be zero`);
    }
    if (length <= SMALL) {
      const field = new Bitfield(length);
      let bits = 0;
      for (let k = 0; k < byteLength; k++) bits |= bytes[k]! << (24 - 8 * k);
      field.bits = bits;
      field.setCount = popcount32(bits >>> 0);
      return field;
    }
    // A seed's field is never stored: look before copying.
    if (isComplete(bytes, length)) return completeField(length);
    const field = new Bitfield(length);
    field.bytes!.set(bytes);
    field.recount();
    return field;
  }

  /** A bitfield with every bit set (what a seed has); it stores nothing per bit. */
  static full(length: number): Bitfield {
    checkLength(length);
    return completeField(length);
  }

  /** Number of wire bytes, ceil(length/8). */
  get byteLength(): number {
    return Math.ceil(this.length / 8);
  }

  /** Whether bit `index` is set. Throws OUT_OF_RANGE for anything but an integer in [0, length). */
  get(index: number): boolean {
    if (index >>> 0 !== index || index >= this.length) outOfRange(index, this.length);
    const bytes = this.bytes;
    if (bytes !== undefined) return (bytes[index >>> 3]! & (0x80 >>> (index & 7))) !== 0;
    // A small field's own bit, or any bit of a complete big one (-1).
    return this.bits << (index & 31) < 0;
  }

  /** Sets bit `index` to `value` (default true). Returns true if the bit changed. */
  set(index: number, value = true): boolean {
    if (index >>> 0 !== index || index >= this.length) outOfRange(index, this.length);
    const bytes = this.bytes;
    if (bytes === undefined) return this.setUnstored(index, value);
    const i = index >>> 3;
    const mask = 0x80 >>> (index & 7);
    const old = bytes[i]!;
    if (value) {
      if ((old & mask) !== 0) return false;
      bytes[i] = old | mask;
      // Complete: nothing per bit is needed any more (until one is cleared).
      if (++this.setCount === this.length) this.unstore();
    } else {
      if ((old & mask) === 0) return false;
      bytes[i] = old & ~mask;
      this.setCount--;
    }
    return true;
  }

  /** set() on a field without bytes: a small one, or a complete big one (which gets bytes to clear a bit). */
  private setUnstored(index: number, value: boolean): boolean {
    const old = this.bits;
    if (this.length > SMALL) {
      if (value) return false;
      this.store();
      return this.set(index, false);
    }
    const mask = smallBit(index);
    if (((old & mask) !== 0) === value) return false;
    this.bits = value ? old | mask : old & ~mask;
    this.setCount += value ? 1 : -1;
    return true;
  }

  /** Gives a big field its bytes: all clear, or all set when it was complete without them. */
  private store(): Uint8Array {
    const byteLength = Math.ceil(this.length / 8);
    const words = new Uint32Array(Math.ceil(byteLength / 4));
    const bytes = new Uint8Array(words.buffer, 0, byteLength);
    if (this.bits !== 0) fillOnes(bytes, this.length);
    this.words = words;
    this.bytes = bytes;
    this.bits = 0;
    return bytes;
  }

  /** Drops the bytes of a big field that is complete. */
  private unstore(): void {
    this.bytes = undefined;
    this.words = undefined;
    this.bits = -1;
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

  /** Sets every bit (and frees a big field's bytes). */
  setAll(): void {
    if (this.length > SMALL) this.unstore();
    else this.bits = smallMask(this.length);
    this.setCount = this.length;
  }

  /** Clears every bit. */
  clearAll(): void {
    this.bits = 0;
    if (this.words !== undefined) this.words.fill(0);
    else if (this.length > SMALL) this.store();
    this.setCount = 0;
  }

  /** A copy of the wire form: ceil(length/8) bytes, spare bits zero. */
  toBytes(): Uint8Array {
    if (this.bytes !== undefined) return this.bytes.slice();
    const out = new Uint8Array(Math.ceil(this.length / 8));
    if (this.length > SMALL) {
      fillOnes(out, this.length);
    } else {
      for (let k = 0; k < out.length; k++) out[k] = this.bits >>> (24 - 8 * k);
    }
    return out;
  }

  /** An independent copy. */
  clone(): Bitfield {
    if (this.setCount === this.length) return completeField(this.length);
    const copy = new Bitfield(this.length);
    copy.bits = this.bits;
    copy.setCount = this.setCount;
    copy.words?.set(this.words!);
    return copy;
  }

  /** The first set index >= `from` (default 0), or -1. Skips zero words. */
  nextSet(from = 0): number {
    if (from < 0) from = 0;
    if (!(from < this.length)) return -1;
    from = Math.floor(from);
    const bytes = this.bytes;
    if (bytes === undefined) {
      if (this.length > SMALL) return from;
      const rest = this.bits & (0xffffffff >>> from);
      return rest === 0 ? -1 : Math.clz32(rest);
    }
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
    const words = this.words!;
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
    if (bytes === undefined) {
      if (this.length > SMALL) return -1;
      const rest = ~this.bits & smallMask(this.length) & (0xffffffff >>> from);
      return rest === 0 ? -1 : Math.clz32(rest);
    }
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
        const words = this.words!;
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
    if (words === undefined || bytes === undefined) {
      yield* this.unstoredIndices(true);
      return;
    }
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
    if (words === undefined || bytes === undefined) {
      yield* this.unstoredIndices(false);
      return;
    }
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

  /** Indices whose bit is `value`, for a field without bytes (read live, as the stored walk does). */
  private *unstoredIndices(value: boolean): IterableIterator<number> {
    if (this.length > SMALL && !value) return;
    for (let i = 0; i < this.length; i++) if (this.get(i) === value) yield i;
  }

  /** Every bit as a boolean, index 0 first. */
  *[Symbol.iterator](): IterableIterator<boolean> {
    const bytes = this.bytes;
    if (bytes === undefined) {
      for (let index = 0; index < this.length; index++) yield this.get(index);
      return;
    }
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
    if (this.setCount === 0 || other.setCount === other.length) return false;
    if (this.setCount === this.length || other.setCount === 0) return true;
    // Neither empty nor complete from here on: both small, or both with words.
    if (this.length <= SMALL) return (this.bits & ~other.bits) !== 0;
    const a = this.words!;
    const b = other.words!;
    for (let w = 0; w < a.length; w++) {
      if ((a[w]! & ~b[w]!) !== 0) return true;
    }
    return false;
  }

  /** Number of bits set here and clear in `other`. Word-wise. */
  countNotIn(other: Bitfield): number {
    if (other.length !== this.length) lengthMismatch(this.length, other.length);
    if (this.setCount === 0 || other.setCount === other.length) return 0;
    if (other.setCount === 0) return this.setCount;
    if (this.setCount === this.length) return this.length - other.setCount;
    if (this.length <= SMALL) return popcount32((this.bits & ~other.bits) >>> 0);
    const a = this.words!;
    const b = other.words!;
    let total = 0;
    for (let w = 0; w < a.length; w++) total += popcount32(a[w]! & ~b[w]!);
    return total;
  }

  /** Whether some bit is set in both. Word-wise. */
  intersects(other: Bitfield): boolean {
    if (other.length !== this.length) lengthMismatch(this.length, other.length);
    if (this.setCount === 0 || other.setCount === 0) return false;
    if (this.setCount === this.length || other.setCount === other.length) return true;
    if (this.length <= SMALL) return (this.bits & other.bits) !== 0;
    const a = this.words!;
    const b = other.words!;
    for (let w = 0; w < a.length; w++) {
      if ((a[w]! & b[w]!) !== 0) return true;
    }
    return false;
  }

  /** Same length and same bits. */
  equals(other: Bitfield): boolean {
    if (other.length !== this.length || other.setCount !== this.setCount) return false;
    if (this.setCount === 0 || this.setCount === this.length) return true;
    if (this.length <= SMALL) return this.bits === other.bits;
    const a = this.words!;
    const b = other.words!;
    for (let w = 0; w < a.length; w++) if (a[w] !== b[w]) return false;
    return true;
  }

  /** A new bitfield: bits set in both. */
  and(other: Bitfield): Bitfield {
    if (other.length !== this.length) lengthMismatch(this.length, other.length);
    if (this.setCount === 0 || other.setCount === other.length) return this.clone();
    if (other.setCount === 0 || this.setCount === this.length) return other.clone();
    return this.combine(other, (x, y) => x & y);
  }

  /** A new bitfield: bits set in either. */
  or(other: Bitfield): Bitfield {
    if (other.length !== this.length) lengthMismatch(this.length, other.length);
    if (this.setCount === 0 || other.setCount === other.length) return other.clone();
    if (other.setCount === 0 || this.setCount === this.length) return this.clone();
    return this.combine(other, (x, y) => x | y);
  }

  /** A new bitfield: bits set here and clear in `other`. */
  andNot(other: Bitfield): Bitfield {
    if (other.length !== this.length) lengthMismatch(this.length, other.length);
    if (this.setCount === 0 || other.setCount === 0) return this.clone();
    if (other.setCount === other.length) return new Bitfield(this.length);
    return this.combine(other, (x, y) => x & ~y);
  }

  /** Word by word; `other` is neither empty nor complete, this may be complete (andNot). */
  private combine(other: Bitfield, op: (x: number, y: number) => number): Bitfield {
    const out = new Bitfield(this.length);
    if (this.length <= SMALL) {
      out.bits = op(this.bits, other.bits) & smallMask(this.length);
      out.setCount = popcount32(out.bits >>> 0);
      return out;
    }
    const a = this.words ?? onesWords(this.length);
    const b = other.words!;
    const c = out.words!;
    for (let w = 0; w < a.length; w++) c[w] = op(a[w]!, b[w]!);
    out.recount();
    return out;
  }

  /** Counts the stored bits; a field found complete gives its bytes up. */
  private recount(): void {
    const words = this.words!;
    let total = 0;
    for (let w = 0; w < words.length; w++) total += popcount32(words[w]!);
    this.setCount = total;
    if (total === this.length) this.unstore();
  }
}
