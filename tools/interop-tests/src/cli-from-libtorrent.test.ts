// Scenario a: `mainline download` (the built CLI, as a user runs it) finds a libtorrent seeder
// through opentracker (HTTP announce) and downloads a multi-piece file byte for byte.
import { join } from 'node:path';
import { freePort, makePayload, makeTempDir, makeTorrent, startLibtorrent, startOpentracker, type LibtorrentHandle, type RunningOpentracker } from '@mainline/interop';
import { MiB, digests, loopbackFlags, spawnCli } from './helpers.js';

describe('mainline CLI downloads from libtorrent through opentracker', () => {
  let tracker: RunningOpentracker | undefined;
  let seeder: LibtorrentHandle | undefined;

  afterEach(async () => {
    await seeder?.stop();
    await tracker?.stop();
  });

  test('exits 0 with byte-identical data', async () => {
    const dir = makeTempDir('it-cli-lt');
    tracker = await startOpentracker({ infoHashes: [] });
    // 16 MiB + an odd tail: the last piece is short.
    const payload = await makePayload(join(dir, 'seed'), { name: 'film.bin', size: 16 * MiB + 12_345 });
    const torrent = makeTorrent(payload.path, { pieceLength: 256 * 1024, trackers: [tracker.announceUrl] });
    await tracker.allow([torrent.infoHash]);

    seeder = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: payload.saveDir });
    await seeder.waitForComplete(20_000);
    // Make sure the tracker knows the seeder before we ask it for peers.
    await seeder.waitForEvent((e) => e.name === 'tracker_reply' || e.name === 'tracker_announce', 15_000).catch(() => undefined);

    const out = join(dir, 'out');
    const started = Date.now();
    const cli = spawnCli(['download', torrent.path, '-o', out, ...loopbackFlags(await freePort(), join(dir, 'state'))]);
    const result = await cli.done;
    const elapsed = Date.now() - started;
    expect({ code: result.code, output: result.code === 0 ? '' : cli.output() }).toEqual({ code: 0, output: '' });
    expect(result.stderr).toContain('all pieces verified');
    const { expected, actual } = await digests(payload, out);
    expect(actual).toEqual(expected);
    // libtorrent really served it: its upload counter covers the payload.
    await seeder.waitFor((s) => s.totalUpload >= payload.totalSize, 5_000);
    console.log(`a. CLI <- libtorrent via opentracker: ${payload.totalSize} bytes in ${elapsed} ms (process start to exit)`);
  });
});
