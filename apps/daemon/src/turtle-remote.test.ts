import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, poll, startLibtorrent, type LibtorrentHandle } from '@mainline/interop';
import { killAll, remote, rpcClient, spawnDaemon } from './test-helpers.js';

// The turtle driven by the real transmission-remote 3.00 against the built daemon, and a real
// transfer from a python3-libtorrent seeder held to the turtle's download limit.
jest.setTimeout(90_000);

let seeder: LibtorrentHandle | undefined;
afterAll(async () => {
  await seeder?.stop();
  killAll();
});

test('-asu/-asd/-as: -si shows the turtle applied, a real download runs at the turtle limit; -AS lifts it; the schedule flags; kept across a restart', async () => {
  const dir = makeTempDir('daemon-turtle-remote');
  const stateDir = join(dir, 'state');
  const downloadDir = join(dir, 'downloads');
  const payload = await makePayload(join(dir, 'seed'), { name: 'turtle.bin', size: 4_000_000 });
  const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024, outPath: join(dir, 'turtle.torrent') });
  let d = await spawnDaemon({ stateDir, downloadDir });

  await remote(d.rpcPort, '-asu', '40', '-asd', '200');
  await remote(d.rpcPort, '-as');
  const si = await remote(d.rpcPort, '-si');
  expect(si).toContain('Upload speed limit: 40 kB/s (Disabled limit: 100 kB/s; Enabled turtle limit: 40 kB/s)');
  expect(si).toContain('Download speed limit: 200 kB/s (Disabled limit: 100 kB/s; Enabled turtle limit: 200 kB/s)');

  // A download from a seeder with no limit of its own: measured over 6 s once under way.
  await remote(d.rpcPort, '-a', torrent.path);
  seeder = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: payload.saveDir, noTrackers: true, peers: [['127.0.0.1', d.peerPort]] });
  const rpc = rpcClient(d.rpcPort);
  const have = async (): Promise<number> => ((await rpc('torrent-get', { ids: [1], fields: ['downloadedEver'] })).arguments.torrents as { downloadedEver: number }[])[0]!.downloadedEver;
  await poll(async () => ((await have()) > 300_000 ? true : undefined), 30_000, () => 'the download to get under way', 100);
  const t0 = performance.now();
  const b0 = await have();
  await new Promise((r) => setTimeout(r, 6000));
  const b1 = await have();
  const rate = (b1 - b0) / ((performance.now() - t0) / 1000);
  process.stdout.write(`turtle download limit 200 kB/s: measured ${(rate / 1000).toFixed(1)} kB/s over 6 s\n`);
  expect(rate).toBeLessThan(200_000 * 1.15);
  expect(rate).toBeGreaterThan(200_000 * 0.6);

  // Off: the normal limits (none) apply and the rest arrives at once.
  const tOff = performance.now();
  await remote(d.rpcPort, '-AS');
  expect(await remote(d.rpcPort, '-si')).toContain('Download speed limit: Unlimited (Disabled limit: 100 kB/s; Disabled turtle limit: 200 kB/s)');
  await poll(async () => ((await have()) >= 4_000_000 ? true : undefined), 30_000, () => 'the download to finish without the turtle', 100);
  process.stdout.write(`the remaining ${((4_000_000 - b1) / 1e6).toFixed(2)} MB without the turtle: ${Math.round(performance.now() - tOff)} ms\n`);

  // The schedule flags, and everything kept across a restart.
  await remote(d.rpcPort, '-asc', '--alt-speed-time-begin', '0930', '--alt-speed-time-end', '1700', '--alt-speed-days', '1-5');
  expect(await remote(d.rpcPort, '-si')).toContain('Turtle schedule: 09:30 - 17:00  Mon Tue Wed Thu Fri');
  d.kill('SIGTERM');
  await d.exited;
  d = await spawnDaemon({ stateDir, downloadDir });
  const after = await remote(d.rpcPort, '-si');
  expect(after).toContain('Turtle schedule: 09:30 - 17:00  Mon Tue Wed Thu Fri');
  expect(after).toMatch(/turtle limit: 40 kB\/s/);
  expect(after).toMatch(/turtle limit: 200 kB\/s/);
});
