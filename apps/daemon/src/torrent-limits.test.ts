// honorsSessionLimits acts on the running torrent, with a real seeder on loopback: a torrent
// that does not honor the session's 16 kB/s downloads far faster; honoring it again brings it
// back near 16 kB/s.
import { join } from 'node:path';
import { freePort, makePayload, makeTempDir, makeTorrent, poll, removeTempDir } from '@mainline/interop';
import { Session } from '@mainline/session';
import { mergeConfig } from './config.js';
import { startDaemon, type RunningDaemon } from './program.js';
import { rpcClient } from './test-helpers.js';

let dir: string;
let running: RunningDaemon | undefined;
let seeder: Session | undefined;
afterAll(async () => {
  await running?.stop();
  await seeder?.close();
  if (dir) removeTempDir(dir);
});

test('honorsSessionLimits false: the session limit no longer holds the torrent back; true again: it does', async () => {
  dir = makeTempDir('daemon-honors');
  const payload = await makePayload(join(dir, 'seed'), { name: 'honors.bin', size: 48 * 1024 * 1024 });
  const t = makeTorrent(payload.path, { pieceLength: 256 * 1024 });
  const peerPort = await freePort();
  running = await startDaemon(
    mergeConfig({ downloadDir: join(dir, 'dl'), stateDir: join(dir, 'state'), portRange: [peerPort, peerPort], bind: '127.0.0.3', rpcPort: 0, speedLimitDown: 16, speedLimitDownEnabled: true }),
    { log: () => undefined },
  );
  const rpc = rpcClient(running.server.port);
  const id = ((await rpc('torrent-add', { metainfo: Buffer.from(t.bytes).toString('base64') })).arguments['torrent-added'] as { id: number }).id;
  // The torrent's own limit stays: 2000 kB/s.
  expect((await rpc('torrent-set', { ids: [id], downloadLimit: 2000, downloadLimited: true, honorsSessionLimits: false })).result).toBe('success');
  seeder = new Session({ bind: '127.0.0.5', portRange: [await freePort(), 65535] });
  await seeder.listen();
  await seeder.add(t.bytes, { savePath: payload.saveDir, noTrackers: true, peers: [{ ip: '127.0.0.3', port: peerPort }] });
  const rate = async (): Promise<number> => ((await rpc('torrent-get', { ids: [id], fields: ['rateDownload'] })).arguments.torrents as { rateDownload: number }[])[0]!.rateDownload;
  await poll(async () => ((await rate()) > 400_000 ? true : undefined), 30_000, () => 'the download to run well past the session limit');
  expect((await rpc('torrent-set', { ids: [id], honorsSessionLimits: true })).result).toBe('success');
  // It reopens (the seeder dials it again): data flows, at the session's pace.
  await poll(
    async () => {
      const r = await rate();
      return r > 2_000 && r < 40_000 ? true : undefined;
    },
    45_000,
    () => 'data to flow again, held by the session limit',
  );
}, 120_000);
