import { metadataMessage } from '@mainline/arbitraries';
import fc from 'fast-check';
import { encode } from '@mainline/bencode';
import {
  decodeMetadataMessage,
  encodeMetadataMessage,
  metadataPieceCount,
  metadataPieceLength,
  MetadataServer,
  ProtocolError,
  UT_METADATA_ID,
  WireReader,
  type Message,
  type MetadataMessage,
  type PeerConnection,
} from './index.js';

const KiB16 = 16384;
const raw = (obj: Record<string, number>, tail: Uint8Array = new Uint8Array(0)): Buffer => Buffer.concat([encode(obj), tail]);

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProtocolError) return err.code;
    throw err;
  }
  return 'no error';
}

describe('ut_metadata codec', () => {
  test('pieces: 16 KiB each, the last one the remainder', () => {
    expect(metadataPieceCount(1)).toBe(1);
    expect(metadataPieceCount(KiB16)).toBe(1);
    expect(metadataPieceCount(KiB16 + 1)).toBe(2);
    expect(metadataPieceLength(KiB16 * 2 + 5, 0)).toBe(KiB16);
    expect(metadataPieceLength(KiB16 * 2 + 5, 2)).toBe(5);
  });

  test('request, reject and data round-trip with the BEP 9 layout', () => {
    const request = encodeMetadataMessage({ type: 'request', piece: 1 });
    expect(request.toString('latin1')).toBe('d8:msg_typei0e5:piecei1ee');
    expect(encodeMetadataMessage({ type: 'reject', piece: 0 }).toString('latin1')).toBe('d8:msg_typei2e5:piecei0ee');
    const data = Buffer.alloc(5, 0x61);
    const wire = encodeMetadataMessage({ type: 'data', piece: 2, totalSize: 2 * KiB16 + 5, data });
    expect(wire.toString('latin1')).toBe(`d8:msg_typei1e5:piecei2e10:total_sizei${2 * KiB16 + 5}eeaaaaa`);
    expect(decodeMetadataMessage(request, 2 * KiB16)).toEqual({ type: 'request', piece: 1 });
    const back = decodeMetadataMessage(wire, 2 * KiB16 + 5);
    expect(back).toMatchObject({ type: 'data', piece: 2, totalSize: 2 * KiB16 + 5 });
    expect(Buffer.from((back as { data: Uint8Array }).data)).toEqual(data);
  });

  test('an unknown msg_type is ignored (BEP 9), not an error', () => {
    expect(decodeMetadataMessage(raw({ msg_type: 7, piece: 0 }))).toBeUndefined();
  });

  test('strict bounds: each violation is BAD_METADATA_MESSAGE', () => {
    const size = KiB16 + 10;
    const bad: [string, Buffer, number | undefined][] = [
      ['not bencode', Buffer.from('xyz'), size],
      ['not a dict', Buffer.from('i3e'), size],
      ['no piece', raw({ msg_type: 0 }), size],
      ['negative piece', Buffer.from('d8:msg_typei0e5:piecei-1ee'), size],
      ['request out of range', raw({ msg_type: 0, piece: 2 }), size],
      ['reject out of range', raw({ msg_type: 2, piece: 9 }), size],
      ['request past the 8 MiB cap', raw({ msg_type: 0, piece: 512 }), undefined],
      ['bytes after a request', raw({ msg_type: 0, piece: 0 }, Buffer.from('x')), size],
      ['data piece out of range', raw({ msg_type: 1, piece: 2, total_size: size }, Buffer.alloc(10)), size],
      ['data piece short', raw({ msg_type: 1, piece: 0, total_size: size }, Buffer.alloc(KiB16 - 1)), size],
      ['data piece long', raw({ msg_type: 1, piece: 0, total_size: size }, Buffer.alloc(KiB16 + 1)), size],
      ['last piece wrong size', raw({ msg_type: 1, piece: 1, total_size: size }, Buffer.alloc(11)), size],
      ['total_size differs from metadata_size', raw({ msg_type: 1, piece: 1, total_size: size + 1 }, Buffer.alloc(11)), size],
      ['total_size 0', raw({ msg_type: 1, piece: 0, total_size: 0 }), undefined],
      ['total_size over 8 MiB', raw({ msg_type: 1, piece: 0, total_size: 8 * 1024 * 1024 + 1 }, Buffer.alloc(KiB16)), undefined],
    ];
    for (const [what, payload, known] of bad) {
      expect({ what, code: code(() => decodeMetadataMessage(payload, known)) }).toEqual({ what, code: 'BAD_METADATA_MESSAGE' });
    }
  });

  test('fuzz: random bytes either parse within bounds or throw ProtocolError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }), (bytes, size) => {
        let msg: MetadataMessage | undefined;
        try {
          msg = decodeMetadataMessage(bytes, size);
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
          return;
        }
        if (msg && size !== undefined) expect(msg.piece).toBeLessThan(metadataPieceCount(size));
      }),
      { numRuns: 3000 },
    );
  });

  test('fuzz: well-formed dicts with random fields never escape the bounds', () => {
    fc.assert(
      fc.property(metadataMessage, ({ fields, tail }) => {
        const payload = Buffer.concat([encode(fields), Buffer.alloc(tail)]);
        let msg: MetadataMessage | undefined;
        try {
          msg = decodeMetadataMessage(payload);
        } catch (err) {
          expect(err).toBeInstanceOf(ProtocolError);
          return;
        }
        if (msg?.type === 'data') {
          expect(msg.data.length).toBe(metadataPieceLength(msg.totalSize, msg.piece));
          expect(msg.piece).toBeLessThan(metadataPieceCount(msg.totalSize));
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('MetadataServer', () => {
  /** Just what the server touches of a connection: state, congestion, the peer's `m`, send. */
  function stubPeer(replyId: number | undefined): { conn: PeerConnection; sent: MetadataMessage[]; congested: boolean } {
    const sent: MetadataMessage[] = [];
    const stub = {
      state: 'open',
      congested: false,
      peerExtensions: replyId === undefined ? undefined : { m: new Map([['ut_metadata', replyId]]) },
      send(m: Message) {
        if (m.type !== 'extended' || m.id !== replyId) throw new Error(`unexpected ${m.type}`);
        sent.push(decodeMetadataMessage(m.payload) as MetadataMessage);
        return true;
      },
    };
    return {
      conn: stub as unknown as PeerConnection,
      sent,
      set congested(v: boolean) {
        stub.congested = v;
      },
      get congested() {
        return stub.congested;
      },
    };
  }
  const metadata = Buffer.alloc(KiB16 + 100, 7);
  const request = (piece: number): Buffer => encodeMetadataMessage({ type: 'request', piece });

  test('advertises ut_metadata and metadata_size, answers with exact slices, rejects past its cap or when congested', () => {
    const srv = new MetadataServer(metadata, { maxPiecesPerPeer: 2 });
    const hs = srv.handshake({ reqq: 5 });
    expect(hs.m.get('ut_metadata')).toBe(UT_METADATA_ID);
    expect(hs.metadataSize).toBe(metadata.length);
    expect(hs.reqq).toBe(5);
    const p = stubPeer(9);
    srv.onExtended(p.conn, UT_METADATA_ID, request(1));
    srv.onExtended(p.conn, UT_METADATA_ID, request(0));
    p.congested = true;
    srv.onExtended(p.conn, UT_METADATA_ID, request(0));
    p.congested = false;
    srv.onExtended(p.conn, UT_METADATA_ID, request(0));
    expect(p.sent.map((m) => `${m.type}:${m.piece}`)).toEqual(['data:1', 'data:0', 'reject:0', 'reject:0']);
    const last = p.sent[0] as Extract<MetadataMessage, { type: 'data' }>;
    expect(Buffer.from(last.data).equals(metadata.subarray(KiB16))).toBe(true);
    // Another peer has its own allowance.
    const q = stubPeer(2);
    srv.onExtended(q.conn, UT_METADATA_ID, request(0));
    expect(q.sent.map((m) => m.type)).toEqual(['data']);
  });

  test('without metadata: no metadata_size, every request rejected; no reply to a peer without ut_metadata', () => {
    const srv = new MetadataServer(undefined);
    expect(srv.handshake().metadataSize).toBeUndefined();
    const p = stubPeer(1);
    srv.onExtended(p.conn, UT_METADATA_ID, request(0));
    expect(p.sent).toEqual([{ type: 'reject', piece: 0 }]);
    const silent = stubPeer(undefined);
    srv.onExtended(silent.conn, UT_METADATA_ID, request(0));
    expect(silent.sent).toEqual([]);
    // Other extensions are not ours.
    expect(srv.onExtended(p.conn, UT_METADATA_ID + 1, request(0))).toBeUndefined();
  });

  test('a peer that keeps asking past its allowance is dropped after 64 rejects (TOO_MANY_REQUESTS)', () => {
    const srv = new MetadataServer(metadata, { maxPiecesPerPeer: 2 });
    const p = stubPeer(3);
    for (let i = 0; i < 2 + 64; i++) srv.onExtended(p.conn, UT_METADATA_ID, request(0));
    expect(p.sent.filter((m) => m.type === 'reject')).toHaveLength(64);
    expect(code(() => srv.onExtended(p.conn, UT_METADATA_ID, request(0)))).toBe('TOO_MANY_REQUESTS');
    expect(p.sent).toHaveLength(66);
  });

  test('a malformed request is a ProtocolError (the hub drops that peer)', () => {
    const srv = new MetadataServer(metadata);
    expect(code(() => srv.onExtended(stubPeer(1).conn, UT_METADATA_ID, request(2)))).toBe('BAD_METADATA_MESSAGE');
  });
});

describe('WireReader before the metadata (piecesUnknown)', () => {
  test('takes a bitfield of any size and any have index, still bounds frames', () => {
    const got: Message[] = [];
    const reader = new WireReader({ onMessage: (m) => got.push(m) }, { handshake: false, limits: { numPieces: 0, piecesUnknown: true } });
    const frame = (id: number, body: number[]): Buffer => Buffer.from([0, 0, 0, body.length + 1, id, ...body]);
    reader.push(frame(5, [0xff, 0x80, 0x01]));
    reader.push(frame(4, [0, 1, 0, 0]));
    expect(got.map((m) => m.type)).toEqual(['bitfield', 'have']);
    expect((got[0] as Extract<Message, { type: 'bitfield' }>).bitfield.count()).toBe(10);
    expect((got[1] as Extract<Message, { type: 'have' }>).index).toBe(65536);
    expect(code(() => reader.push(Buffer.from([0x01, 0, 0, 0, 5])))).toBe('FRAME_TOO_LONG');
  });
});
