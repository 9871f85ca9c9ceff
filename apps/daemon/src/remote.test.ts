import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, poll, startLibtorrent, type LibtorrentHandle, type MadeTorrent, type Payload } from '@mainline/interop';
import { killAll, listRow, remote, remoteRaw, spawnDaemon, type SpawnedDaemon } from './test-helpers.js';

// The real transmission-remote (Debian transmission-cli 3.00) drives the built daemon; a
// python3-libtorrent seeder on loopback serves a trackerless torrent by dialling the daemon.
jest.setTimeout(60_000);

let dir: string;
let payload: Payload;
let torrent: MadeTorrent;
let seeder: LibtorrentHandle;
let d: SpawnedDaemon;
let downloadDir: string;
let stateDir: string;

beforeAll(async () => {
  dir = makeTempDir('daemon-remote');
  downloadDir = join(dir, 'downloads');
  stateDir = join(dir, 'state');
  payload = await makePayload(join(dir, 'seed'), {
    name: 'remote-demo',
    files: [
      { path: 'a.bin', size: 3_000_000 },
      { path: 'sub/b.bin', size: 1_500_000 },
    ],
  });
  torrent = makeTorrent(payload.path, { pieceLength: 64 * 1024, outPath: join(dir, 'remote-demo.torrent'), comment: 'served by libtorrent' });
  d = await spawnDaemon({ stateDir, downloadDir });
  seeder = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: payload.saveDir, noTrackers: true });
});

afterAll(async () => {
  await seeder?.stop();
  killAll();
});

const same = (f: string): boolean => readFileSync(join(payload.saveDir, 'remote-demo', f)).equals(readFileSync(join(downloadDir, 'remote-demo', f)));

test('-a adds a torrent; the libtorrent seeder fills it; -l shows it done and idle', async () => {
  const added = await remote(d.rpcPort, '-a', torrent.path);
  expect(added).toContain('responded: "success"');
  seeder.connectPeer('127.0.0.1', d.peerPort);
  const listing = await poll(
    async () => {
      const l = await remote(d.rpcPort, '-l');
      const row = listRow(l, 1);
      return row && /\s100%\s/.test(row) && /\s(Idle|Seeding)\s/.test(row) ? l : undefined;
    },
    30000,
    () => 'the torrent to complete',
    300,
  );
  // The real output, for the record.
  process.stdout.write(`transmission-remote -l against mainlined:\n${listing}`);
  const row = listRow(listing, 1)!;
  expect(row).toMatch(/^\s+1\s+100%\s+4\.50 MB\s+Done\s+[\d.]+\s+[\d.]+\s+0\.0\s+(Idle|Seeding)\s+remote-demo$/);
  expect(listing).toMatch(/Sum:\s+4\.50 MB/);
  expect(same('a.bin') && same('sub/b.bin')).toBe(true);
});

test('-i, -f and -pi describe the torrent', async () => {
  const info = await remote(d.rpcPort, '-t', '1', '-i');
  expect(info).toContain(`Hash: ${torrent.infoHash}`);
  expect(info).toContain('Name: remote-demo');
  expect(info).toContain('Percent Done: 100%');
  expect(info).toContain(`Location: ${downloadDir}`);
  expect(info).toContain('Total size: 4.50 MB (4.50 MB wanted)');
  expect(info).toContain('Have: 4.50 MB (4.50 MB verified)');
  expect(info).toContain('Comment: served by libtorrent');
  expect(info).toContain(`Piece Count: ${torrent.metainfo.pieceCount}`);
  expect(info).toContain('Piece Size: 64.00 KiB');
  const files = await remote(d.rpcPort, '-t', '1', '-f');
  expect(files).toContain('remote-demo (2 files)');
  expect(files).toMatch(/0: 100% Normal\s+Yes\s+3\.00 MB\s+remote-demo\/a\.bin/);
  expect(files).toMatch(/1: 100% Normal\s+Yes\s+1\.50 MB\s+remote-demo\/sub\/b\.bin/);
  const peers = await remote(d.rpcPort, '-t', '1', '-pi');
  expect(peers).toContain('Address');
});

test('-S stops, -s starts, -v verifies (also by hash); the state file follows', async () => {
  const status = async (): Promise<string> => listRow(await remote(d.rpcPort, '-l'), 1) ?? '';
  await remote(d.rpcPort, '-t', '1', '-S');
  expect(await status()).toMatch(/\s100%\s.*\sStopped\s+remote-demo$/);
  const record = (): { paused: boolean } => JSON.parse(readFileSync(join(stateDir, 'torrents', `${torrent.infoHash}.json`), 'utf8')) as { paused: boolean };
  expect(record().paused).toBe(true);
  await remote(d.rpcPort, '-t', torrent.infoHash, '-s');
  await poll(async () => /\s(Idle|Seeding)\s/.test(await status()), 10000, () => 'the torrent to run again', 200);
  expect(record().paused).toBe(false);
  const n = torrent.metainfo.pieceCount;
  await remote(d.rpcPort, '-t', '1', '-v');
  // "Will Verify"/"Verifying" shows for a moment on 4.5 MB; it ends verified, complete and running.
  await poll(() => d.output().includes(`#1 remote-demo: verified, ${n} of ${n} pieces good`), 15000, () => `the verify to finish:\n${d.output()}`, 100);
  await poll(async () => /\s100%\s.*\s(Idle|Seeding)\s/.test(await status()), 15000, () => 'the torrent to run after verifying', 200);
});

test('-si, -st and speed limits (-u/-d/-U/-D)', async () => {
  const si = await remote(d.rpcPort, '-si');
  expect(si).toContain(`Listenport: ${d.peerPort}`);
  expect(si).toContain('RPC version: 17');
  expect(si).toContain(`Download directory: ${downloadDir}`);
  expect(si).toMatch(/Upload speed limit: Unlimited/);
  const st = await remote(d.rpcPort, '-st');
  expect(st).toContain('CURRENT SESSION');
  expect(st).toMatch(/Downloaded:\s+4\.50 MB/);
  expect(st).toContain('Started 1 times');
  await remote(d.rpcPort, '-u', '100', '-d', '250');
  const limited = await remote(d.rpcPort, '-si');
  expect(limited).toContain('Upload speed limit: 100 kB/s (Enabled limit: 100 kB/s');
  expect(limited).toContain('Download speed limit: 250 kB/s (Enabled limit: 250 kB/s');
  await remote(d.rpcPort, '-U', '-D');
  const unlimited = await remote(d.rpcPort, '-si');
  expect(unlimited).toContain('Upload speed limit: Unlimited (Disabled limit: 100 kB/s');
  expect(unlimited).toContain('Download speed limit: Unlimited (Disabled limit: 250 kB/s');
});

test('add stopped into another dir, duplicates, a bad magnet, bad files, then -r removes', async () => {
  const small = await makePayload(join(dir, 'seed2'), { name: 'small.bin', size: 200_000 });
  const t2 = makeTorrent(small.path, { pieceLength: 32 * 1024 });
  const other = join(dir, 'other');
  expect(await remote(d.rpcPort, '-a', t2.path, '--download-dir', other, '-S')).toContain('success');
  const list = await remote(d.rpcPort, '-l');
  expect(listRow(list, 2)).toMatch(/\s0%\s+None\s+Unknown\s.*\sStopped\s+small\.bin$/);
  expect((await remote(d.rpcPort, '-t', '2', '-i'))).toContain(`Location: ${other}`);
  // The same torrent again is not an error (torrent-duplicate) and gets no new id.
  expect(await remote(d.rpcPort, '-a', t2.path)).toContain('success');
  expect(listRow(await remote(d.rpcPort, '-l'), 3)).toBeUndefined();
  const magnet = await remoteRaw(d.rpcPort, '-a', `magnet:?xt=urn:btih:${'ab'.repeat(19)}`);
  expect(magnet.code).not.toBe(0);
  expect(magnet.out).toContain('invalid magnet link');
  const bad = await remoteRaw(d.rpcPort, '-a', join(dir, 'missing.torrent'));
  expect(bad.code).not.toBe(0);
  expect(bad.out).toContain('refusing to read'); // not in the watch dir nor torrentFileDirs
  await remote(d.rpcPort, '-t', '2', '-r');
  const after = await remote(d.rpcPort, '-l');
  expect(listRow(after, 2)).toBeUndefined();
  expect(listRow(after, 1)).toBeDefined();
});
