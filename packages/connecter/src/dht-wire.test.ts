// BEP 5 on the peer wire through the hub's DhtWire hook: the DHT bit follows whether the DHT
// runs, `port` goes out only when both sides set the bit, and a received port reaches the DHT once.
import { createConnection, type Socket } from 'node:net';
import { encodeHandshake, encodeMessage, hasDhtBit, makeReserved, WireHub, type DhtWire, type Message, type PeerConnection, type PeerHandler, type TorrentWire } from './index.js';

const T = Buffer.alloc(20, 0x44);
const id = (c: string): Buffer => Buffer.from(`-ML0001-${c.repeat(12)}`);

class Recorder implements TorrentWire {
  readonly limits = { numPieces: 4, pieceLength: 16384, totalLength: 65536 };
  readonly peers: PeerConnection[] = [];
  readonly messages: Message[] = [];
  onPeer(peer: PeerConnection): PeerHandler {
    this.peers.push(peer);
    peer.send({ type: 'have-none' });
    return { onMessage: (_p, m) => this.messages.push(m), onClose: () => undefined };
  }
}

class FakeDht implements DhtWire {
  running: number | undefined;
  readonly told: string[] = [];
  constructor(port: number | undefined) {
    this.running = port;
  }
  port(): number | undefined {
    return this.running;
  }
  onPort(address: string, port: number): void {
    this.told.push(`${address}:${port}`);
  }
}

async function eventually(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const hubs: WireHub[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

async function node(peerId: Buffer, dht?: DhtWire): Promise<{ hub: WireHub; torrent: Recorder; port: number }> {
  const hub = new WireHub({ peerId, rawServer: { onError: () => undefined }, ...(dht ? { dht } : {}) });
  hubs.push(hub);
  const torrent = new Recorder();
  hub.addTorrent(T, torrent);
  const { port } = await hub.listen({ minPort: 0, hosts: ['127.0.0.1'] });
  return { hub, torrent, port };
}

test('two hubs running a DHT set the bit and swap ports; each DHT hears the other once', async () => {
  const dhtA = new FakeDht(40001);
  const dhtB = new FakeDht(40002);
  const a = await node(id('a'), dhtA);
  const b = await node(id('b'), dhtB);
  b.hub.connect(T, '127.0.0.1', a.port);
  await eventually(() => dhtA.told.length === 1 && dhtB.told.length === 1);
  expect(dhtA.told).toEqual(['127.0.0.1:40002']);
  expect(dhtB.told).toEqual(['127.0.0.1:40001']);
  expect(hasDhtBit(a.torrent.peers[0]!.remoteReserved)).toBe(true);
  // The torrent still sees the message (it may ignore it): the hook does not hide it.
  await eventually(() => a.torrent.messages.some((m) => m.type === 'port'));
  // A second port on the same connection is not passed on again.
  b.torrent.peers[0]!.send({ type: 'port', port: 40003 });
  await eventually(() => a.torrent.messages.filter((m) => m.type === 'port').length === 2);
  expect(dhtA.told).toEqual(['127.0.0.1:40002']);
});

test('without a running DHT there is no bit and no port message, either way', async () => {
  const off = new FakeDht(undefined);
  const a = await node(id('a'), off);
  const b = await node(id('b'), new FakeDht(40002));
  b.hub.connect(T, '127.0.0.1', a.port);
  await eventually(() => a.torrent.peers.length === 1 && b.torrent.peers.length === 1);
  // b has the bit, a does not: b sends no port (a did not set it); a sends none (its DHT is off).
  expect(hasDhtBit(a.torrent.peers[0]!.remoteReserved)).toBe(true);
  expect(hasDhtBit(b.torrent.peers[0]!.remoteReserved)).toBe(false);
  b.torrent.peers[0]!.send({ type: 'have', index: 1 });
  a.torrent.peers[0]!.send({ type: 'have', index: 2 });
  await eventually(() => a.torrent.messages.some((m) => m.type === 'have') && b.torrent.messages.some((m) => m.type === 'have'));
  expect(a.torrent.messages.map((m) => m.type)).toEqual(['have-none', 'have']);
  expect(b.torrent.messages.map((m) => m.type)).toEqual(['have-none', 'have']);

  // Switched on later: the next connection carries the bit.
  off.running = 40001;
  const c = await node(id('c'), new FakeDht(40003));
  c.hub.connect(T, '127.0.0.1', a.port);
  await eventually(() => off.told.length === 1);
  expect(off.told).toEqual(['127.0.0.1:40003']);
});

test('a peer that sends port without setting the DHT bit, or port 0, is not believed', async () => {
  const dht = new FakeDht(40001);
  const a = await node(id('a'), dht);
  const s = createConnection({ host: '127.0.0.1', port: a.port });
  sockets.push(s);
  await new Promise<void>((r) => s.once('connect', () => r()));
  let got = Buffer.alloc(0);
  s.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
  s.write(encodeHandshake(T, id('x'), makeReserved({ fast: true })));
  s.write(Buffer.concat(encodeMessage({ type: 'have-none' })));
  s.write(Buffer.concat(encodeMessage({ type: 'port', port: 5555 })));
  await eventually(() => a.torrent.messages.some((m) => m.type === 'port') && a.torrent.peers.length === 1);
  expect(dht.told).toEqual([]);
  // What came back: the handshake with our DHT bit, have-none, then the have sent now; no port
  // between them (messages keep their order), as the raw peer did not set the bit.
  a.torrent.peers[0]!.send({ type: 'have', index: 1 });
  await eventually(() => got.length >= 68 + 5 + 9);
  expect(hasDhtBit(got.subarray(20, 28))).toBe(true);
  expect(got.subarray(68)).toEqual(Buffer.concat([...encodeMessage({ type: 'have-none' }), ...encodeMessage({ type: 'have', index: 1 })]));
});
