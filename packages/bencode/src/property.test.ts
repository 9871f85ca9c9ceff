import { bencodeValue, bencodeishBytes } from '@mainline/arbitraries';
import fc from 'fast-check';
import { BencodeDict, BencodeError, decode, encode, type BencodeValue } from './index.js';

/** Arbitrary decoded values: what a strict decode can produce. */
const valueArb: fc.Arbitrary<BencodeValue> = bencodeValue((entries) => new BencodeDict(entries));

/** Structural comparison of decoded values (dicts by raw key bytes). */
function normalize(v: BencodeValue): unknown {
  if (v instanceof Uint8Array) return ['b', Buffer.from(v).toString('hex')];
  if (Array.isArray(v)) return ['l', v.map(normalize)];
  if (v instanceof BencodeDict) {
    return [
      'd',
      [...v.entries()]
        .map(([k, x]) => [Buffer.from(k).toString('hex'), normalize(x)] as const)
        .sort((a, b) => Buffer.compare(Buffer.from(a[0], 'hex'), Buffer.from(b[0], 'hex'))),
    ];
  }
  return ['i', String(v)];
}

describe('properties', () => {
  test('decode(encode(v)) equals v, and encode(decode(x)) equals x', () => {
    fc.assert(
      fc.property(valueArb, (v) => {
        const bytes = encode(v);
        const back = decode(bytes);
        expect(normalize(back)).toEqual(normalize(v));
        expect(Buffer.from(encode(back)).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  test('random bytes only ever raise BencodeError', () => {
    fc.assert(
      fc.property(bencodeishBytes, fc.boolean(), (bytes, strict) => {
        try {
          decode(bytes, { strict });
        } catch (e) {
          if (!(e instanceof BencodeError)) throw e;
        }
      }),
      { numRuns: 5000 },
    );
  });

  test('mutations of valid encodings only ever raise BencodeError', () => {
    fc.assert(
      fc.property(valueArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (v, at, byte) => {
        const bytes = Buffer.from(encode(v));
        bytes[at % bytes.length] = byte;
        try {
          decode(bytes);
        } catch (e) {
          if (!(e instanceof BencodeError)) throw e;
        }
        try {
          decode(bytes.subarray(0, at % bytes.length));
        } catch (e) {
          if (!(e instanceof BencodeError)) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });
});
