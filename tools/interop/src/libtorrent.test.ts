import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InteropError, makePayload, makeTempDir, makeTorrent, removeTempDir, startLibtorrent, type LibtorrentHandle } from './index.js';
import { alive, sameFiles } from './test-helpers.js';

let dir: string;
const running: LibtorrentHandle[] = [];
beforeAll(() => {
  dir = makeTempDir('lt-test');
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((h) => h.stop()));
});
afterAll(() => removeTempDir(dir));

test('a libtorrent leecher downloads 8 MiB from a libtorrent seeder it dials (no tracker)', async () => {
  const seedDir = join(dir, 'seed');
  const payload = await makePayload(seedDir, { name: 'eight.bin', size: 8 << 20 });
  const torrent = makeTorrent(payload.path, { pieceLength: 256 * 1024 });
  const seeder = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: seedDir });
  running.push(seeder);
  const seeding = await seeder.waitForComplete(10000);
  expect(seeding.isSeeding).toBe(true);
  expect(seeding.totalWanted).toBe(8 << 20);

  const leechDir = join(dir, 'leech');
  const leecher = await startLibtorrent({ mode: 'leech', torrentPath: torrent.path, savePath: leechDir, peers: [['127.0.0.1', seeder.port]] });
  running.push(leecher);
  expect(leecher.status?.complete ?? false).toBe(false);
  const done = await leecher.waitForComplete(20000);
  expect(done.progress).toBe(1);
  expect(done.totalDone).toBe(8 << 20);
  expect(sameFiles(payload, leechDir)).toBe(true);
  // the harness reports libtorrent's peer events
  const connected = await leecher.waitForEvent((e) => e.name === 'peer_connect', 1000);
  expect(connected.peer).toBe(`127.0.0.1:${seeder.port}`);
  await seeder.waitFor((s) => s.totalUpload >= 8 << 20, 5000);
});

test('a multi-file torrent transfers whole, and stop() ends the process', async () => {
  const seedDir = join(dir, 'mseed');
  const payload = await makePayload(seedDir, {
    name: 'multi',
    files: [
      { path: 'a.bin', size: 1_000_000 },
      { path: 'b/c.bin', size: 123_457 },
    ],
  });
  const torrent = makeTorrent(payload.path, { pieceLength: 64 * 1024 });
  const seeder = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: seedDir, skipCheck: true });
  running.push(seeder);
  const leechDir = join(dir, 'mleech');
  // the leecher listens; the seeder dials it later through connectPeer()
  const leecher = await startLibtorrent({ mode: 'leech', torrentPath: torrent.path, savePath: leechDir });
  running.push(leecher);
  seeder.connectPeer('127.0.0.1', leecher.port);
  await leecher.waitForComplete(20000);
  expect(sameFiles(payload, leechDir)).toBe(true);
  const pid = leecher.pid;
  expect(alive(pid)).toBe(true);
  await leecher.stop();
  expect(alive(pid)).toBe(false);
  await leecher.stop(); // idempotent
});

test('libtorrent failures surface as InteropError with its message', async () => {
  await expect(startLibtorrent({ mode: 'leech', torrentPath: join(dir, 'nope.torrent'), savePath: dir })).rejects.toThrow(InteropError);
  await expect(startLibtorrent({ mode: 'leech', torrentPath: join(dir, 'nope.torrent'), savePath: dir })).rejects.toThrow(/nope\.torrent|No such file/);
  expect(existsSync(join(dir, 'nope.torrent'))).toBe(false);
});
