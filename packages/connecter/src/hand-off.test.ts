// A magnet's metadata connections carry on into the download: the metadata fetcher holds them
// when the metadata is verified, and the torrent's Swarm adopts them, with the pieces each peer
// announced meanwhile. Real hubs on loopback TCP.
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, removeTempDir } from '@mainline/interop';
import type { Metainfo } from '@mainline/metainfo';
import { Bitfield } from '@mainline/bitfield';
import { MetadataFetcher, WireHub, makeReserved, type PeerConnection, type WireLogEvent } from './index.js';
import { eventually, Fixture, hex, peerId, rawOptions, type SwarmNode } from './swarm-harness.js';

let dir: string;
let meta: Metainfo;
let seedDir: string;
const fx = new Fixture();
const hubs: WireHub[] = [];
let dirs = 0;

beforeAll(async () => {
  dir = makeTempDir('hand-off');
  const payload = await makePayload(join(dir, 'seed'), { name: 'handoff.bin', size: 2 * 1024 * 1024 + 321 });
  meta = makeTorrent(payload.path, { pieceLength: 32768, outPath: join(dir, 'handoff.torrent') }).metainfo;
  seedDir = payload.saveDir;
});
afterEach(async () => {
  await fx.cleanup();
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});
afterAll(() => removeTempDir(dir));

/** A hub that counts its dials, and a fetcher on it that holds its connections when done. */
async function fetching(): Promise<{ hub: WireHub; port: number; fetcher: MetadataFetcher; dials: () => number; log: WireLogEvent[] }> {
  const log: WireLogEvent[] = [];
  const hub = new WireHub({ peerId: peerId('magnet'), log: (e) => log.push(e), rawServer: { onError: () => undefined } });
  hubs.push(hub);
  const { port } = await hub.listen({ minPort: 0, hosts: ['127.0.0.1'] });
  let dials = 0;
  const connect = hub.connect.bind(hub);
  hub.connect = (...args) => {
    dials++;
    return connect(...args);
  };
  const fetcher = new MetadataFetcher({ hub, infoHash: meta.infoHashBytes, holdConnections: true });
  return { hub, port, fetcher, dials: () => dials, log };
}

async function seeder(tag: string): Promise<SwarmNode & { connects: number }> {
  const node = await fx.node(meta, seedDir, { id: peerId(tag), swarm: { metadata: meta.infoBytes } });
  const counted = Object.assign(node, { connects: 0 });
  node.swarm.on('peer-connected', () => counted.connects++);
  return counted;
}

test('the metadata connections are adopted by the Swarm: no redial, none closed, the download completes over them', async () => {
  const a = await seeder('seed-a');
  const b = await seeder('seed-b');
  const { hub, port, fetcher, dials } = await fetching();
  const metadata = fetcher.start();
  fetcher.connect('127.0.0.1', a.port);
  fetcher.connect('127.0.0.1', b.port);
  await metadata;
  await eventually(() => fetcher.status().peers === 2, 'both seeds connected');
  expect(fetcher.holding).toBe(true);
  expect(hub.hasTorrent(meta.infoHashBytes)).toBe(true);
  const dialsAtMetadata = dials();
  expect(dialsAtMetadata).toBe(2);

  const leech = await fx.node(meta, join(dir, `leech-${++dirs}`), { id: peerId('magnet'), hub: { hub, port }, handOff: fetcher });
  // Adopted at once, in the same turn as start(): the swarm has both peers before any message.
  expect(leech.swarm.peers.size).toBe(2);
  expect(fetcher.status().peers).toBe(0);
  expect(fetcher.holding).toBe(false);
  let firstPiece = false;
  leech.swarm.once('piece', () => {
    firstPiece = true;
    // Up to the first piece nobody was dialled again and no connection went.
    expect([dials(), a.dropped.length, b.dropped.length, leech.dropped.length]).toEqual([dialsAtMetadata, 0, 0, 0]);
  });
  await leech.completed;
  expect(firstPiece).toBe(true);
  expect(dials()).toBe(dialsAtMetadata);
  // Each seed had one connection from us in all: the one the metadata came on.
  expect([a.connects, b.connects]).toEqual([1, 1]);
  expect(leech.swarm.downloaded).toBe(meta.totalLength);
  expect([...leech.log, ...a.log, ...b.log]).toEqual([]);
});

test('what a peer said before the metadata is checked at adoption: a bitfield of the wrong size drops only it', async () => {
  const a = await seeder('seed-c');
  const { hub, port, fetcher, log } = await fetching();
  const metadata = fetcher.start();
  fetcher.connect('127.0.0.1', a.port);
  const raw = await fx.handshaken(port, rawOptions(meta, 'short-bf', { reserved: makeReserved({ extended: true }), limits: { numPieces: 0, piecesUnknown: true } }));
  // 3 bytes: too short for the torrent's pieces, which the fetcher could not know.
  raw.send({ type: 'bitfield', bitfield: Bitfield.fromBytes(new Uint8Array([0xff, 0xff, 0xff]), 24) }, { type: 'extended-handshake', handshake: { m: new Map() } });
  await metadata;
  const held = (): PeerConnection | undefined => hub.peers(meta.infoHashBytes).find((c) => c.peerId && hex(c.peerId) === hex(peerId('short-bf')));
  await eventually(() => (held()?.messagesReceived ?? 0) >= 2, 'the raw peer bitfield in');
  const rawPort = held()!.remotePort;
  const closed: number[] = [];
  fetcher.on('closed', (_h, p) => closed.push(p));
  const leech = await fx.node(meta, join(dir, `leech-${++dirs}`), { id: peerId('magnet'), hub: { hub, port }, handOff: fetcher });
  await raw.closedWithin();
  // Dropped at adoption, before the swarm took it: the peer list still hears that it closed.
  await eventually(() => closed.includes(rawPort), 'the close reported');
  expect(closed).toEqual([rawPort]);
  expect(log.map((l) => l.code)).toEqual(['BAD_BITFIELD']);
  expect(leech.swarm.peers.size).toBe(1);
  await leech.completed;
});

test('held connections that nobody takes are closed by release(), and the hub is free again', async () => {
  const a = await seeder('seed-d');
  const { hub, fetcher } = await fetching();
  const metadata = fetcher.start();
  fetcher.connect('127.0.0.1', a.port);
  await metadata;
  expect(fetcher.holding).toBe(true);
  fetcher.cancel();
  expect(hub.hasTorrent(meta.infoHashBytes)).toBe(false);
  await eventually(() => hub.connectionCount === 0 && a.dropped.length === 1, 'the connection closed');
});
