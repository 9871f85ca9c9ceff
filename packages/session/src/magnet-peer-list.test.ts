// A magnet's metadata fetch dials through its PeerList (backoff, caps, sources), and that same
// list becomes the torrent's: on a ManualClock over in-memory sockets, no TCP, no real time.
import { join } from 'node:path';
import { formatMagnet } from '@mainline/metainfo';
import type { Session, Torrent } from './index.js';
import { MemoryWorld, payloadFixture } from './memory-harness.js';

const fx = payloadFixture('ml-magnet-list-', 'one.bin', 8 * 32 * 1024 - 100, 32 * 1024);
let world: MemoryWorld;
beforeEach(() => {
  world = new MemoryWorld();
});
afterEach(() => world.close());

/** Counts the hub's dials by `host:port`. */
function countDials(s: Session): Map<string, number> {
  const dials = new Map<string, number>();
  const connect = s.hub.connect.bind(s.hub);
  s.hub.connect = (hash, host, port, options) => {
    dials.set(`${host}:${port}`, (dials.get(`${host}:${port}`) ?? 0) + 1);
    return connect(hash, host, port, options);
  };
  return dials;
}

/** 60 x.pe addresses where nobody listens, and the seeder last. */
const dead = Array.from({ length: 60 }, (_, i) => ({ ip: `192.0.2.${100 + i}`, port: 6881 }));
const SEEDER = { ip: '192.0.2.1', port: 6881 };

test('the fetch reaches the one live peer among 60 dead ones within the caps; failed ones back off; the list becomes the torrent\'s', async () => {
  const seeder = await world.session('192.0.2.1');
  void seeder.add(fx.torrent.bytes, { savePath: fx.payload.saveDir, noTrackers: true });
  await world.run(() => seeder.torrents[0]?.state === 'seeding', 'the seeder to check', 0);
  const leecher = await world.session('192.0.2.2', { peerList: { retryBaseMs: 60_000 } });
  const dials = countDials(leecher);
  const gone = { ip: '192.0.2.99', port: 6881 };
  const download = leecher.addMagnet(formatMagnet({ infoHash: fx.torrent.infoHash, peers: [...dead, SEEDER] }), { savePath: join(fx.dir, 'out-1'), peers: [gone] });
  const list = download.peerList;
  expect(list.counts().known).toMatchObject({ magnet: 61, user: 1, tracker: 0 });
  // The fetcher's 30 connections at most (dials and peers); the rest wait for free slots.
  let most = 0;
  let added: Torrent | undefined;
  download.on('torrent', (t) => (added = t));
  await world.run(() => {
    if (download.state === 'fetching-metadata') most = Math.max(most, list.counts().dialing + download.stats().peers);
    return added !== undefined;
  }, 'the metadata and the torrent');
  expect(most).toBeLessThanOrEqual(30);
  expect(most).toBeGreaterThan(1);
  const t = added!;
  // The very same list: nothing learnt was lost.
  expect(t.peerList).toBe(list);
  const counts = t.peerList.counts();
  expect(counts.known).toMatchObject({ magnet: 61, user: 1, tracker: 0, incoming: 0 });
  expect(counts.connected.magnet).toBe(1);
  // Each dead address failed once and waits its backoff (60 s, not a fixed redial), none twice yet.
  const failed = dead.filter((p) => (list.retryIn(p.ip, p.port) ?? 0) > 0);
  expect(failed.length).toBeGreaterThan(0);
  for (const p of failed) expect(dials.get(`${p.ip}:${p.port}`)).toBe(1);
  expect(list.retryIn(SEEDER.ip, SEEDER.port)).toBeUndefined(); // connected
  await world.run(() => t.state === 'seeding', 'the download');
  // The seeder's connection was handed over: dialled once for the metadata and the pieces.
  expect(dials.get('192.0.2.1:6881')).toBe(1);
  // The user's peer is never given up on and is still known.
  expect(t.peerList.has(gone.ip, gone.port)).toBe(true);
});

test('backoff while fetching: a dead x.pe peer is dialled again after 15 s, then 30 s, not every 10 s', async () => {
  const leecher = await world.session('192.0.2.2');
  const dials = countDials(leecher);
  const peer = { ip: '192.0.2.50', port: 6881 };
  const download = leecher.addMagnet(formatMagnet({ infoHash: fx.torrent.infoHash, peers: [peer] }), { savePath: join(fx.dir, 'out-2') });
  const key = `${peer.ip}:${peer.port}`;
  await world.run(() => dials.get(key) === 1 && download.peerList.retryIn(peer.ip, peer.port) !== undefined, 'the first dial to fail', 0);
  expect(download.peerList.retryIn(peer.ip, peer.port)).toBe(15_000);
  world.clock.advance(14_999);
  await world.run(() => true, 'nothing');
  expect(dials.get(key)).toBe(1);
  world.clock.advance(1);
  await world.run(() => dials.get(key) === 2 && download.peerList.retryIn(peer.ip, peer.port) !== undefined, 'the second dial to fail', 0);
  expect(download.peerList.retryIn(peer.ip, peer.port)).toBe(30_000);
  world.clock.advance(29_999);
  expect(dials.get(key)).toBe(2);
  await download.cancel();
  // Cancelled: the list dials no more, whatever the clock does.
  world.clock.advance(10 * 60_000);
  expect(dials.get(key)).toBe(2);
});

test('the user\'s peers keep their source through the hand-off, the connected one counted as connected', async () => {
  const seeder = await world.session('192.0.2.1');
  void seeder.add(fx.torrent.bytes, { savePath: fx.payload.saveDir, noTrackers: true });
  await world.run(() => seeder.torrents[0]?.state === 'seeding', 'the seeder to check', 0);
  const leecher = await world.session('192.0.2.2');
  const download = leecher.addMagnet(formatMagnet({ infoHash: fx.torrent.infoHash }), { savePath: join(fx.dir, 'out-3'), peers: [SEEDER, { ip: '192.0.2.77', port: 6881 }] });
  await world.run(() => download.state === 'added', 'the torrent');
  const t = download.added!;
  const c = t.peerList.counts();
  expect(c.known).toMatchObject({ user: 2, magnet: 0 });
  expect(c.connected.user).toBe(1);
  expect(t.stats().peers).toBe(1);
  await world.run(() => t.state === 'seeding', 'the download');
});
