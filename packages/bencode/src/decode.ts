import { BencodeDict } from './dict.js';
import { BencodeError, type BencodeErrorCode, type BencodeValue } from './types.js';
import { keyId } from './text.js';

export interface DecodeOptions {
  /**
   * Strict (default) rejects everything mainline rejects: leading zeros, `i-0e`, unsorted or
   * duplicate keys, trailing bytes. Lenient accepts those (later duplicates win) for reading
   * sloppy real-world files; truncation, bad syntax and the depth limit always fail.
   */
  strict?: boolean;
  /** Deepest nesting of lists and dicts allowed (default 256), so hostile input cannot exhaust the stack. */
  maxDepth?: number;
  /** Longest integer literal in digits (default 1024): bigint parsing is superlinear. */
  maxIntegerDigits?: number;
}

const DEFAULT_MAX_DEPTH = 256;
const DEFAULT_MAX_INTEGER_DIGITS = 1024;

const CH_i = 0x69;
const CH_l = 0x6c;
const CH_d = 0x64;
const CH_e = 0x65;
const CH_colon = 0x3a;
const CH_minus = 0x2d;
const CH_0 = 0x30;
const CH_9 = 0x39;

function describe(byte: number | undefined): string {
  if (byte === undefined) return 'end of input';
  if (byte >= 0x20 && byte < 0x7f) return `'${String.fromCharCode(byte)}'`;
  return `byte 0x${byte.toString(16).padStart(2, '0')}`;
}

class Decoder {
  pos = 0;
  constructor(
    readonly src: Uint8Array,
    readonly strict: boolean,
    readonly maxDepth: number,
    readonly maxIntegerDigits: number,
  ) {}

  fail(code: BencodeErrorCode, message: string, at = this.pos): never {
    throw new BencodeError(code, at, message);
  }

  value(depth: number): BencodeValue {
    const c = this.src[this.pos];
    if (c === undefined) this.fail('TRUNCATED', 'unexpected end of input, expected a value');
    if (c >= CH_0 && c <= CH_9) return this.bytes();
    if (c === CH_i) return this.integer();
    if (c === CH_l) return this.list(depth + 1);
    if (c === CH_d) return this.dict(depth + 1);
    return this.fail('UNEXPECTED_BYTE', `expected a value (i, l, d or a digit), found ${describe(c)}`);
  }

  /** Reads `<digits>:` and returns the string length. */
  length(): number {
    const src = this.src;
    const start = this.pos;
    let p = start;
    let n = 0;
    while (p < src.length) {
      const c = src[p]!;
      if (c < CH_0 || c > CH_9) break;
      n = n * 10 + (c - CH_0);
      p++;
    }
    const digits = p - start;
    if (p >= src.length) this.fail('TRUNCATED', 'unexpected end of input in a string length', p);
    if (src[p] !== CH_colon) this.fail('BAD_LENGTH', `expected ':' after a string length, found ${describe(src[p])}`, p);
    if (digits > 1 && src[start] === CH_0 && this.strict) this.fail('LEADING_ZERO', 'string length has a leading zero', start);
    // Beyond 15 digits the length cannot fit any input anyway (and loses float precision).
    if (digits > 15 || n > src.length - p - 1) {
      this.fail('TRUNCATED', `string of length ${digits > 15 ? 'over 10^15' : n} runs past the end of input`, start);
    }
    this.pos = p + 1;
    return n;
  }

  bytes(): Uint8Array {
    const n = this.length();
    const start = this.pos;
    this.pos += n;
    // A view into the input, never a copy: decoded torrents can be large. A plain Uint8Array
    // view is much cheaper to make than Buffer#subarray when the input is a Buffer.
    return new Uint8Array(this.src.buffer, this.src.byteOffset + start, n);
  }

  integer(): number | bigint {
    const src = this.src;
    const open = this.pos;
    let p = open + 1;
    let negative = false;
    if (src[p] === CH_minus) {
      negative = true;
      p++;
    }
    const first = p;
    let n = 0;
    while (p < src.length) {
      const c = src[p]!;
      if (c < CH_0 || c > CH_9) break;
      n = n * 10 + (c - CH_0);
      p++;
    }
    const digits = p - first;
    if (p >= src.length) this.fail('TRUNCATED', 'unexpected end of input in an integer', p);
    if (src[p] !== CH_e) this.fail('BAD_INTEGER', `integer contains ${describe(src[p])}`, p);
    if (digits === 0) this.fail('BAD_INTEGER', negative ? "integer '-' has no digits" : 'empty integer', open);
    if (this.strict) {
      if (src[first] === CH_0 && digits > 1) this.fail('LEADING_ZERO', 'integer has a leading zero', first);
      if (negative && src[first] === CH_0) this.fail('NEGATIVE_ZERO', 'negative zero is not a valid integer', open);
    }
    if (digits > this.maxIntegerDigits) {
      this.fail('INTEGER_TOO_LONG', `integer of ${digits} digits exceeds the limit of ${this.maxIntegerDigits}`, first);
    }
    this.pos = p + 1;
    if (digits <= 15) return negative && n !== 0 ? -n : n;
    let big = BigInt(Buffer.from(src.buffer, src.byteOffset + first, digits).toString('latin1'));
    if (negative) big = -big;
    return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  }

  list(depth: number): BencodeValue[] {
    if (depth > this.maxDepth) this.fail('DEPTH_EXCEEDED', `nesting deeper than ${this.maxDepth}`);
    this.pos++;
    const out: BencodeValue[] = [];
    const src = this.src;
    for (;;) {
      const c = src[this.pos];
      if (c === CH_e) break;
      if (c === undefined) this.fail('TRUNCATED', 'unexpected end of input in a list');
      out.push(this.value(depth));
    }
    this.pos++;
    return out;
  }

  dict(depth: number): BencodeDict {
    if (depth > this.maxDepth) this.fail('DEPTH_EXCEEDED', `nesting deeper than ${this.maxDepth}`);
    this.pos++;
    const out = new BencodeDict();
    const src = this.src;
    let prevStart = -1;
    let prevEnd = -1;
    for (;;) {
      const c = src[this.pos];
      if (c === CH_e) break;
      if (c === undefined) this.fail('TRUNCATED', 'unexpected end of input in a dictionary');
      if (c < CH_0 || c > CH_9) this.fail('NON_STRING_KEY', `dictionary key must be a byte string, found ${describe(c)}`);
      const keyAt = this.pos;
      const keyLen = this.length();
      const keyStart = this.pos;
      const keyEnd = keyStart + keyLen;
      this.pos = keyEnd;
      if (prevStart >= 0) {
        const order = compareRanges(src, prevStart, prevEnd, keyStart, keyEnd);
        if (order === 0 && this.strict) this.fail('DUPLICATE_KEY', 'duplicate dictionary key', keyAt);
        if (order > 0 && this.strict) this.fail('UNSORTED_KEYS', 'dictionary keys are not sorted', keyAt);
      }
      prevStart = keyStart;
      prevEnd = keyEnd;
      if (src[this.pos] === undefined) this.fail('TRUNCATED', 'dictionary key has no value');
      if (src[this.pos] === CH_e) this.fail('UNEXPECTED_BYTE', 'dictionary key has no value');
      const valueStart = this.pos;
      const value = this.value(depth);
      const id = keyId(src, keyStart, keyEnd);
      if (this.strict) out._append(id, keyStart, keyEnd, value, valueStart, this.pos, src);
      else out._put(id, keyStart, keyEnd, value, valueStart, this.pos, src);
    }
    this.pos++;
    return out;
  }
}

/** Raw byte order of two ranges of the same buffer: <0, 0 or >0. */
function compareRanges(src: Uint8Array, aStart: number, aEnd: number, bStart: number, bEnd: number): number {
  const aLen = aEnd - aStart;
  const bLen = bEnd - bStart;
  const n = Math.min(aLen, bLen);
  for (let i = 0; i < n; i++) {
    const d = src[aStart + i]! - src[bStart + i]!;
    if (d !== 0) return d;
  }
  return aLen - bLen;
}

/**
 * Decodes one bencoded value that must span the whole input. Byte strings are views into
 * `input` (no copies), so keep `input` unchanged while you use the result.
 * @throws BencodeError with the byte offset of the first problem.
 */
export function decode(input: Uint8Array, options: DecodeOptions = {}): BencodeValue {
  const { value, end } = decodePrefix(input, options);
  if (end !== input.length && options.strict !== false) {
    throw new BencodeError('TRAILING_BYTES', end, `${input.length - end} trailing byte(s) after the value`);
  }
  return value;
}

/** Decodes the value at the start of `input` and tells where it ends; bytes after it are left alone. */
export function decodePrefix(input: Uint8Array, options: DecodeOptions = {}): { value: BencodeValue; end: number } {
  if (!(input instanceof Uint8Array)) throw new TypeError('decode expects a Uint8Array');
  if (input.length === 0) throw new BencodeError('EMPTY', 0, 'empty input');
  const decoder = new Decoder(
    input,
    options.strict !== false,
    options.maxDepth ?? DEFAULT_MAX_DEPTH,
    options.maxIntegerDigits ?? DEFAULT_MAX_INTEGER_DIGITS,
  );
  const value = decoder.value(0);
  return { value, end: decoder.pos };
}
