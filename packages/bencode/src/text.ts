const strictDecoder = new TextDecoder('utf-8', { fatal: true });
const lenientDecoder = new TextDecoder('utf-8');
const encoder = new TextEncoder();

/** UTF-8 text of a byte string; invalid sequences become U+FFFD. For display. */
export function toText(bytes: Uint8Array): string {
  return lenientDecoder.decode(bytes);
}

/** UTF-8 text of a byte string, or undefined when the bytes are not valid UTF-8. */
export function toTextStrict(bytes: Uint8Array): string | undefined {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/** UTF-8 bytes of a string. */
export function toBytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * The Map key used for a dictionary key's bytes. Valid UTF-8 maps to its text; anything else
 * maps to a lone high surrogate followed by hex, which no valid UTF-8 can decode to, so the
 * mapping is exact and collision-free.
 */
export function keyId(src: Uint8Array, start: number, end: number): string {
  const len = end - start;
  let ascii = true;
  let hash = len;
  for (let i = start; i < end; i++) {
    const c = src[i]!;
    if (c >= 0x80) {
      ascii = false;
      break;
    }
    hash = (hash * 31 + c) | 0;
  }
  if (ascii) {
    // ASCII keys are the norm and repeat endlessly ("length", "path"): intern short ones.
    if (len > INTERN_MAX_LENGTH) return asciiSlice(src, start, end);
    const slot = hash & (INTERN_SLOTS - 1);
    const cached = internedBytes[slot];
    if (cached !== undefined && cached.length === len && sameBytes(cached, src, start)) return internedText[slot]!;
    const text = asciiSlice(src, start, end);
    internedBytes[slot] = src.slice(start, end);
    internedText[slot] = text;
    return text;
  }
  const text = toTextStrict(src.subarray(start, end));
  return text ?? NON_UTF8_MARK + Buffer.from(src.buffer, src.byteOffset + start, end - start).toString('hex');
}

const INTERN_SLOTS = 512;
const INTERN_MAX_LENGTH = 32;
const internedBytes: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(INTERN_SLOTS);
const internedText: (string | undefined)[] = new Array<string | undefined>(INTERN_SLOTS);

function sameBytes(a: Uint8Array, src: Uint8Array, start: number): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== src[start + i]) return false;
  return true;
}

// Buffer's native ASCII slice (what buf.toString('ascii') runs) works on any Uint8Array
// without wrapping it; fall back to TextDecoder should a Node version lack it.
const nativeAsciiSlice = (Buffer.prototype as unknown as { asciiSlice?: (this: Uint8Array, s: number, e: number) => string })
  .asciiSlice;

function asciiSlice(src: Uint8Array, start: number, end: number): string {
  return nativeAsciiSlice ? nativeAsciiSlice.call(src, start, end) : lenientDecoder.decode(src.subarray(start, end));
}

export const NON_UTF8_MARK = '\uD800';

export function keyIdOfBytes(bytes: Uint8Array): string {
  return keyId(bytes, 0, bytes.length);
}
