import { join } from 'node:path';
import {
  makePayload,
  makeTempDir,
  makeTorrent,
  removeTempDir,
  startAria2,
  startLibtorrent,
  startOpentracker,
  type ClientHandle,
  type ClientStatus,
  type RunningOpentracker,
} from './index.js';
import { sameFiles } from './test-helpers.js';

let dir: string;
const running: { stop(): Promise<void> }[] = [];
beforeAll(() => {
  dir = makeTempDir('tracker-test');
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((h) => h.stop()));
});
afterAll(() => removeTempDir(dir));

async function announce(tracker: RunningOpentracker, infoHash: string, port: number, left: number): Promise<string> {
  const ih = infoHash.replace(/../g, (b) => `%${b}`);
  const res = await fetch(`${tracker.announceUrl}?info_hash=${ih}&peer_id=-TT0000-${port}abcdefgh&port=${port}&uploaded=0&downloaded=0&left=${left}&compact=1`);
  return Buffer.from(await res.arrayBuffer()).toString('latin1');
}

test('opentracker serves whitelisted torrents only, and allow() extends the whitelist', async () => {
  const payload = await makePayload(join(dir, 'w'), { name: 'w.bin', size: 100_000 });
  const a = makeTorrent(payload.path, { pieceLength: 32768 });
  const b = makeTorrent(payload.path, { pieceLength: 65536, outPath: join(dir, 'b.torrent') });
  const tracker = await startOpentracker({ infoHashes: [a.infoHash] });
  running.push(tracker);
  expect(tracker.announceUrl).toBe(`http://127.0.0.1:${tracker.port}/announce`);
  expect(tracker.udpUrl).toBe(`udp://127.0.0.1:${tracker.port}/announce`);
  await announce(tracker, a.infoHash, 7001, 0);
  const second = await announce(tracker, a.infoHash, 7002, 10);
  expect(second).toContain('8:completei1e');
  expect(second).toContain(Buffer.from([127, 0, 0, 1, 7001 >> 8, 7001 & 255]).toString('latin1'));
  expect(await announce(tracker, b.infoHash, 7003, 0)).toContain('failure reason');
  await tracker.allow([b.infoHash]);
  expect(await announce(tracker, b.infoHash, 7003, 0)).not.toContain('failure reason');
  await expect(tracker.allow(['xyz'])).rejects.toThrow(/not a hex info-hash/);
});

async function seedThroughTracker(name: string): Promise<{ payload: Awaited<ReturnType<typeof makePayload>>; torrentPath: string; seederPort: number }> {
  const seedDir = join(dir, `${name}-seed`);
  const payload = await makePayload(seedDir, { name: `${name}.bin`, size: 8 << 20 });
  const tracker = await startOpentracker({ infoHashes: [] });
  running.push(tracker);
  const torrent = makeTorrent(payload.path, { trackers: [tracker.announceUrl] });
  await tracker.allow([torrent.infoHash]);
  const seeder = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: seedDir });
  running.push(seeder);
  await seeder.waitForComplete(10000);
  await seeder.waitForEvent((e) => e.name === 'tracker_reply', 10000);
  return { payload, torrentPath: torrent.path, seederPort: seeder.port };
}

test('aria2c leeches from a libtorrent seeder it finds through opentracker', async () => {
  const { payload, torrentPath } = await seedThroughTracker('via-tracker');
  const leechDir = join(dir, 'aria2-leech');
  const aria2 = await startAria2({ torrentPath, dir: leechDir, seed: false });
  running.push(aria2);
  const done = await aria2.waitForComplete(30000);
  expect(done.progress).toBe(1);
  expect(sameFiles(payload, leechDir)).toBe(true);
  expect(await aria2.exited).toBe(0);
});

test('aria2c dials a given peer through the in-process static tracker', async () => {
  const seedDir = join(dir, 'static-seed');
  const payload = await makePayload(seedDir, { name: 'static.bin', size: 4 << 20 });
  const torrent = makeTorrent(payload.path, { trackers: ['http://127.0.0.1:9/announce'] }); // a dead tracker, replaced
  const seeder = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: seedDir, noTrackers: true });
  running.push(seeder);
  await seeder.waitForComplete(10000);
  const leechDir = join(dir, 'static-leech');
  const aria2: ClientHandle<ClientStatus> = await startAria2({ torrentPath: torrent.path, dir: leechDir, seed: false, peers: [['127.0.0.1', seeder.port]] });
  running.push(aria2);
  await aria2.waitForComplete(30000);
  expect(sameFiles(payload, leechDir)).toBe(true);
});

test('aria2c seeds to a libtorrent leecher', async () => {
  const seedDir = join(dir, 'a2seed');
  const payload = await makePayload(seedDir, { name: 'a2s.bin', size: 4 << 20 });
  const torrent = makeTorrent(payload.path);
  const aria2 = await startAria2({ torrentPath: torrent.path, dir: seedDir, seed: true });
  running.push(aria2);
  await aria2.waitFor((s) => s.state === 'seeding', 15000);
  const leechDir = join(dir, 'a2leech');
  const leecher = await startLibtorrent({ mode: 'leech', torrentPath: torrent.path, savePath: leechDir, peers: [['127.0.0.1', aria2.port]] });
  running.push(leecher);
  await leecher.waitForComplete(30000);
  expect(sameFiles(payload, leechDir)).toBe(true);
});
