import { createConnection, type Socket } from 'node:net';
import { ManualClock } from '@mainline/rate';
import {
  encodeHandshake,
  encodeMessage,
  makeReserved,
  WireHub,
  type Message,
  type PeerCloseReason,
  type PeerConnection,
  type PeerHandler,
  type TorrentWire,
  type WireHubOptions,
  type WireLogEvent,
} from './index.js';

const T1 = Buffer.alloc(20, 0x11);
const T2 = Buffer.alloc(20, 0x22);
const T3 = Buffer.alloc(20, 0x33);
const id = (c: string): Buffer => Buffer.from(`-ML0001-${c.repeat(12)}`);

async function eventually(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A torrent that records its peers and their messages. */
class TestTorrent implements TorrentWire {
  readonly limits = { numPieces: 10, pieceLength: 16384, totalLength: 16384 * 10 };
  readonly peers: PeerConnection[] = [];
  readonly messages: { peer: PeerConnection; message: Message }[] = [];
  readonly closed: { peer: PeerConnection; reason: PeerCloseReason; error?: Error }[] = [];
  readonly failedDials: { reason: PeerCloseReason; error?: Error }[] = [];
  constructor(readonly name: string) {}
  onPeer(peer: PeerConnection): PeerHandler {
    this.peers.push(peer);
    peer.send({ type: 'have-none' }); // the opening message, allowed in onPeer
    return {
      onMessage: (p, message) => this.messages.push({ peer: p, message }),
      onClose: (p, reason, error) => this.closed.push({ peer: p, reason, ...(error ? { error } : {}) }),
    };
  }
  extensionHandshake() {
    return { m: new Map([['ut_test', 7]]), v: `test ${this.name}`, reqq: 100 };
  }
  onConnectFailed(_host: string, _port: number, reason: PeerCloseReason, error?: Error): void {
    this.failedDials.push({ reason, ...(error ? { error } : {}) });
  }
  types(): string[] {
    return this.messages.map((m) => m.message.type);
  }
}

const hubs: WireHub[] = [];
const rawSockets: Socket[] = [];
afterEach(async () => {
  for (const s of rawSockets.splice(0)) s.destroy();
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

function hub(peerId: Buffer, options: Partial<WireHubOptions> = {}): { hub: WireHub; log: WireLogEvent[] } {
  const log: WireLogEvent[] = [];
  const h = new WireHub({ peerId, log: (e) => log.push(e), rawServer: { onError: () => undefined }, ...options });
  hubs.push(h);
  return { hub: h, log };
}

async function listening(h: WireHub): Promise<number> {
  return (await h.listen({ minPort: 0, hosts: ['127.0.0.1'] })).port;
}

function raw(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => resolve(s));
    s.on('error', reject);
    rawSockets.push(s);
  });
}

describe('handshake routing over loopback', () => {
  test('one port serves two torrents; messages reach the right one', async () => {
    const a = hub(id('a'));
    const a1 = new TestTorrent('a1');
    const a2 = new TestTorrent('a2');
    a.hub.addTorrent(T1, a1);
    a.hub.addTorrent(T2, a2);
    const port = await listening(a.hub);

    const b = hub(id('b'));
    const b1 = new TestTorrent('b1');
    const b2 = new TestTorrent('b2');
    b.hub.addTorrent(T1, b1);
    b.hub.addTorrent(T2, b2);
    b.hub.connect(T1, '127.0.0.1', port, { peerId: id('a') });
    b.hub.connect(T2, '127.0.0.1', port);

    await eventually(() => a1.peers.length === 1 && a2.peers.length === 1 && b1.peers.length === 1 && b2.peers.length === 1);
    const [p1] = a1.peers as [PeerConnection];
    expect(Buffer.from(p1.infoHash as Uint8Array)).toEqual(T1);
    expect(Buffer.from(p1.peerId as Uint8Array)).toEqual(id('b'));
    expect(p1.incoming).toBe(true);
    expect(p1.fast).toBe(true);
    expect(p1.extended).toBe(true);
    expect(Buffer.from((a2.peers[0] as PeerConnection).infoHash as Uint8Array)).toEqual(T2);

    // have-none from onPeer, then the extension handshake, on both sides.
    await eventually(() => a1.messages.length >= 2 && b1.messages.length >= 2 && a2.messages.length >= 2);
    expect(a1.types().slice(0, 2)).toEqual(['have-none', 'extended-handshake']);
    expect(b1.types().slice(0, 2)).toEqual(['have-none', 'extended-handshake']);
    expect(p1.peerExtensions?.v).toBe('test b1');
    expect(p1.peerExtensions?.m.get('ut_test')).toBe(7);

    (b1.peers[0] as PeerConnection).send({ type: 'have', index: 3 });
    (b2.peers[0] as PeerConnection).send({ type: 'interested' });
    const block = Buffer.alloc(16384, 5);
    (b1.peers[0] as PeerConnection).sendPiece(9, 0, block);
    await eventually(() => a1.types().includes('piece') && a2.types().includes('interested'));
    expect(a1.types()).toEqual(['have-none', 'extended-handshake', 'have', 'piece']);
    expect(a2.types()).toEqual(['have-none', 'extended-handshake', 'interested']);
    const piece = a1.messages[3]?.message as Extract<Message, { type: 'piece' }>;
    expect(Buffer.from(piece.block)).toEqual(block);
    expect(a.log).toEqual([]);
    expect(a.hub.isConnected(T1, id('b'))).toBe(true);
    expect(a.hub.peers(T2)).toHaveLength(1);
  });

  test('an unknown info-hash is dropped and logged; the dialler hears of the failure', async () => {
    const a = hub(id('a'));
    a.hub.addTorrent(T1, new TestTorrent('a1'));
    const port = await listening(a.hub);
    const b = hub(id('b'));
    const b3 = new TestTorrent('b3');
    b.hub.addTorrent(T3, b3);
    b.hub.connect(T3, '127.0.0.1', port);
    await eventually(() => a.log.length === 1 && b3.failedDials.length === 1);
    expect(a.log[0]).toMatchObject({ type: 'dropped', code: 'UNKNOWN_INFO_HASH', incoming: true, infoHash: T3.toString('hex') });
    expect(b3.failedDials[0]?.reason).toBe('remote-closed');
    expect(b3.peers).toHaveLength(0);
  });

  test('connecting to ourselves is dropped on both ends', async () => {
    const a = hub(id('a'));
    const t = new TestTorrent('a1');
    a.hub.addTorrent(T1, t);
    const port = await listening(a.hub);
    a.hub.connect(T1, '127.0.0.1', port);
    await eventually(() => a.log.filter((e) => e.code === 'SELF_CONNECTION').length >= 1 && a.hub.connectionCount === 0);
    expect(t.peers).toHaveLength(0);
    expect(t.failedDials).toHaveLength(1);
  });

  test('a duplicate peer id for the same torrent is dropped; the first connection stays', async () => {
    const a = hub(id('a'));
    const a1 = new TestTorrent('a1');
    a.hub.addTorrent(T1, a1);
    const port = await listening(a.hub);
    const b = hub(id('b'));
    const b1 = new TestTorrent('b1');
    b.hub.addTorrent(T1, b1);
    b.hub.connect(T1, '127.0.0.1', port);
    await eventually(() => a1.peers.length === 1 && b1.peers.length === 1);
    b.hub.connect(T1, '127.0.0.1', port);
    await eventually(() => a.log.some((e) => e.code === 'DUPLICATE_PEER'));
    await eventually(() => b.hub.connectionCount === 1 && a.hub.connectionCount === 1);
    expect(a1.peers).toHaveLength(1);
    expect(a1.closed).toHaveLength(0);
    expect(a.hub.peers(T1)).toHaveLength(1);
  });

  test('a peer id other than the tracker gave is dropped', async () => {
    const a = hub(id('a'));
    a.hub.addTorrent(T1, new TestTorrent('a1'));
    const port = await listening(a.hub);
    const b = hub(id('b'));
    const b1 = new TestTorrent('b1');
    b.hub.addTorrent(T1, b1);
    b.hub.connect(T1, '127.0.0.1', port, { peerId: id('z') });
    await eventually(() => b.log.length === 1);
    expect(b.log[0]?.code).toBe('PEER_ID_MISMATCH');
    expect(b1.failedDials[0]?.reason).toBe('protocol-error');
  });

  test('a protocol error drops only that peer; the other torrent on the port carries on', async () => {
    const a = hub(id('a'));
    const a1 = new TestTorrent('a1');
    const a2 = new TestTorrent('a2');
    a.hub.addTorrent(T1, a1);
    a.hub.addTorrent(T2, a2);
    const port = await listening(a.hub);
    const b = hub(id('b'));
    const b2 = new TestTorrent('b2');
    b.hub.addTorrent(T2, b2);
    b.hub.connect(T2, '127.0.0.1', port);

    const evil = await raw(port);
    evil.write(encodeHandshake(T1, id('e'), makeReserved({ fast: true })));
    await eventually(() => a1.peers.length === 1 && b2.peers.length === 1);
    const bad = Buffer.alloc(9);
    bad.writeUInt32BE(5, 0);
    bad[4] = 4; // have
    bad.writeUInt32BE(10, 5); // index 10 of 10 pieces
    evil.write(bad);
    await eventually(() => a1.closed.length === 1);
    expect(a1.closed[0]?.reason).toBe('protocol-error');
    expect(a.log).toEqual([expect.objectContaining({ code: 'INDEX_OUT_OF_RANGE', infoHash: T1.toString('hex') })]);
    (b2.peers[0] as PeerConnection).send({ type: 'have', index: 9 });
    await eventually(() => a2.types().includes('have'));
    expect(a2.closed).toHaveLength(0);
  });

  test('garbage instead of a handshake is BAD_HANDSHAKE; fast messages to a peer without BEP 6 are refused locally', async () => {
    const a = hub(id('a'));
    const a1 = new TestTorrent('a1');
    a.hub.addTorrent(T1, a1);
    const port = await listening(a.hub);
    const junk = await raw(port);
    junk.write(Buffer.concat(encodeMessage({ type: 'interested' })));
    await eventually(() => a.log.length === 1);
    expect(a.log[0]?.code).toBe('BAD_HANDSHAKE');

    // A plain BEP 3 peer (no reserved bits): we must not send it have-none.
    const plain = await raw(port);
    const received: Buffer[] = [];
    plain.on('data', (c: Buffer) => received.push(c));
    const failing = new TestTorrent('x');
    let refused: unknown;
    a.hub.removeTorrent(T1);
    a.hub.addTorrent(T1, {
      limits: failing.limits,
      onPeer: (peer) => {
        try {
          peer.send({ type: 'have-none' });
        } catch (err) {
          refused = err;
        }
        peer.send({ type: 'unchoke' });
        return { onMessage: () => undefined, onClose: () => undefined };
      },
    });
    plain.write(encodeHandshake(T1, id('p'), new Uint8Array(8)));
    await eventually(() => Buffer.concat(received).length >= 68 + 5);
    expect(refused).toMatchObject({ code: 'NOT_NEGOTIATED' });
    const got = Buffer.concat(received);
    expect(got.subarray(20, 28)).toEqual(Buffer.from(makeReserved({ fast: true, extended: true })));
    expect(got.subarray(68)).toEqual(Buffer.from([0, 0, 0, 1, 1])); // unchoke, no extension handshake
  });
});

describe('keep-alives and idle peers on a ManualClock', () => {
  test('keep-alive every 2 minutes; a silent peer is dropped by the inactivity timeout', async () => {
    const clock = new ManualClock();
    const a = hub(id('a'), { rawServer: { clock, onError: () => undefined } });
    const a1 = new TestTorrent('a1');
    a.hub.addTorrent(T1, a1);
    const port = await listening(a.hub);
    const silent = await raw(port);
    const received: Buffer[] = [];
    silent.on('data', (c: Buffer) => received.push(c));
    silent.write(encodeHandshake(T1, id('s'), makeReserved({ fast: true })));
    await eventually(() => a1.peers.length === 1 && Buffer.concat(received).length >= 68 + 5);
    const before = Buffer.concat(received).length; // our handshake + have-none
    clock.advance(119_999);
    await new Promise((r) => setTimeout(r, 30));
    expect(Buffer.concat(received).length).toBe(before);
    clock.advance(1);
    await eventually(() => Buffer.concat(received).length === before + 4);
    expect(Buffer.concat(received).subarray(before)).toEqual(Buffer.alloc(4)); // keep-alive
    // Nothing ever came from the peer after its handshake (t=0): closed at the first sweep after 300 s.
    clock.advance(180_000); // t=300 s
    expect(a1.closed).toHaveLength(0);
    clock.advance(60_000); // t=360 s
    expect(a1.closed.map((c) => c.reason)).toEqual(['timeout']);
  });
});
