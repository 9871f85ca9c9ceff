import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, makePayload, makeTempDir, makeTorrent, poll, sleep, startLibtorrent, type LibtorrentHandle } from '@mainline/interop';
import { formatMagnet } from '@mainline/metainfo';
import { killAll, listRow, remote, spawnDaemon } from './test-helpers.js';

// `transmission-remote -a 'magnet:?...'` (Debian transmission-cli 3.00) against the built daemon,
// with python3-libtorrent on loopback as the only other peer.
jest.setTimeout(60_000);

const handles: LibtorrentHandle[] = [];
afterAll(async () => {
  await Promise.all(handles.map((h) => h.stop()));
  killAll();
});

// -l for a magnet without metadata, as Transmission prints it: no size yet, so "n/a", "None", "Unknown".
const fetchingRow = (id: number, name: string): RegExp => new RegExp(`^\\s+${id}\\s+n/a\\s+None\\s+Unknown\\s+0\\.0\\s+0\\.0\\s+None\\s+Idle\\s+${name}$`);

test('-a magnet: listed while fetching, back after a restart, then libtorrent seeds it: 100 %, same id, identical files', async () => {
  const dir = makeTempDir('daemon-remote-magnet');
  const payload = await makePayload(join(dir, 'seed'), { name: 'lt-album', files: [{ path: 'one.bin', size: 1_500_000 }, { path: 'two/three.bin', size: 700_000 }] });
  const torrent = makeTorrent(payload.path, { pieceLength: 64 * 1024 });
  const stateDir = join(dir, 'state');
  const downloadDir = join(dir, 'dl');
  // The link names libtorrent's port; libtorrent starts only after the restart.
  const ltPort = await freePort();
  const link = formatMagnet({ infoHash: torrent.infoHash, name: 'lt-magnet', peers: [{ ip: '127.0.0.1', port: ltPort }] });
  const first = await spawnDaemon({ stateDir, downloadDir });
  const peerPort = first.peerPort;
  const added = await remote(first.rpcPort, '-a', link);
  expect(added).toContain('responded: "success"');
  expect(listRow(await remote(first.rpcPort, '-l'), 1)).toMatch(fetchingRow(1, 'lt-magnet'));
  const info = await remote(first.rpcPort, '-t', '1', '-i');
  expect(info).toContain(`Hash: ${torrent.infoHash}`);
  expect(info).toContain('Peers: connected to 0');

  first.kill('SIGTERM');
  expect(await first.exited).toBe(0);
  const second = await spawnDaemon({ stateDir, downloadDir, peerPort });
  expect(second.output()).toContain('1 torrent(s) restored');
  expect(listRow(await remote(second.rpcPort, '-l'), 1)).toMatch(fetchingRow(1, 'lt-magnet'));

  // libtorrent dials the daemon (metadata), the torrent dials libtorrent's port from the link (data).
  const seeder = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: payload.saveDir, noTrackers: true, port: ltPort, peers: [['127.0.0.1', peerPort]] });
  handles.push(seeder);
  const listing = await poll(
    async () => {
      const l = await remote(second.rpcPort, '-l');
      return /\s100%\s/.test(listRow(l, 1) ?? '') ? l : undefined;
    },
    20_000,
    () => `the magnet to complete:\n${second.output()}`,
    200,
  );
  process.stdout.write(`transmission-remote -l after a magnet completed:\n${listing}`);
  expect(listRow(listing, 1)).toMatch(/^\s+1\s+100%\s+2\.20 MB\s+Done\s.*\slt-album$/);
  expect(listRow(listing, 2)).toBeUndefined();
  for (const f of ['one.bin', 'two/three.bin']) {
    expect(readFileSync(join(downloadDir, 'lt-album', f)).equals(readFileSync(join(payload.saveDir, 'lt-album', f)))).toBe(true);
  }
  expect(await remote(second.rpcPort, '-t', '1', '-f')).toContain('lt-album (2 files)');
  second.kill('SIGTERM');
  await second.exited;
});

test('-r while fetching metadata closes the connection to the peer for good', async () => {
  const dir = makeTempDir('daemon-remote-magnet-rm');
  const hash = 'facade'.padEnd(40, '3');
  // A libtorrent that wants the same magnet: it accepts our connection but has no metadata.
  const ltPort = await freePort();
  const other = await startLibtorrent({ mode: 'leech', magnet: formatMagnet({ infoHash: hash }), savePath: join(dir, 'lt'), noTrackers: true, port: ltPort });
  handles.push(other);
  const d = await spawnDaemon({ stateDir: join(dir, 'state'), downloadDir: join(dir, 'dl') });
  await remote(d.rpcPort, '-a', formatMagnet({ infoHash: hash, name: 'nobody-has-it', peers: [{ ip: '127.0.0.1', port: ltPort }] }));
  await poll(async () => (await remote(d.rpcPort, '-t', '1', '-i')).includes('Peers: connected to 1,'), 10_000, () => 'the daemon to connect to libtorrent', 100);
  await poll(() => other.status?.numPeers === 1, 5_000, () => 'libtorrent to see the connection', 50);
  expect(listRow(await remote(d.rpcPort, '-l'), 1)).toMatch(fetchingRow(1, 'nobody-has-it'));

  await remote(d.rpcPort, '-t', '1', '-r');
  expect(listRow(await remote(d.rpcPort, '-l'), 1)).toBeUndefined();
  await poll(() => other.status?.numPeers === 0, 5_000, () => 'libtorrent to lose the connection', 50);
  // Nothing dials again (a fetch would redial its peers every 10 s; 2 s is many status reports).
  await sleep(2000);
  expect(other.status?.numPeers).toBe(0);
  expect(other.events.filter((e) => e.name === 'incoming_connection').length).toBe(1);
  expect(other.events.some((e) => e.name === 'peer_disconnected')).toBe(true);
  d.kill('SIGTERM');
  await d.exited;
});
