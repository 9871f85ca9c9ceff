import { bitfieldOf as bitfieldWith, cuts, frame, splitAt, wireChunks, wireFrame, wireStream } from '@mainline/arbitraries';
import type { Bitfield } from '@mainline/bitfield';
import { encode } from '@mainline/bencode';
import fc from 'fast-check';
import {
  encodeHandshake,
  encodeMessage,
  encodeMessages,
  makeReserved,
  ProtocolError,
  WireReader,
  type Message,
  type ProtocolErrorCode,
  type WireLimits,
  type WireReaderOptions,
} from './index.js';

const N = 37; // pieces
const LIMITS: WireLimits = { numPieces: N, pieceLength: 32768, totalLength: 32768 * 36 + 1000 };

interface Decoded {
  messages: Message[];
  infoHash?: Uint8Array;
  peerId?: Uint8Array;
}

function reader(options: WireReaderOptions = {}): { r: WireReader; out: Decoded } {
  const out: Decoded = { messages: [] };
  const r = new WireReader(
    {
      onInfoHash: (ih) => (out.infoHash = ih),
      onPeerId: (id) => (out.peerId = id),
      onMessage: (m) => out.messages.push(m),
    },
    { handshake: false, fast: true, extended: true, limits: LIMITS, ...options },
  );
  return { r, out };
}

const bytes = (...chunks: Uint8Array[]): Buffer => Buffer.concat(chunks);
const wire = (...msgs: Message[]): Buffer => bytes(...msgs.flatMap((m) => encodeMessage(m)));

function u32s(...n: number[]): Buffer {
  const b = Buffer.alloc(4 * n.length);
  n.forEach((v, i) => b.writeUInt32BE(v, 4 * i));
  return b;
}

/** A JSON-comparable form of a message. */
function norm(m: Message): unknown {
  switch (m.type) {
    case 'bitfield':
      return { type: m.type, bits: Buffer.from(m.bitfield.toBytes()).toString('hex') };
    case 'piece':
      return { ...m, block: Buffer.from(m.block).toString('hex') };
    case 'extended':
      return { ...m, payload: Buffer.from(m.payload).toString('hex') };
    case 'extended-handshake':
      return { type: m.type, m: [...m.handshake.m], v: m.handshake.v, p: m.handshake.p, reqq: m.handshake.reqq };
    default:
      return m;
  }
}

function expectCode(fn: () => void, code: ProtocolErrorCode): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(ProtocolError);
  expect((caught as ProtocolError).code).toBe(code);
}

function bitfieldOf(indices: number[]): Bitfield {
  return bitfieldWith(N, indices);
}

const EXT_HS: Message = {
  type: 'extended-handshake',
  handshake: { m: new Map([['ut_metadata', 3], ['ut_pex', 1]]), v: 'mainline 0.1', p: 6881, reqq: 250 },
};

const ALL_KINDS: Message[] = [
  { type: 'bitfield', bitfield: bitfieldOf([0, 5, 36]) },
  EXT_HS,
  { type: 'keep-alive' },
  { type: 'choke' },
  { type: 'unchoke' },
  { type: 'interested' },
  { type: 'not-interested' },
  { type: 'have', index: 36 },
  { type: 'request', index: 3, begin: 16384, length: 16384 },
  { type: 'piece', index: 36, begin: 0, block: Buffer.alloc(1000, 0xab) },
  { type: 'cancel', index: 3, begin: 16384, length: 16384 },
  { type: 'port', port: 6881 },
  { type: 'suggest', index: 1 },
  { type: 'reject', index: 2, begin: 0, length: 16384 },
  { type: 'allowed-fast', index: 4 },
  { type: 'extended', id: 3, payload: Buffer.from('d8:msg_typei0e5:piecei0ee') },
];

describe('round trip', () => {
  test('every message kind decodes to what was encoded', () => {
    const { r, out } = reader();
    r.push(wire(...ALL_KINDS));
    expect(out.messages.map(norm)).toEqual(ALL_KINDS.map(norm));
  });

  test('have all / have none', () => {
    for (const t of ['have-all', 'have-none'] as const) {
      const { r, out } = reader();
      r.push(wire({ type: t }, { type: 'have', index: 1 }));
      expect(out.messages.map((m) => m.type)).toEqual([t, 'have']);
    }
  });

  test('handshake then messages, with features from both reserved fields', () => {
    const ih = Buffer.alloc(20, 1);
    const id = Buffer.alloc(20, 2);
    const { r, out } = reader({ handshake: true, fast: undefined, extended: undefined, localReserved: makeReserved({ fast: true, extended: true }) });
    r.push(bytes(encodeHandshake(ih, id, makeReserved({ fast: true })), wire({ type: 'have-none' })));
    expect(Buffer.from(out.infoHash as Uint8Array)).toEqual(ih);
    expect(Buffer.from(out.peerId as Uint8Array)).toEqual(id);
    expect(r.fast).toBe(true);
    expect(r.extended).toBe(false);
    expect(out.messages).toEqual([{ type: 'have-none' }]);
  });

  test('encodeMessages: same bytes as one by one, small ones joined, payloads left uncopied', () => {
    const requests: Message[] = Array.from({ length: 32 }, (_, i) => ({ type: 'request', index: i % N, begin: 16384 * (i % 2), length: 16384 }));
    const batch = encodeMessages(requests);
    expect(batch).toHaveLength(1);
    expect(batch[0]).toHaveLength(32 * 17);
    expect(Buffer.from(batch[0] as Uint8Array)).toEqual(wire(...requests));

    const block = Buffer.alloc(1000, 0xab);
    const mixed: Message[] = [...ALL_KINDS.slice(0, 9), { type: 'piece', index: 36, begin: 0, block }, ...ALL_KINDS.slice(10)];
    const chunks = encodeMessages(mixed);
    expect(Buffer.concat(chunks)).toEqual(wire(...mixed));
    expect(chunks).toContain(block); // the block itself, not a copy
    expect(chunks.length).toBeLessThan(mixed.flatMap((m) => encodeMessage(m)).length);
    const { r, out } = reader();
    for (const c of chunks) r.push(c);
    expect(out.messages.map(norm)).toEqual(mixed.map(norm));
    expect(encodeMessages([])).toEqual([]);
  });

  test('a piece inside one chunk is a view; one spanning chunks is one copy', () => {
    const block = Buffer.alloc(16384, 7);
    const stream = wire({ type: 'piece', index: 0, begin: 0, block });
    const one = reader();
    one.r.push(stream);
    const m1 = one.out.messages[0] as Extract<Message, { type: 'piece' }>;
    expect(m1.block.buffer).toBe(stream.buffer);
    expect(m1.block.byteOffset).toBe(stream.byteOffset + 13);

    const two = reader();
    const a = stream.subarray(0, 5000);
    const b = stream.subarray(5000);
    two.r.push(a);
    expect(two.out.messages).toHaveLength(0);
    expect(two.r.buffered).toBe(5000 - 4); // the length prefix is consumed, the body is kept as is
    two.r.push(b);
    const m2 = two.out.messages[0] as Extract<Message, { type: 'piece' }>;
    expect(m2.block.buffer).not.toBe(a.buffer);
    expect(Buffer.from(m2.block)).toEqual(block);
  });
});

describe('a bad request on a fast connection is an invalid-request message (answered with a reject), not an error', () => {
  test.each([
    ['piece out of range', u32s(N, 0, 16384), /piece 37, but there are 37/],
    ['past the piece end', u32s(0, 32768 - 100, 16384), /runs past the piece end/],
    ['over 128 KiB', u32s(0, 0, 2 ** 17 + 1), /request of 131073 bytes/],
    ['0 bytes', u32s(0, 0, 0), /request of 0 bytes/],
  ])('%s', (_name, body, reason) => {
    const { r, out } = reader();
    r.push(bytes(frame(6, body), frame(2)));
    const [index, begin, length] = [body.readUInt32BE(0), body.readUInt32BE(4), body.readUInt32BE(8)];
    expect(out.messages).toEqual([{ type: 'invalid-request', index, begin, length, reason: expect.stringMatching(reason) }, { type: 'interested' }]);
  });

  test('a reject is not checked against the torrent (it may echo a bad request); the swarm matches it to its requests', () => {
    const { r, out } = reader();
    r.push(frame(16, u32s(N, 32768 - 100, 16384)));
    expect(out.messages).toEqual([{ type: 'reject', index: N, begin: 32768 - 100, length: 16384 }]);
  });

  test('it cannot be sent', () => {
    expect(() => encodeMessage({ type: 'invalid-request', index: 0, begin: 0, length: 0, reason: 'x' })).toThrow(/never sent/);
  });
});

describe('malformed input yields the right ProtocolError', () => {
  const cases: [string, Buffer, ProtocolErrorCode, WireReaderOptions][] = [
    ['frame over 8 MiB', u32s(2 ** 23 + 1), 'FRAME_TOO_LONG', {}],
    ['frame over a custom maximum', u32s(1025), 'FRAME_TOO_LONG', { limits: { ...LIMITS, maxFrameLength: 1024 } }],
    ['choke with a body', frame(0, [1]), 'BAD_MESSAGE_LENGTH', {}],
    ['have with 3 bytes', frame(4, [0, 0, 1]), 'BAD_MESSAGE_LENGTH', {}],
    ['request with 11 bytes', frame(6, new Uint8Array(11)), 'BAD_MESSAGE_LENGTH', {}],
    ['piece without data', frame(7, new Uint8Array(8)), 'BAD_MESSAGE_LENGTH', {}],
    ['port with 1 byte', frame(9, [1]), 'BAD_MESSAGE_LENGTH', {}],
    ['extended without an id', frame(20), 'BAD_MESSAGE_LENGTH', {}],
    ['piece with a block over 128 KiB', frame(7, [], 9 + 2 ** 17 + 1), 'BAD_MESSAGE_LENGTH', {}],
    ['extended message over 1 MiB', frame(20, [], 1 + 2 ** 20 + 1), 'BAD_MESSAGE_LENGTH', {}],
    ['bitfield over 1 MiB while the piece count is unknown', frame(5, [], 1 + 2 ** 20 + 1), 'BAD_BITFIELD', { limits: { numPieces: 0, piecesUnknown: true } }],
    ['extended message over a custom maximum', frame(20, [], 1 + 65), 'BAD_MESSAGE_LENGTH', { limits: { ...LIMITS, maxExtendedLength: 64 } }],
    ['unknown id', frame(99, [1, 2]), 'UNKNOWN_MESSAGE', {}],
    ['have out of range', frame(4, u32s(N)), 'INDEX_OUT_OF_RANGE', {}],
    ['request out of range', frame(6, u32s(N, 0, 16384)), 'INDEX_OUT_OF_RANGE', { fast: false }],
    ['piece out of range', frame(7, bytes(u32s(N, 0), Buffer.alloc(4))), 'INDEX_OUT_OF_RANGE', {}],
    ['cancel out of range', frame(8, u32s(0xffffffff, 0, 1)), 'INDEX_OUT_OF_RANGE', {}],
    ['suggest out of range', frame(13, u32s(N)), 'INDEX_OUT_OF_RANGE', {}],
    ['allowed fast out of range', frame(17, u32s(N)), 'INDEX_OUT_OF_RANGE', {}],
    ['request past the piece end', frame(6, u32s(0, 32768 - 100, 16384)), 'BLOCK_OUT_OF_RANGE', { fast: false }],
    ['request past the short last piece', frame(6, u32s(N - 1, 0, 1001)), 'BLOCK_OUT_OF_RANGE', { fast: false }],
    ['piece past the piece end', frame(7, bytes(u32s(N - 1, 999), Buffer.alloc(2))), 'BLOCK_OUT_OF_RANGE', {}],
    ['request over 128 KiB', frame(6, u32s(0, 0, 2 ** 17 + 1)), 'BAD_REQUEST_LENGTH', { fast: false }],
    ['request of 0 bytes', frame(6, u32s(0, 0, 0)), 'BAD_REQUEST_LENGTH', { fast: false }],
    ['bitfield of the wrong size', frame(5, new Uint8Array(4)), 'BAD_BITFIELD', {}],
    ['bitfield with spare bits', frame(5, [0, 0, 0, 0, 0x01]), 'BAD_BITFIELD', {}],
    ['bitfield without a piece of an earlier have', bytes(frame(4, u32s(1)), frame(5, new Uint8Array(5))), 'PIECES_WITHDRAWN', {}],
    ['second bitfield without a piece of the first', bytes(frame(5, [0x80, 0, 0, 0, 0]), frame(5, [0x40, 0, 0, 0, 0])), 'PIECES_WITHDRAWN', {}],
    ['bitfield short of everything after have all', bytes(frame(14), frame(5, [0xff, 0xff, 0xff, 0xff, 0])), 'PIECES_WITHDRAWN', {}],
    ['have none after a bitfield with pieces', bytes(frame(5, [0, 0, 1, 0, 0]), frame(15)), 'PIECES_WITHDRAWN', {}],
    ['have none after have all', bytes(frame(14), frame(15)), 'PIECES_WITHDRAWN', {}],
    ['have all without fast', frame(14), 'FAST_NOT_NEGOTIATED', { fast: false }],
    ['reject without fast', frame(16, u32s(0, 0, 1)), 'FAST_NOT_NEGOTIATED', { fast: false }],
    ['extended without BEP 10', frame(20, [0, 0x64, 0x65]), 'EXTENSION_NOT_NEGOTIATED', { extended: false }],
    ['extended before the extension handshake', frame(20, [3, 1, 2]), 'MESSAGE_BEFORE_HANDSHAKE', {}],
    ['extension handshake not bencode', frame(20, bytes(Buffer.from([0]), Buffer.from('d1:m'))), 'BAD_EXTENSION_HANDSHAKE', {}],
    ['extension handshake a list', frame(20, bytes(Buffer.from([0]), encode([1, 2]))), 'BAD_EXTENSION_HANDSHAKE', {}],
    ['extension handshake m not a dict', frame(20, bytes(Buffer.from([0]), encode({ m: 5 }))), 'BAD_EXTENSION_HANDSHAKE', {}],
    ['handshake length byte', Buffer.from([18, ...Buffer.from('BitTorrent protoco')]), 'ENCRYPTED_HANDSHAKE', { handshake: true }],
    ['text (an HTTP request)', Buffer.from('GET / HTTP/1.1\r\n\r\n'), 'BAD_HANDSHAKE', { handshake: true }],
    ['an MSE key exchange (96 random bytes)', Buffer.from([62, ...Array.from({ length: 95 }, (_, i) => (i * 37) & 0xff)]), 'ENCRYPTED_HANDSHAKE', { handshake: true }],
    ['handshake protocol string', Buffer.from([19, ...Buffer.from('BitTorrent protocoL')]), 'BAD_HANDSHAKE', { handshake: true }],
    ['a message instead of the handshake', frame(2), 'ENCRYPTED_HANDSHAKE', { handshake: true }],
  ];

  // Every row has all 4 entries: jest treats a missing last argument as a `done` callback.
  test.each(cases)('%s', (_name, input, code, options) => {
    const { r, out } = reader(options);
    expectCode(() => r.push(input), code);
    expect(r.stopped).toBe(true);
    r.push(frame(1)); // ignored after the error
    expect(out.messages.filter((m) => m.type === 'unchoke')).toHaveLength(0);
  });

  test('fixed-size and oversize frames are refused from their header, before the body arrives', () => {
    const { r } = reader();
    expectCode(() => r.push(frame(0, [], 1 + 1_000_000)), 'BAD_MESSAGE_LENGTH'); // a 1 MB "choke"
    const b = reader();
    expectCode(() => b.r.push(frame(5, [], 1 + 1_000_000)), 'BAD_BITFIELD');
    const c = reader();
    expectCode(() => c.r.push(u32s(2 ** 31)), 'FRAME_TOO_LONG');
  });

  test('keep-alives, port and extended messages may come before the bitfield', () => {
    const { r, out } = reader();
    r.push(bytes(u32s(0), wire(EXT_HS, { type: 'port', port: 1 }, { type: 'bitfield', bitfield: bitfieldOf([1]) })));
    expect(out.messages.map((m) => m.type)).toEqual(['keep-alive', 'extended-handshake', 'port', 'bitfield']);
  });

  test("a later bitfield that restates the peer's pieces is accepted (aria2 1.36 sends one instead of haves)", () => {
    // Captured from aria2c leeching from us: extended handshake, have none, allowed fast ×10,
    // interested, then a bitfield after each piece it completed (it never sends a have here).
    const { r, out } = reader();
    const fast = Array.from({ length: 10 }, (_, i): Message => ({ type: 'allowed-fast', index: i }));
    r.push(wire(EXT_HS, { type: 'have-none' }, ...fast, { type: 'interested' }, { type: 'bitfield', bitfield: bitfieldOf([22]) }));
    r.push(wire({ type: 'have', index: 3 }, { type: 'bitfield', bitfield: bitfieldOf([3, 22, 23]) }, { type: 'bitfield', bitfield: bitfieldOf([3, 22, 23]) }));
    r.push(wire({ type: 'have-all' }, { type: 'bitfield', bitfield: bitfieldWith(N, Array.from({ length: N }, (_, i) => i)) }, { type: 'have-all' }));
    const bitfields = out.messages.filter((m): m is Extract<Message, { type: 'bitfield' }> => m.type === 'bitfield');
    expect(bitfields.map((m) => m.bitfield.count())).toEqual([1, 3, 3, N]);
    expect(out.messages.filter((m) => m.type === 'have-all')).toHaveLength(2);
  });

  test('before the metadata (piece count unknown) later bitfields are passed on unchecked', () => {
    const { r, out } = reader({ limits: { numPieces: 0, piecesUnknown: true } });
    r.push(wire({ type: 'have', index: 5 }, { type: 'bitfield', bitfield: bitfieldWith(16, []) }));
    expect(out.messages.map((m) => m.type)).toEqual(['have', 'bitfield']);
  });

  test('an extension handshake tolerates odd values and unsorted keys', () => {
    const { r, out } = reader();
    // keys out of order, a non-integer id and an out-of-range port: ignored, not fatal
    const payload = Buffer.from('d1:v3:abc1:md6:ut_pexi1e3:badi999e4:nope3:xyze1:pi70000ee');
    r.push(frame(20, bytes(Buffer.from([0]), payload)));
    const m = out.messages[0] as Extract<Message, { type: 'extended-handshake' }>;
    expect([...m.handshake.m]).toEqual([['ut_pex', 1]]);
    expect(m.handshake.v).toBe('abc');
    expect(m.handshake.p).toBeUndefined();
  });
});

describe('fuzz', () => {
  const arbStream = wireStream(N);

  test('any chunking of a valid stream decodes to the same messages', () => {
    fc.assert(
      fc.property(arbStream, cuts, ({ first, rest }, points) => {
        // The extension handshake goes first so extended messages are valid.
        const msgs: Message[] = [...(first ? [first] : []), EXT_HS, ...rest];
        const hs = encodeHandshake(Buffer.alloc(20, 9), Buffer.alloc(20, 8), makeReserved({ fast: true, extended: true }));
        const stream = bytes(hs, wire(...msgs));
        const whole = reader({ handshake: true });
        whole.r.push(stream);
        const pieces = reader({ handshake: true });
        for (const c of splitAt(stream, points)) pieces.r.push(c);
        expect(whole.out.messages.map(norm)).toEqual(msgs.map(norm));
        expect(pieces.out.messages.map(norm)).toEqual(msgs.map(norm));
        expect(Buffer.from(pieces.out.peerId as Uint8Array)).toEqual(Buffer.alloc(20, 8));
      }),
      { numRuns: 300 },
    );
  });

  test('transient chunks (one reused buffer, scribbled over after each push) decode the same', () => {
    fc.assert(
      fc.property(arbStream, cuts, ({ first, rest }, points) => {
        const msgs: Message[] = [...(first ? [first] : []), EXT_HS, ...rest];
        const hs = encodeHandshake(Buffer.alloc(20, 9), Buffer.alloc(20, 8), makeReserved({ fast: true, extended: true }));
        const stream = bytes(hs, wire(...msgs));
        const shared = Buffer.alloc(stream.length);
        // A block is only valid during onMessage: take its hex there; everything else is kept as is
        // and only looked at after the buffer was overwritten many times.
        const seen: unknown[] = [];
        const r = new WireReader(
          { onMessage: (m) => seen.push(m.type === 'piece' ? norm(m) : m) },
          { handshake: true, transient: true, limits: LIMITS, localReserved: makeReserved({ fast: true, extended: true }) },
        );
        for (const c of splitAt(stream, points)) {
          shared.set(c);
          r.push(shared.subarray(0, c.length));
          shared.fill(0xee);
        }
        expect(seen.map((m) => ((m as Message).type === 'piece' ? m : norm(m as Message)))).toEqual(msgs.map(norm));
      }),
      { numRuns: 300 },
    );
  });

  function onlyProtocolErrors(chunks: Uint8Array[], options: WireReaderOptions): void {
    const { r, out } = reader(options);
    try {
      for (const c of chunks) r.push(c);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
    }
    for (const m of out.messages) expect(typeof m.type).toBe('string');
  }

  test('random bytes give only messages or a ProtocolError', () => {
    fc.assert(
      fc.property(wireChunks, fc.boolean(), fc.boolean(), (chunks, fast, extended) => {
        onlyProtocolErrors(chunks, { fast, extended });
      }),
      { numRuns: 1000 },
    );
  });

  test('random frames (plausible lengths and ids) give only messages or a ProtocolError', () => {
    fc.assert(
      fc.property(fc.array(wireFrame, { maxLength: 12 }), fc.boolean(), (frames, fast) => {
        onlyProtocolErrors(frames, { fast, extended: true });
      }),
      { numRuns: 2000 },
    );
  });

  test('random bytes after a valid handshake give only messages or a ProtocolError', () => {
    const hs = encodeHandshake(Buffer.alloc(20, 1), Buffer.alloc(20, 2), makeReserved({ fast: true, extended: true }));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (tail, cut) => {
        const stream = bytes(hs, tail);
        const at = cut % (stream.length + 1);
        onlyProtocolErrors([stream.subarray(0, at), stream.subarray(at)], {
          handshake: true,
          fast: undefined,
          extended: undefined,
          localReserved: makeReserved({ fast: true, extended: true }),
        });
      }),
      { numRuns: 1000 },
    );
  });
});
