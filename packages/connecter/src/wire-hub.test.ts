import { createConnection, createServer, type Socket } from 'node:net';
import { ManualClock } from '@mainline/rate';
import { ConnectionGate, MemoryNetwork, type MemorySocket, type MemoryTransport } from '@mainline/rawserver';
import {
  encodeHandshake,
  encodeMessage,
  makeReserved,
  WireHub,
  type Message,
  type PeerCloseReason,
  type PeerConnection,
  type PeerHandler,
  type ProtocolError,
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

  test('two peers that dial each other at once keep the same connection (the one the lower peer id dialled)', async () => {
    // Each round both dial at the same moment; the handshakes complete in either order on either side.
    for (let round = 0; round < 30; round++) {
      const a = hub(id('a'));
      const b = hub(id('b'));
      const ta = new TestTorrent('a');
      const tb = new TestTorrent('b');
      a.hub.addTorrent(T1, ta);
      b.hub.addTorrent(T1, tb);
      const [pa, pb] = await Promise.all([listening(a.hub), listening(b.hub)]);
      a.hub.connect(T1, '127.0.0.1', pb);
      b.hub.connect(T1, '127.0.0.1', pa);
      await eventually(() => a.hub.connectionCount <= 1 && b.hub.connectionCount <= 1 && ta.peers.length + tb.peers.length >= 2);
      await eventually(() => a.hub.peers(T1).length === 1 && b.hub.peers(T1).length === 1);
      const [ca] = a.hub.peers(T1) as [PeerConnection];
      const [cb] = b.hub.peers(T1) as [PeerConnection];
      // One TCP connection seen from both ends, dialled by a (its id is the lower one).
      expect({ round, aDialled: !ca.incoming, bDialled: !cb.incoming, same: ca.socket.localPort === cb.remotePort }).toEqual({
        round,
        aDialled: true,
        bDialled: false,
        same: true,
      });
      await Promise.all(hubs.splice(0).map((h) => h.close()));
    }
  }, 30_000);

  test('a second connection with a known peer id, later than the simultaneous-open window, never replaces the first', async () => {
    // a's id is the lower: a prefers the connection it dials itself, and z the one a dials; yet
    // a's dial comes too late (the first is over 10 s old), so both keep the first.
    const clock = new ManualClock(0);
    const a = hub(id('a'), { rawServer: { onError: () => undefined, clock } });
    const ta = new TestTorrent('a');
    a.hub.addTorrent(T1, ta);
    const port = await listening(a.hub);
    const z = hub(id('z'), { rawServer: { onError: () => undefined, clock } });
    const tz = new TestTorrent('z');
    z.hub.addTorrent(T1, tz);
    const pz = await listening(z.hub);
    z.hub.connect(T1, '127.0.0.1', port);
    await eventually(() => ta.peers.length === 1 && tz.peers.length === 1);
    clock.advance(10_001);
    a.hub.connect(T1, '127.0.0.1', pz);
    await eventually(() => a.log.some((e) => e.code === 'DUPLICATE_PEER') || z.log.some((e) => e.code === 'DUPLICATE_PEER'));
    await eventually(() => a.hub.connectionCount === 1 && z.hub.connectionCount === 1);
    expect(ta.closed).toEqual([]);
    expect(tz.closed).toEqual([]);
    expect((a.hub.peers(T1)[0] as PeerConnection).incoming).toBe(true);
    expect((z.hub.peers(T1)[0] as PeerConnection).incoming).toBe(false);
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

  test('garbage instead of a handshake is ENCRYPTED_HANDSHAKE (not byte 19, like an MSE key exchange); fast messages to a peer without BEP 6 are refused locally', async () => {
    const a = hub(id('a'));
    const a1 = new TestTorrent('a1');
    a.hub.addTorrent(T1, a1);
    const port = await listening(a.hub);
    const junk = await raw(port);
    junk.write(Buffer.concat(encodeMessage({ type: 'interested' })));
    await eventually(() => a.log.length === 1);
    expect(a.log[0]?.code).toBe('ENCRYPTED_HANDSHAKE');

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

/** A hub on a ManualClock with torrent T1 registered, listening on loopback. */
async function clockedHub(options: Partial<WireHubOptions> = {}) {
  const clock = new ManualClock();
  const a = hub(id('a'), { ...options, rawServer: { clock, onError: () => undefined } });
  const a1 = new TestTorrent('a1');
  a.hub.addTorrent(T1, a1);
  const port = await listening(a.hub);
  return { clock, a, a1, port };
}

describe('keep-alives and idle peers on a ManualClock', () => {
  test('keep-alive every 2 minutes; a silent peer is dropped by the inactivity timeout', async () => {
    // No first-message deadline here: this is about the inactivity sweep (300 s) alone.
    const { clock, a1, port } = await clockedHub({ firstMessageTimeoutMs: 0 });
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

/** Resolves when the socket is closed by the other end (or errors). */
function whenClosed(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve();
    s.on('close', () => resolve());
    s.resume(); // a stream that is not flowing never sees the FIN
  });
}

/** Lets socket events of the real event loop through (ManualClock tests still use real sockets). */
const ioTurn = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

/** Our raw peers set the fast bit: TestTorrent's opening message is have-none. */
const FAST = makeReserved({ fast: true });

describe('deadlines on a ManualClock (issue 13: slots held by silent or slow sockets)', () => {
  test('an incoming socket that does not complete its handshake within 10 s is dropped, however it trickles', async () => {
    const { clock, a, port } = await clockedHub();
    const silent = await raw(port);
    const trickle = await raw(port);
    await eventually(() => a.hub.connectionCount === 2);
    const hs = encodeHandshake(T1, id('t'), FAST);
    // One byte every 2 s: the inactivity sweep would never fire; the handshake deadline does.
    for (let i = 0; i < 4; i++) {
      trickle.write(hs.subarray(i, i + 1));
      await ioTurn();
      clock.advance(2_000);
    }
    await ioTurn();
    expect(a.hub.connectionCount).toBe(2); // t = 8 s
    clock.advance(1_999);
    expect(a.hub.connectionCount).toBe(2);
    clock.advance(1); // t = 10 s
    await Promise.all([whenClosed(silent), whenClosed(trickle)]);
    expect(a.hub.connectionCount).toBe(0);
    expect(a.log.map((e) => [e.code, e.incoming])).toEqual([
      ['HANDSHAKE_TIMEOUT', true],
      ['HANDSHAKE_TIMEOUT', true],
    ]);
    expect(a.log[0]?.message).toMatch(/within 10 s/);
  });

  test('an outgoing connection whose peer never answers the handshake fails after 10 s; the torrent hears of it', async () => {
    const { clock, a, a1 } = await clockedHub();
    const accepted: Socket[] = [];
    const mute = createServer((s) => {
      s.on('error', () => undefined);
      accepted.push(s); // reads our handshake, says nothing
    });
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
    try {
      const port = (mute.address() as { port: number }).port;
      a.hub.connect(T1, '127.0.0.1', port);
      await eventually(() => accepted.length === 1);
      clock.advance(9_999);
      await ioTurn();
      expect(a1.failedDials).toHaveLength(0);
      clock.advance(1);
      expect(a1.failedDials.map((f) => [f.reason, (f.error as ProtocolError | undefined)?.code])).toEqual([['protocol-error', 'HANDSHAKE_TIMEOUT']]);
      expect(a.log[0]).toMatchObject({ code: 'HANDSHAKE_TIMEOUT', incoming: false });
    } finally {
      for (const s of accepted) s.destroy();
      await new Promise<void>((r) => mute.close(() => r()));
    }
  });

  test('after the handshake, a peer that sends only keep-alives for 30 s is dropped; any other message clears the deadline', async () => {
    const { clock, a, a1, port } = await clockedHub({ keepAliveIntervalMs: 0 });
    const mute = await raw(port);
    const talker = await raw(port);
    mute.write(encodeHandshake(T1, id('m'), FAST));
    talker.write(encodeHandshake(T1, id('k'), FAST));
    await eventually(() => a1.peers.length === 2);
    for (let t = 0; t < 29; t++) {
      mute.write(Buffer.alloc(4)); // keep-alive: not a message that counts
      if (t === 28) talker.write(Buffer.concat(encodeMessage({ type: 'interested' })));
      await ioTurn();
      clock.advance(1_000);
    }
    await eventually(() => a1.types().includes('interested'));
    clock.advance(1_000); // t = 30 s
    await whenClosed(mute);
    expect(a1.closed.map((c) => (c.error as ProtocolError | undefined)?.code)).toEqual(['FIRST_MESSAGE_TIMEOUT']);
    expect(a.log.map((e) => e.code)).toEqual(['FIRST_MESSAGE_TIMEOUT']);
    clock.advance(600_000); // the talker has no deadline left (nor an inactivity one: timeout is 300 s... it sent nothing since)
    expect(a1.closed.map((c) => (c.error as ProtocolError | undefined)?.code ?? c.reason)).toEqual(['FIRST_MESSAGE_TIMEOUT', 'timeout']);
    expect(() => hub(id('z'), { handshakeTimeoutMs: -1 })).toThrow(/handshakeTimeoutMs/);
  });
});

test('the deadlines on the system clock over real TCP: a trickling handshake and a mute peer go, a talking one stays', async () => {
  const a = hub(id('a'), { handshakeTimeoutMs: 300, firstMessageTimeoutMs: 300 });
  const a1 = new TestTorrent('a1');
  a.hub.addTorrent(T1, a1);
  const port = await listening(a.hub);
  const trickle = await raw(port);
  const mute = await raw(port);
  const talker = await raw(port);
  mute.write(encodeHandshake(T1, id('m'), FAST));
  talker.write(Buffer.concat([encodeHandshake(T1, id('k'), FAST), ...encodeMessage({ type: 'have-none' })]));
  const hs = encodeHandshake(T1, id('t'), FAST);
  let sent = 0;
  const timer = setInterval(() => trickle.write(hs.subarray(sent, ++sent)), 25);
  const started = Date.now();
  try {
    await Promise.all([whenClosed(trickle), whenClosed(mute)]);
  } finally {
    clearInterval(timer);
  }
  expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  expect(a.log.map((e) => e.code).sort()).toEqual(['FIRST_MESSAGE_TIMEOUT', 'HANDSHAKE_TIMEOUT']);
  await new Promise((r) => setTimeout(r, 400));
  expect(talker.destroyed).toBe(false);
  expect(a1.peers.filter((p) => p.state === 'open')).toHaveLength(1);
});

describe('a full server makes room (issue 13: 55 silent sockets locked every honest peer out)', () => {
  test('55 silent or trickling sockets fill max_allow_in: an honest peer gets in at once, the oldest is evicted', async () => {
    const a = hub(id('a'));
    const a1 = new TestTorrent('a1');
    a.hub.addTorrent(T1, a1);
    const port = await listening(a.hub);
    const silent: Socket[] = [];
    for (let i = 0; i < 55; i++) {
      silent.push(await raw(port));
      await eventually(() => a.hub.connectionCount === i + 1);
    }
    const oldestPort = silent[0]!.localPort;
    expect(a.hub.gate.count).toBe(55); // full (max_allow_in 55)
    // Half of them trickle their handshake, a byte every 20 ms: that keeps none of them in.
    const hs = encodeHandshake(T1, id('t'), FAST);
    let sent = 0;
    const trickle = setInterval(() => {
      if (sent < 60) silent.forEach((s, i) => i % 2 === 1 && !s.destroyed && s.write(hs.subarray(sent, sent + 1)));
      sent++;
    }, 20);
    try {
      await new Promise((r) => setTimeout(r, 100));
      const b = hub(id('b'));
      const b1 = new TestTorrent('b1');
      b.hub.addTorrent(T1, b1);
      const started = Date.now();
      b.hub.connect(T1, '127.0.0.1', port);
      await eventually(() => a1.peers.length === 1 && b1.peers.length === 1);
      expect(Date.now() - started).toBeLessThan(2_000);
      await whenClosed(silent[0]!);
    } finally {
      clearInterval(trickle);
    }
    expect(a.log).toEqual([expect.objectContaining({ code: 'EVICTED', incoming: true, remotePort: oldestPort })]);
    expect(a.hub.gate.count).toBe(55);
  });

  test('the same with handshaken peers that said nothing, then with peers their torrent calls idle', async () => {
    const a = hub(id('a'), { rawServer: { maxAllowIn: 3, onError: () => undefined } });
    let idle = false;
    const a1 = new (class extends TestTorrent {
      override onPeer(peer: PeerConnection): PeerHandler {
        return { ...super.onPeer(peer), idle: () => idle };
      }
    })('a1');
    a.hub.addTorrent(T1, a1);
    const port = await listening(a.hub);
    const peers: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await raw(port);
      s.write(encodeHandshake(T1, id(String(i)), FAST));
      peers.push(s);
      await eventually(() => a1.peers.length === i + 1);
    }
    // Handshaken but silent: the oldest makes room.
    const newcomer = await raw(port);
    newcomer.write(encodeHandshake(T1, id('n'), FAST));
    await eventually(() => a1.peers.length === 4);
    await whenClosed(peers[0]!);
    // Everyone talks now: nobody is evictable, a newcomer is refused...
    for (const s of [...peers.slice(1), newcomer]) s.write(Buffer.concat(encodeMessage({ type: 'interested' })));
    await eventually(() => a1.types().filter((t) => t === 'interested').length === 3);
    const refused = await raw(port);
    await whenClosed(refused);
    expect(a.hub.gate.refusedCount).toBe(1);
    // ...until the torrent says its peers are of no use: then the oldest of them goes.
    idle = true;
    const third = await raw(port);
    await eventually(() => a.hub.connectionCount === 3 && a1.closed.length === 2);
    expect(a1.closed[1]?.reason).toBe('evicted');
    expect(third.destroyed).toBe(false);
  });
});

describe('other transports: an in-memory network, no TCP, on a ManualClock', () => {
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
  async function until(check: () => boolean, what: string): Promise<void> {
    for (let i = 0; i < 500 && !check(); i++) await turn();
    if (!check()) throw new Error(`not within 500 turns: ${what}`);
  }

  /** A raw memory socket to `host:port` that records what the hub sends (it sends only what it is told). */
  function rawMemory(net: MemoryNetwork, from: string, port: number, to = '192.0.2.1') {
    const t: MemoryTransport = net.transport(from);
    t.attach({ clock: net.clock, gate: new ConnectionGate({ clock: net.clock, timeoutMs: 0 }), accept: () => undefined, reportError: () => undefined });
    const got: Buffer[] = [];
    let closed = false;
    const socket: MemorySocket = t.connect(to, port, { onData: (_s, c) => got.push(Buffer.from(c)), onClose: () => (closed = true) });
    return { socket, got, closed: () => closed };
  }

  test('two hubs over memory: handshake and messages, and every connection knows its transport', async () => {
    const clock = new ManualClock();
    const net = new MemoryNetwork({ clock });
    // A listens on two transports at one port: 'memory' and 'lan' (a second protocol, as uTP will be).
    const a = hub(id('a'), { clock, transports: [net.transport('192.0.2.1'), net.transport('192.0.2.1', { name: 'lan' })] });
    const a1 = new TestTorrent('a1');
    a.hub.addTorrent(T1, a1);
    const { port } = await a.hub.listen({ minPort: 6881, maxPort: 6881 });
    const b = hub(id('b'), { clock, transports: [net.transport('192.0.2.2')] });
    const b1 = new TestTorrent('b1');
    b.hub.addTorrent(T1, b1);
    const c = hub(id('c'), { clock, transports: [net.transport('192.0.2.3', { name: 'lan' })] });
    const c1 = new TestTorrent('c1');
    c.hub.addTorrent(T1, c1);
    b.hub.connect(T1, '192.0.2.1', port);
    c.hub.connect(T1, '192.0.2.1', port, { transport: 'lan' });
    await until(() => a1.peers.length === 2 && b1.peers.length === 1 && c1.peers.length === 1, 'both handshakes');
    expect(a1.peers.map((p) => [p.transport, p.remoteAddress, p.incoming]).sort()).toEqual([
      ['lan', '192.0.2.3', true],
      ['memory', '192.0.2.2', true],
    ]);
    expect(b1.peers[0]!.transport).toBe('memory');
    b1.peers[0]!.sendPiece(0, 0, Buffer.alloc(16384, 9));
    await until(() => a1.types().includes('piece'), 'the piece');
    expect(a1.types().slice(0, 2)).toEqual(['have-none', 'extended-handshake']);
    expect(() => b.hub.connect(T1, '192.0.2.1', port, { transport: 'utp' })).toThrow(/no transport named utp/);
    expect(() => hub(id('d'), { transports: [net.transport('192.0.2.4')], rawServer: { bind: '127.0.0.1' } })).toThrow(/bind: settings of the default TCP/);
    expect(clock.now()).toBe(0); // no clock time went by
  });

  test('the handshake deadline, the first-message deadline and the idle sweep hold for memory connections', async () => {
    const clock = new ManualClock();
    const net = new MemoryNetwork({ clock });
    const a = hub(id('a'), { clock, transports: [net.transport('192.0.2.1')], keepAliveIntervalMs: 0, rawServer: { onError: () => undefined } });
    const a1 = new TestTorrent('a1');
    a.hub.addTorrent(T1, a1);
    const { port } = await a.hub.listen({ minPort: 6881, maxPort: 6881 });
    const silent = rawMemory(net, '192.0.2.50', port);
    const mute = rawMemory(net, '192.0.2.51', port);
    const talker = rawMemory(net, '192.0.2.52', port);
    await until(() => a.hub.connectionCount === 3, 'three connections');
    mute.socket.write(encodeHandshake(T1, id('m'), FAST));
    talker.socket.write(Buffer.concat([encodeHandshake(T1, id('k'), FAST), ...encodeMessage({ type: 'interested' })]));
    await until(() => a1.peers.length === 2 && a1.types().includes('interested'), 'two handshakes');
    clock.advance(10_000);
    await until(() => silent.closed(), 'the silent one dropped');
    expect(a.log.map((e) => e.code)).toEqual(['HANDSHAKE_TIMEOUT']);
    clock.advance(20_000); // t = 30 s
    await until(() => mute.closed(), 'the mute one dropped');
    expect(a.log.map((e) => e.code)).toEqual(['HANDSHAKE_TIMEOUT', 'FIRST_MESSAGE_TIMEOUT']);
    clock.advance(330_000); // the talker sent nothing for 360 s: the idle sweep
    await until(() => talker.closed(), 'the talker timed out');
    expect(a1.closed.map((c) => (c.error as ProtocolError | undefined)?.code ?? c.reason)).toEqual(['FIRST_MESSAGE_TIMEOUT', 'timeout']);
  });

  test('a full hub evicts the oldest handshaking memory connection; the per-IP cap refuses the rest', async () => {
    const clock = new ManualClock();
    const net = new MemoryNetwork({ clock });
    const a = hub(id('a'), { clock, transports: [net.transport('192.0.2.1')], rawServer: { maxAllowIn: 2, maxConnectionsPerIp: 1, onError: () => undefined } });
    const a1 = new TestTorrent('a1');
    a.hub.addTorrent(T1, a1);
    const { port } = await a.hub.listen({ minPort: 6881, maxPort: 6881 });
    const first = rawMemory(net, '192.0.2.50', port);
    await until(() => a.hub.connectionCount === 1, 'one');
    const second = rawMemory(net, '192.0.2.51', port);
    await until(() => a.hub.connectionCount === 2, 'two');
    second.socket.write(encodeHandshake(T1, id('s'), FAST));
    await until(() => a1.peers.length === 1, 'the second handshaken');
    const sameIp = rawMemory(net, '192.0.2.51', port);
    await until(() => sameIp.closed(), 'over the per-IP cap');
    const third = rawMemory(net, '192.0.2.52', port);
    await until(() => first.closed() && a.hub.connectionCount === 2, 'the handshaking one evicted');
    expect(third.closed()).toBe(false);
    expect(second.closed()).toBe(false);
    expect(a.log.map((e) => [e.code, e.remoteAddress])).toEqual([['EVICTED', '192.0.2.50']]);
    expect(a.hub.gate.refusedCount).toBe(1);
  });
});
