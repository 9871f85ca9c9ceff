// Peer limits with several real peers on loopback: a torrent's maxPeers stops its dialling and
// turns incoming peers away at the limit; the session's maxConnections, lowered while running,
// closes the least useful connections at once and holds from then on (no dial past it, incoming
// refused).
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, removeTempDir, type MadeTorrent } from '@mainline/interop';
import { Session, type Torrent } from './index.js';
import { until } from './test-helpers.js';

let dir: string | undefined;
const sessions: Session[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(sessions.splice(0).map((s) => s.close()));
  if (dir) removeTempDir(dir);
});

interface Seed {
  session: Session;
  torrent: Torrent;
  /** Handshaken connections this seed saw, over the test. */
  connected: number;
}

async function setUp(seedCount: number): Promise<{ made: MadeTorrent; seeds: Seed[] }> {
  dir = makeTempDir('ml-peer-limits-');
  const payload = await makePayload(join(dir, 'seed'), { name: 'l.bin', size: 2_000_000 });
  const made = makeTorrent(payload.path, { pieceLength: 32768 });
  const seeds: Seed[] = [];
  for (let i = 0; i < seedCount; i++) {
    const session = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
    sessions.push(session);
    await session.listen();
    const torrent = await session.add(made.bytes, { savePath: payload.saveDir, noTrackers: true });
    const seed: Seed = { session, torrent, connected: 0 };
    torrent.on('peer-connected', () => seed.connected++);
    seeds.push(seed);
  }
  await until(() => seeds.every((s) => s.torrent.state === 'seeding'), 'the seeds check their data');
  return { made, seeds };
}

const sum = (seeds: Seed[]): number => seeds.reduce((n, s) => n + s.connected, 0);

/** A seed dials the leecher; resolves once the leecher has turned it away. */
async function dialIn(seed: Seed, port: number): Promise<void> {
  const turnedAway = new Promise<void>((resolve) => {
    seed.torrent.once('peer-failed', () => resolve());
    seed.torrent.once('peer-dropped', () => resolve());
  });
  seed.torrent.addPeers([{ ip: '127.0.0.1', port }]);
  await turnedAway;
}

test('a torrent at its maxPeers dials no more and refuses incoming peers', async () => {
  const { made, seeds } = await setUp(5);
  const [extra, ...dialled] = seeds as [Seed, ...Seed[]];
  const leecher = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
  sessions.push(leecher);
  await leecher.listen();
  const t = await leecher.add(made.bytes, {
    savePath: join(dir!, 'leech'),
    noTrackers: true,
    maxPeers: 2,
    downloadLimit: 200_000,
    peers: dialled.map((s) => ({ ip: '127.0.0.1', port: s.session.port })),
  });
  let most = 0;
  t.on('peer-connected', () => (most = Math.max(most, t.peers.length)));
  await until(() => t.peers.length === 2 && t.downloaded > 0, 'two peers connected');

  await dialIn(extra, leecher.port);
  expect(t.peers.length).toBe(2);
  expect(extra.torrent.peers.length).toBe(0);

  // Four peers named, two dialled: nobody else ever got as far as a handshake.
  expect(sum(dialled)).toBe(2);
  t.setLimits({ download: 0 });
  await until(() => t.state === 'seeding', 'the download completes from two peers', 30_000);
  expect(most).toBe(2);
}, 60_000);

test('lowering maxConnections closes the least useful connections and holds the cap', async () => {
  const { made, seeds } = await setUp(5);
  const [extra, fresh, ...dialled] = seeds as [Seed, Seed, ...Seed[]];
  const leecher = new Session({ portRange: [0, 0], bind: '127.0.0.1', maxConnections: 20 });
  sessions.push(leecher);
  await leecher.listen();
  const t = await leecher.add(made.bytes, {
    savePath: join(dir!, 'leech'),
    noTrackers: true,
    downloadLimit: 200_000,
    peers: dialled.map((s) => ({ ip: '127.0.0.1', port: s.session.port })),
  });
  await until(() => t.peers.length === 3 && t.downloaded > 0, 'three peers connected');
  // Two connections that never say a thing: the least useful of all.
  const silent = [0, 1].map(() => connect({ host: '127.0.0.1', port: leecher.port }));
  sockets.push(...silent);
  const silentClosed = silent.map((s) => new Promise<void>((r) => s.once('close', () => r())));
  await until(() => leecher.hub.connectionCount === 5, 'the silent connections are in');

  expect(leecher.setMaxConnections(2)).toBe(3);
  expect(leecher.maxConnections).toBe(2);
  expect(leecher.hub.connectionCount).toBe(2);
  await Promise.all(silentClosed);
  await until(() => t.peers.length === 2, 'two peers left');

  await dialIn(extra, leecher.port);
  expect(t.peers.length).toBe(2);
  // A new address is dialled at once when there is room (the peer list fills its slots as the
  // address comes in): at the cap, no socket is even opened.
  t.addPeers([{ ip: '127.0.0.1', port: fresh.session.port }]);
  expect(leecher.hub.connectionCount).toBe(2);

  // The seed that was closed was not dialled again while the session was at its cap.
  expect(sum(dialled)).toBe(3);
  t.setLimits({ download: 0 });
  await until(() => t.state === 'seeding', 'the download completes on two connections', 30_000);
}, 60_000);
