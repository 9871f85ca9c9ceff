import { randomBytes } from 'node:crypto';

/** Node ids and info-hashes are 20 bytes (160 bits). */
export const ID_BYTES = 20;
export const ID_BITS = 160;

/** A random 20-byte id. */
export function randomId(): Uint8Array {
  return new Uint8Array(randomBytes(ID_BYTES));
}

/** Lower-case hex of an id (or any bytes). */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

/** Number of leading bits `a` and `b` share (160 when equal). */
export function commonPrefixBits(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < ID_BYTES; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return ID_BITS;
}

/** Compares the XOR distances of `a` and `b` to `target`: <0 when `a` is closer, 0 when equal. */
export function compareDistance(target: Uint8Array, a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < ID_BYTES; i++) {
    const t = target[i]!;
    const d = (a[i]! ^ t) - (b[i]! ^ t);
    if (d !== 0) return d;
  }
  return 0;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A random id sharing exactly `bits` leading bits with `base` (bit `bits` flipped, the rest random),
 * i.e. one that falls into the bucket of depth `bits`; `bits` = 160 gives `base` itself.
 */
export function randomIdAtDepth(base: Uint8Array, bits: number): Uint8Array {
  if (bits >= ID_BITS) return Uint8Array.from(base);
  const out = randomId();
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) out[i] = base[i]!;
  const rest = bits & 7;
  // Keep the first `rest` bits of the byte from base, flip the next one, keep the random tail.
  const keepMask = (0xff00 >> rest) & 0xff;
  const flipBit = 0x80 >> rest;
  const b = base[whole]!;
  out[whole] = (b & keepMask) | (~b & flipBit) | (out[whole]! & ~(keepMask | flipBit) & 0xff);
  return out;
}
