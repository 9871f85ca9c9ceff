import fc from 'fast-check';

/** A value for a bencode encoder (plain objects for dictionaries): what a tracker could send. */
export type PlainBencode = number | bigint | string | Uint8Array | PlainBencode[] | { [key: string]: PlainBencode };

const int = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 4000 }) },
  { weight: 1, arbitrary: fc.integer({ min: -5, max: 0 }) },
  { weight: 1, arbitrary: fc.constantFrom(2 ** 31, 2 ** 32, Number.MAX_SAFE_INTEGER) },
  { weight: 1, arbitrary: fc.bigInt({ min: 2n ** 53n, max: 2n ** 70n }) },
);
/** Any field may come with the wrong type. */
const wrong = fc.oneof(fc.string({ maxLength: 8 }), fc.constant([] as PlainBencode[]), fc.constant({} as { [key: string]: PlainBencode }));
const intField = fc.oneof({ weight: 5, arbitrary: int }, { weight: 1, arbitrary: wrong });
const textField = fc.oneof({ weight: 5, arbitrary: fc.string({ maxLength: 20 }) }, { weight: 1, arbitrary: fc.oneof(int, fc.uint8Array({ maxLength: 8 })) });

/** `n` compact entries of `size` bytes, sometimes a few bytes off (a bad length). */
const compact = (size: number): fc.Arbitrary<Uint8Array> =>
  fc
    .tuple(fc.integer({ min: 0, max: 12 }), fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: size - 1 }) }))
    .chain(([n, extra]) => fc.uint8Array({ minLength: n * size + extra, maxLength: n * size + extra }));

const dictPeer = fc.record(
  {
    ip: fc.oneof(fc.constantFrom('1.2.3.4', '::1', 'host.example', '', '0.0.0.0'), fc.string({ maxLength: 16 }), int),
    port: fc.oneof(fc.integer({ min: -1, max: 70_000 }), wrong),
    'peer id': fc.oneof(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.uint8Array({ maxLength: 24 }), int),
  },
  { requiredKeys: [] },
);

const announceFields = {
  'failure reason': textField,
  'retry in': fc.oneof(int, fc.constantFrom('never', 'soon')),
  'warning message': textField,
  interval: intField,
  'min interval': intField,
  'tracker id': fc.oneof(fc.uint8Array({ maxLength: 12 }), int),
  complete: intField,
  incomplete: intField,
  'num peers': intField,
  'done peers': intField,
  last: intField,
  'external ip': fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ maxLength: 20 }), int),
  peers: fc.oneof({ weight: 3, arbitrary: compact(6) }, { weight: 2, arbitrary: fc.array(dictPeer, { maxLength: 6 }) }, { weight: 1, arbitrary: fc.oneof(int, fc.constant({})) }),
  peers6: fc.oneof({ weight: 3, arbitrary: compact(18) }, { weight: 1, arbitrary: fc.oneof(int, fc.array(dictPeer, { maxLength: 2 })) }),
};

/**
 * An announce reply as a tracker might write it (BEP 3, 7, 23, 24, 31; mainline's extras): mostly
 * a plausible one (an interval and compact peers, other fields now and then, often wrong), else
 * any mix of the fields.
 */
export const announceReply: fc.Arbitrary<{ [key: string]: PlainBencode }> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 4000 }), compact(6), fc.record(announceFields, { requiredKeys: [] }), fc.nat(9))
      .map(([interval, peers, extra, keep]) => {
        // Keep a few of the extra fields only, so that most replies stay valid.
        const picked = Object.fromEntries(Object.entries(extra).filter((_, i) => i % 10 === keep));
        return { interval, peers, ...picked };
      }),
  },
  { weight: 1, arbitrary: fc.record(announceFields, { requiredKeys: [] }) },
);

/** A scrape reply (BEP 48): `files` keyed by 20-byte info-hashes (as latin-1 strings), or not. */
export const scrapeReply: fc.Arbitrary<{ [key: string]: PlainBencode }> = fc.record(
  {
    'failure reason': textField,
    files: fc.oneof(
      {
        weight: 5,
        arbitrary: fc
          .array(
            fc.tuple(
              fc.oneof(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.uint8Array({ maxLength: 40 })).map((k) => Buffer.from(k).toString('latin1')),
              fc.record({ complete: intField, incomplete: intField, downloaded: intField, name: textField }, { requiredKeys: [] }),
            ),
            { maxLength: 4 },
          )
          .map((entries) => Object.fromEntries(entries)),
      },
      { weight: 1, arbitrary: wrong },
    ),
    flags: fc.oneof(fc.record({ min_request_interval: intField }, { requiredKeys: [] }), wrong),
  },
  { requiredKeys: [] },
);

/** What a UDP tracker reply answers: its datagram, the action we asked for, our address family, the hashes scraped. */
export interface UdpReplyCase {
  datagram: Uint8Array;
  /** 0 connect, 1 announce, 2 scrape. */
  expect: 0 | 1 | 2;
  family: 4 | 6;
  /** Number of info-hashes a scrape asked about. */
  hashes: number;
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

/** A BEP 15 reply: mostly the expected action with a body of about the right size, sometimes an error, another action or junk. */
export const udpReply: fc.Arbitrary<UdpReplyCase> = fc
  .record({
    expect: fc.constantFrom(0 as const, 1 as const, 2 as const),
    family: fc.constantFrom(4 as const, 6 as const),
    hashes: fc.integer({ min: 1, max: 5 }),
    action: fc.oneof({ weight: 6, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.constantFrom(0, 1, 2, 3) }, { weight: 1, arbitrary: fc.nat() }),
    tid: fc.nat(),
    head: fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
    entries: fc.integer({ min: 0, max: 8 }),
    tail: fc.uint8Array({ maxLength: 20 }),
    cut: fc.oneof({ weight: 4, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat(120) }),
  })
  .map(({ expect, family, hashes, action, tid, head, entries, tail, cut }) => {
    const act = action === -1 ? expect : action;
    let body: Buffer;
    if (act === 3) body = Buffer.from(tail);
    else if (expect === 0) body = Buffer.from(tail.subarray(0, 8));
    else if (expect === 1) body = Buffer.concat([...head.map(u32), Buffer.alloc(entries * (family === 6 ? 18 : 6), 7), tail.subarray(0, tail.length % 3)]);
    else body = Buffer.concat([Buffer.alloc(hashes * 12, 1), tail.subarray(0, tail.length % 4)]);
    const datagram = Buffer.concat([u32(act), u32(tid), body]);
    return { datagram: cut < 0 ? datagram : datagram.subarray(0, cut), expect, family, hashes };
  });
