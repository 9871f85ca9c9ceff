import fc from 'fast-check';
import { bytesLike } from './bytes.js';

/** A decoded bencode value, with dictionaries of the caller's type (e.g. `BencodeDict`). */
export type BencodeShape<D> = number | bigint | Uint8Array | BencodeShape<D>[] | D;

/**
 * Any value a strict decode can produce: safe integers, bigints beyond them, byte strings, lists
 * and dictionaries with distinct byte keys (made by `dict`, so the caller's own class is used).
 */
export function bencodeValue<D>(dict: (entries: [Uint8Array, BencodeShape<D>][]) => D): fc.Arbitrary<BencodeShape<D>> {
  return fc.letrec<{ value: BencodeShape<D> }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
      fc.bigInt({ min: -(2n ** 100n), max: 2n ** 100n }).filter((n) => n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)),
      fc.uint8Array({ maxLength: 40 }),
      fc.array(tie('value'), { maxLength: 5 }),
      fc
        .uniqueArray(fc.tuple(fc.uint8Array({ maxLength: 8 }), tie('value')), {
          maxLength: 5,
          selector: ([k]) => Buffer.from(k).toString('hex'),
        })
        .map((entries) => dict(entries)),
    ),
  })).value;
}

/** Random bytes, or random runs of bencode's own characters. */
export const bencodeishBytes: fc.Arbitrary<Uint8Array> = bytesLike('ilde0123456789:-x');
