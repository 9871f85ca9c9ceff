// Scenario c: one seed and four leechers, all ours, meeting through opentracker. The seed's
// upload is capped so the leechers must trade pieces among themselves to finish in time.
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, startOpentracker, type RunningOpentracker } from '@mainline/interop';
import type { Session, Torrent } from '@mainline/session';
import { MiB, digests, loopbackSession, whenComplete } from './helpers.js';

describe('a swarm of our sessions through opentracker', () => {
  let tracker: RunningOpentracker | undefined;
  const sessions: Session[] = [];
  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((s) => s.close()));
    await tracker?.stop();
  });

  test('1 seed + 4 leechers all finish with verified data, and the leechers upload to each other', async () => {
    const dir = makeTempDir('it-swarm');
    tracker = await startOpentracker({ infoHashes: [] });
    const payload = await makePayload(join(dir, 'seed'), { name: 'swarm.bin', size: 12 * MiB + 4321 });
    const torrent = makeTorrent(payload.path, { pieceLength: 64 * 1024, trackers: [tracker.announceUrl] });
    await tracker.allow([torrent.infoHash]);

    const SEED_RATE = 3 * MiB;
    const seedSession = await loopbackSession({ uploadLimit: SEED_RATE });
    sessions.push(seedSession);
    const seed = await seedSession.add(torrent.bytes, { savePath: payload.saveDir });
    expect(seed.stats().state).toBe('seeding');

    const started = Date.now();
    const leechers: Torrent[] = [];
    for (let i = 0; i < 4; i++) {
      const s = await loopbackSession();
      sessions.push(s);
      leechers.push(await s.add(torrent.bytes, { savePath: join(dir, `leech${i}`) }));
    }
    await Promise.all(leechers.map((t) => whenComplete(t, 60_000)));
    const elapsed = Date.now() - started;

    for (let i = 0; i < 4; i++) {
      const { expected, actual } = await digests(payload, join(dir, `leech${i}`));
      expect({ leecher: i, actual }).toEqual({ leecher: i, actual: expected });
      expect(leechers[i]!.stats().hashFails).toBe(0);
    }
    const uploads = leechers.map((t) => t.stats().uploaded);
    const fromSeed = seed.stats().uploaded;
    const leecherUpload = uploads.reduce((a, b) => a + b, 0);
    // Tit-for-tat happened: the leechers served each other...
    expect(leecherUpload).toBeGreaterThan(0);
    // ...and every byte a leecher downloaded came from the seed or another leecher.
    const downloaded = leechers.reduce((a, t) => a + t.stats().downloaded, 0);
    expect(downloaded).toBeGreaterThanOrEqual(4 * payload.totalSize);
    expect(fromSeed + leecherUpload).toBeGreaterThanOrEqual(4 * payload.totalSize);
    // The capped seed alone could not have served four copies this fast.
    expect(fromSeed).toBeLessThan(4 * payload.totalSize);
    console.log(
      `c. swarm 1+4: ${elapsed} ms; seed uploaded ${fromSeed}, leechers uploaded ${JSON.stringify(uploads)} (payload ${payload.totalSize})`,
    );
  });
});
