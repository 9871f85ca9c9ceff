import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, poll, sleep, startLibtorrent } from '@mainline/interop';
import { killAll, listRow, remote, rpcClient, spawnDaemon } from './test-helpers.js';

// kill -9 in the middle of a download, restart: the torrent comes back in its state, the pieces
// verified before the crash are not fetched again, and the data ends up byte-exact. Also the
// clean paths: SIGTERM exits quickly and a stopped torrent comes back stopped; the watch dir.
jest.setTimeout(90_000);

afterAll(() => killAll());

interface Got {
  percentDone: number;
  status: number;
  haveValid: number;
  leftUntilDone: number;
}

test('kill -9 mid-download, restart: it resumes without refetching verified pieces', async () => {
  const dir = makeTempDir('daemon-crash');
  const payload = await makePayload(join(dir, 'seed'), { name: 'crash.bin', size: 6 * 1024 * 1024 });
  const torrent = makeTorrent(payload.path, { pieceLength: 64 * 1024 });
  const total = payload.totalSize;
  // libtorrent ignores its own rate limits on loopback, so the daemon limits itself (1000 kB/s):
  // the download lasts ~6 s.
  const seeder = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: payload.saveDir, noTrackers: true });
  try {
    const stateDir = join(dir, 'state');
    const downloadDir = join(dir, 'dl');
    const first = await spawnDaemon({ stateDir, downloadDir, args: ['--download-limit', '1000'] });
    const peerPort = first.peerPort;
    await remote(first.rpcPort, '-a', torrent.path);
    seeder.connectPeer('127.0.0.1', peerPort);
    let rpc = rpcClient(first.rpcPort);
    const get = async (): Promise<Got> => {
      const r = await rpc('torrent-get', { ids: [1], fields: ['percentDone', 'status', 'haveValid', 'leftUntilDone'] });
      return (r.arguments.torrents as Got[])[0]!;
    };
    // Past the first resume-record write (5 s after the first piece) and well short of the end.
    await poll(async () => (await get()).percentDone >= 0.5, 30000, () => 'half of the download', 100);
    const beforeKill = await get();
    expect(beforeKill.percentDone).toBeLessThan(1);
    first.kill('SIGKILL');
    expect(await first.exited).toBe('SIGKILL');
    await sleep(600); // the seeder's counters (reported every 200 ms) settle: nothing flows now
    const uploadedBeforeCrash = seeder.status?.totalUpload ?? 0;

    // Same state dir, same peer port (the seeder keeps redialling it).
    const second = await spawnDaemon({ stateDir, downloadDir, peerPort, args: ['--download-limit', '0'] });
    expect(second.output()).toContain('1 torrent(s) restored');
    rpc = rpcClient(second.rpcPort);
    const restored = await poll(
      async () => {
        const g = await get();
        return g.status === 4 || g.status === 6 ? g : undefined;
      },
      20000,
      () => 'the torrent to be checked and running again',
      50,
    );
    // What was verified before the crash survived it (the check found the pieces on disk).
    expect(restored.haveValid).toBeGreaterThan(0);
    await poll(async () => (await get()).leftUntilDone === 0, 30000, () => 'the download to finish', 100);
    await sleep(1000); // the seeder reports its counters every 200 ms
    const refetched = (seeder.status?.totalUpload ?? 0) - uploadedBeforeCrash;
    expect(refetched).toBeLessThan(total);
    // What was missing, plus at most a few pieces whose blocks were in flight at the crash.
    expect(refetched).toBeLessThanOrEqual(total - restored.haveValid + 4 * 64 * 1024);
    expect(readFileSync(join(downloadDir, 'crash.bin')).equals(readFileSync(payload.path))).toBe(true);
    process.stdout.write(`crash test: ${restored.haveValid} of ${total} bytes kept across kill -9, ${refetched} fetched after the restart\n`);
    second.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  } finally {
    await seeder.stop();
  }
});

test('SIGTERM exits within seconds; a stopped torrent comes back stopped; the watch dir adds torrents', async () => {
  const dir = makeTempDir('daemon-restart');
  const stateDir = join(dir, 'state');
  const downloadDir = join(dir, 'dl');
  const watchDir = join(dir, 'watch');
  const p1 = await makePayload(join(dir, 'src'), { name: 'one.bin', size: 100_000 });
  const p2 = await makePayload(join(dir, 'src'), { name: 'two.bin', size: 100_000 });
  const t1 = makeTorrent(p1.path, { pieceLength: 32 * 1024, trackers: ['http://127.0.0.1:9/announce'] });
  const t2 = makeTorrent(p2.path, { pieceLength: 32 * 1024 });
  await mkdir(watchDir, { recursive: true });
  const first = await spawnDaemon({ stateDir, downloadDir, args: ['--watch-dir', watchDir] });
  await remote(first.rpcPort, '-a', t1.path, '-S');
  // Dropped into the watch dir (written under another name first, as a browser download would be).
  await writeFile(join(watchDir, 'two.part'), readFileSync(t2.path));
  await rename(join(watchDir, 'two.part'), join(watchDir, 'two.torrent'));
  await writeFile(join(watchDir, 'junk.torrent'), 'not a torrent');
  await poll(async () => listRow(await remote(first.rpcPort, '-l'), 2)?.includes('two.bin'), 15000, () => 'the watched torrent to be added', 200);
  await poll(() => readFileSync(join(watchDir, 'two.torrent.added')).length > 0, 5000, () => 'two.torrent to be renamed', 100);
  await poll(() => readFileSync(join(watchDir, 'junk.torrent.invalid')).length > 0, 5000, () => 'junk.torrent to be renamed .invalid', 100);
  const started = Date.now();
  first.kill('SIGTERM');
  expect(await first.exited).toBe(0);
  // The tracker of t1 is dead (port 9), but the torrent is stopped: nothing waits on it.
  expect(Date.now() - started).toBeLessThan(5000);
  expect(first.output()).toContain('stopped');

  const second = await spawnDaemon({ stateDir, downloadDir, args: ['--watch-dir', watchDir] });
  expect(second.output()).toContain('2 torrent(s) restored');
  const list = await remote(second.rpcPort, '-l');
  expect(listRow(list, 1)).toMatch(/Stopped\s+one\.bin$/);
  expect(listRow(list, 2)).toMatch(/two\.bin$/);
  expect(listRow(list, 2)).not.toMatch(/Stopped/);
  const st = await remote(second.rpcPort, '-st');
  expect(st).toContain('Started 2 times');
  second.kill('SIGINT');
  expect(await second.exited).toBe(0);
});
