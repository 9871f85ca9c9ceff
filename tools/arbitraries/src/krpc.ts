import fc from 'fast-check';
import type { PlainBencode } from './tracker.js';

/** Bytes of exactly `n`, or (rarely) of a wrong length: ids, info-hashes, compact entries. */
const sized = (n: number): fc.Arbitrary<Uint8Array> =>
  fc.oneof({ weight: 6, arbitrary: fc.uint8Array({ minLength: n, maxLength: n }) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: n + 3 }) });

const int = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 70_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: -3, max: 3 }) },
  { weight: 1, arbitrary: fc.bigInt({ min: 2n ** 53n, max: 2n ** 62n }) },
);
/** Any field may come with the wrong type. */
const wrong: fc.Arbitrary<PlainBencode> = fc.oneof(int, fc.string({ maxLength: 6 }), fc.constant([] as PlainBencode[]), fc.constant({} as { [k: string]: PlainBencode }));
const or = <T extends PlainBencode>(good: fc.Arbitrary<T>): fc.Arbitrary<PlainBencode> => fc.oneof({ weight: 8, arbitrary: good }, { weight: 1, arbitrary: wrong });

/** `n` compact entries of `size` bytes, sometimes a few bytes off. */
const compact = (size: number, max: number): fc.Arbitrary<Uint8Array> =>
  fc
    .tuple(fc.integer({ min: 0, max }), fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: size - 1 }) }))
    .chain(([n, extra]) => fc.uint8Array({ minLength: n * size + extra, maxLength: n * size + extra }));

const args = fc.record(
  {
    id: or(sized(20)),
    target: or(sized(20)),
    info_hash: or(sized(20)),
    port: or(int),
    implied_port: or(fc.integer({ min: 0, max: 2 })),
    token: or(fc.uint8Array({ maxLength: 24 })),
    want: or(fc.array(fc.constantFrom('n4', 'n6', 'x'), { maxLength: 3 })),
    seed: or(fc.integer({ min: 0, max: 1 })),
  },
  { requiredKeys: ['id'] },
);

const body = fc.record(
  {
    id: or(sized(20)),
    nodes: or(compact(26, 8)),
    nodes6: or(compact(38, 8)),
    values: or(fc.array(fc.oneof(sized(6), sized(18)), { maxLength: 12 })),
    token: or(fc.uint8Array({ maxLength: 24 })),
    p: or(int),
  },
  { requiredKeys: ['id'] },
);

/** A transaction id: usually 2 bytes (what our node's replies match), sometimes anything. */
const tid = fc.oneof({ weight: 6, arbitrary: fc.uint8Array({ minLength: 2, maxLength: 2 }) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }) });

/**
 * A KRPC message (BEP 5, 32, 42, 43) as a plain object for the caller's bencode encoder: a query,
 * response or error with plausible fields, any of them sometimes missing or of the wrong type or length.
 */
export const krpcMessage: fc.Arbitrary<{ [key: string]: PlainBencode }> = fc.oneof(
  fc.record(
    {
      t: or(tid),
      y: or(fc.constant('q')),
      q: or(fc.constantFrom('ping', 'find_node', 'get_peers', 'announce_peer', 'vote', 'sample_infohashes')),
      a: or(args),
      ro: or(fc.integer({ min: 0, max: 1 })),
      v: or(fc.uint8Array({ maxLength: 4 })),
    },
    { requiredKeys: ['t', 'y', 'q', 'a'] },
  ),
  fc.record(
    {
      t: or(tid),
      y: or(fc.constant('r')),
      r: or(body),
      ip: or(fc.oneof(sized(6), sized(18))),
      v: or(fc.uint8Array({ maxLength: 4 })),
    },
    { requiredKeys: ['t', 'y', 'r'] },
  ),
  fc.record({ t: or(tid), y: or(fc.constant('e')), e: or(fc.tuple(or(fc.integer({ min: 200, max: 210 })), or(fc.string({ maxLength: 20 })))) }, { requiredKeys: ['t', 'y', 'e'] }),
);
