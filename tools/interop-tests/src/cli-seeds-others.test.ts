// Scenario b: `mainline seed` (the built CLI) serves libtorrent, aria2c and Transmission at once.
// libtorrent and aria2c find it through opentracker; Transmission drops loopback peers it hears
// of from trackers, so our seeder dials it (`--peer`).
import { join } from 'node:path';
import {
  freePort,
  makePayload,
  makeTempDir,
  makeTorrent,
  startAria2,
  startLibtorrent,
  startOpentracker,
  startTransmission,
} from '@mainline/interop';
import { MiB, digests, loopbackFlags, spawnCli, type CliProcess } from './helpers.js';

describe('mainline CLI seeds to libtorrent, aria2c and Transmission', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const stop of cleanup.splice(0).reverse()) await stop().catch(() => undefined);
  });

  test('each of them completes with correct data', async () => {
    const dir = makeTempDir('it-cli-seed');
    const tracker = await startOpentracker({ infoHashes: [] });
    cleanup.push(() => tracker.stop());
    // Multi-file with sizes that do not line up with pieces: files straddle piece boundaries.
    const payload = await makePayload(join(dir, 'seed'), {
      name: 'album',
      files: [
        { path: 'a.bin', size: 5 * MiB + 777 },
        { path: 'sub/b.bin', size: 3 * MiB - 1 },
        { path: 'c.txt', size: 10_000 },
      ],
    });
    const torrent = makeTorrent(payload.path, { pieceLength: 128 * 1024, trackers: [tracker.announceUrl] });
    await tracker.allow([torrent.infoHash]);

    // Transmission takes the longest to start; it must listen before our seeder dials it.
    const transmission = await startTransmission({ torrentPath: torrent.path, dir: join(dir, 'tr'), seed: false });
    cleanup.push(() => transmission.stop());
    // While it verifies the (empty) download dir the torrent is not running and Transmission
    // drops incoming peers for it; `--peer` is dialled once, so wait until it is downloading.
    await transmission.waitFor((s) => s.state === 'downloading', 20_000);

    const port = await freePort();
    const seeder: CliProcess = spawnCli([
      'seed',
      torrent.path,
      '-d',
      payload.saveDir,
      '--peer',
      `127.0.0.1:${transmission.port}`,
      ...loopbackFlags(port, join(dir, 'state')),
    ]);
    cleanup.push(() => seeder.stop());
    await seeder.waitForOutput(/seeding album .* on port (\d+)/, 30_000);

    const started = Date.now();
    const timings: Record<string, number> = {};
    const lt = await startLibtorrent({ mode: 'leech', torrentPath: torrent.path, savePath: join(dir, 'lt') });
    cleanup.push(() => lt.stop());
    const aria2 = await startAria2({ torrentPath: torrent.path, dir: join(dir, 'aria2'), seed: false });
    cleanup.push(() => aria2.stop());

    await Promise.all([
      lt.waitForComplete(60_000).then(() => (timings.libtorrent = Date.now() - started)),
      aria2.waitForComplete(60_000).then(() => (timings.aria2c = Date.now() - started)),
      transmission.waitForComplete(60_000).then(() => (timings.transmission = Date.now() - started)),
    ]);

    for (const sub of ['lt', 'aria2', 'tr']) {
      const { expected, actual } = await digests(payload, join(dir, sub));
      expect({ client: sub, actual }).toEqual({ client: sub, actual: expected });
    }
    const result = await seeder.stop();
    expect(result.code).toBe(130); // stopped by SIGINT, as a user's Ctrl-C
    // At the start only our seeder had the data, so it uploaded at least one whole copy.
    const up = /\nsummary: seeded for \S+, ([\d.]+)(B|KiB|MiB|GiB) uploaded/.exec(result.stderr);
    expect(up).not.toBeNull();
    const units: Record<string, number> = { B: 1, KiB: 1024, MiB: MiB, GiB: 1024 * MiB };
    expect(Number(up![1]) * units[up![2]!]!).toBeGreaterThanOrEqual(payload.totalSize * 0.99);
    console.log(`b. CLI seed -> ${JSON.stringify(timings)} ms after the seeder was up (${payload.totalSize} bytes)`);
  });
});
