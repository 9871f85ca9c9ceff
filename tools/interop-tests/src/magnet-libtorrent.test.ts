// Magnet links against real libtorrent (BEP 9 over BEP 10), both ways:
// a. `mainline download <magnet>` (the built CLI) gets the metadata and the data from a
//    libtorrent seeder it finds through opentracker;
// b. a libtorrent leecher started from a magnet link gets the metadata and the data from our
//    seeding session (proves our ut_metadata serving);
// c. our session downloads a magnet link from a libtorrent seeder over the one connection the
//    metadata came on: no redial, no disconnect, at hand-off (the wire-extension host's hand-off).
import { join } from 'node:path';
import {
  freePort,
  makePayload,
  makeTempDir,
  makeTorrent,
  startLibtorrent,
  startOpentracker,
  type LibtorrentHandle,
  type RunningOpentracker,
} from '@mainline/interop';
import { formatMagnet, parseTorrent } from '@mainline/metainfo';
import { readFile } from 'node:fs/promises';
import { MiB, digests, loopbackFlags, loopbackSession, spawnCli, whenComplete } from './helpers.js';
import type { Session } from '@mainline/session';

describe('magnet links with libtorrent', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const stop of cleanup.splice(0).reverse()) await stop().catch(() => undefined);
  });

  test('a. the CLI downloads a magnet link seeded by libtorrent, found through opentracker', async () => {
    const dir = makeTempDir('it-magnet-cli');
    const tracker: RunningOpentracker = await startOpentracker({ infoHashes: [] });
    cleanup.push(() => tracker.stop());
    // 864 pieces of 32 KiB: the info dict is over 16 KiB, two BEP 9 pieces (the last one short).
    const payload = await makePayload(join(dir, 'seed'), { name: 'clip.bin', size: 27 * MiB - 4321 });
    const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024, trackers: [tracker.announceUrl] });
    expect(torrent.metainfo.infoBytes.length).toBeGreaterThan(16384);
    await tracker.allow([torrent.infoHash]);
    const seeder: LibtorrentHandle = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: payload.saveDir });
    cleanup.push(() => seeder.stop());
    await seeder.waitForComplete(20_000);
    // Make sure the tracker knows the seeder before we ask it for peers.
    await seeder.waitForEvent((e) => e.name === 'tracker_reply' || e.name === 'tracker_announce', 15_000).catch(() => undefined);

    const link = formatMagnet({ infoHash: torrent.infoHash, name: 'clip', trackers: [tracker.announceUrl] });
    const out = join(dir, 'out');
    const saved = join(dir, 'saved.torrent');
    const started = Date.now();
    const cli = spawnCli(['download', link, '-o', out, '--save-torrent', saved, ...loopbackFlags(await freePort(), join(dir, 'state'))]);
    cleanup.push(() => cli.stop());
    const result = await cli.done;
    const elapsed = Date.now() - started;
    expect({ code: result.code, output: result.code === 0 ? '' : cli.output() }).toEqual({ code: 0, output: '' });
    expect(result.stderr).toContain('fetching metadata');
    expect(result.stderr).toContain('metadata: clip.bin');
    expect(result.stderr).toContain('all pieces verified');
    const { expected, actual } = await digests(payload, out);
    expect(actual).toEqual(expected);
    // The .torrent we wrote is the seeder's info dict, byte for byte.
    const meta = parseTorrent(await readFile(saved));
    expect(Buffer.from(meta.infoBytes).equals(Buffer.from(torrent.metainfo.infoBytes))).toBe(true);
    expect(meta.trackers).toEqual([[tracker.announceUrl]]);
    console.log(`a. CLI <- libtorrent by magnet via opentracker: ${payload.totalSize} bytes in ${elapsed} ms (process start to exit)`);
  });

  test('b. libtorrent downloads a magnet link from our seeding session (metadata served by us)', async () => {
    const dir = makeTempDir('it-magnet-lt');
    const payload = await makePayload(join(dir, 'seed'), {
      name: 'album',
      files: [
        { path: 'a.bin', size: 9 * MiB + 5 },
        { path: 'sub/b.bin', size: 3 * MiB - 7 },
      ],
    });
    // 384 pieces of 32 KiB: the info dict is one BEP 9 piece.
    const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024 });
    const seeder: Session = await loopbackSession();
    cleanup.push(() => seeder.close());
    const ours = await seeder.add(torrent.bytes, { savePath: payload.saveDir });
    expect(ours.state).toBe('seeding');

    const link = formatMagnet({ infoHash: torrent.infoHash, name: 'album', peers: [{ ip: '127.0.0.1', port: seeder.port }] });
    const started = Date.now();
    const lt = await startLibtorrent({ mode: 'leech', magnet: link, savePath: join(dir, 'lt'), peers: [['127.0.0.1', seeder.port]] });
    cleanup.push(() => lt.stop());
    await lt.waitForComplete(60_000);
    const elapsed = Date.now() - started;
    const { expected, actual } = await digests(payload, join(dir, 'lt'));
    expect(actual).toEqual(expected);
    // Nobody else had the data or the metadata.
    expect(ours.stats().uploaded).toBeGreaterThanOrEqual(payload.totalSize);
    console.log(`b. libtorrent <- our session by magnet: ${payload.totalSize} bytes in ${elapsed} ms (libtorrent start to complete)`);
  });

  test('c. our session keeps its metadata connection to a libtorrent seeder into the download', async () => {
    const dir = makeTempDir('it-magnet-handoff');
    const payload = await makePayload(join(dir, 'seed'), { name: 'handoff.bin', size: 27 * MiB + 17 });
    // 865 pieces of 32 KiB: an info dict of two BEP 9 pieces.
    const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024 });
    expect(torrent.metainfo.infoBytes.length).toBeGreaterThan(16384);
    const seeder: LibtorrentHandle = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: payload.saveDir });
    cleanup.push(() => seeder.stop());
    await seeder.waitForComplete(20_000);
    const leecher: Session = await loopbackSession();
    cleanup.push(() => leecher.close());
    let dials = 0;
    const connect = leecher.hub.connect.bind(leecher.hub);
    leecher.hub.connect = (...args) => {
      dials++;
      return connect(...args);
    };
    const link = formatMagnet({ infoHash: torrent.infoHash, name: 'handoff', peers: [{ ip: '127.0.0.1', port: seeder.port }] });
    const download = leecher.addMagnet(link, { savePath: join(dir, 'out'), noTrackers: true });
    let metadataAt = 0;
    let dialsAtMetadata = -1;
    download.once('metadata', () => {
      metadataAt = performance.now();
      dialsAtMetadata = dials;
    });
    const t = await download.torrent;
    const firstPiece = new Promise<number>((resolve) => t.once('piece', () => resolve(performance.now())));
    await whenComplete(t, 60_000);
    const handoffMs = (await firstPiece) - metadataAt;
    const { expected, actual } = await digests(payload, join(dir, 'out'));
    expect(actual).toEqual(expected);
    expect(dialsAtMetadata).toBe(1);
    expect(dials).toBe(1);
    // libtorrent saw one connection from us in all, and it went only when we, finished, closed it.
    await seeder.waitForEvent((e) => e.name === 'peer_disconnected', 10_000);
    const events = seeder.events.map((e) => e.name).filter((n) => n === 'incoming_connection' || n === 'peer_disconnected' || n === 'peer_error');
    expect(events).toEqual(['incoming_connection', 'peer_disconnected']);
    expect(t.stats().progress).toBe(1);
    console.log(`c. our session <- libtorrent by magnet: metadata verified → first piece in ${handoffMs.toFixed(1)} ms, ${dials} dial(s) in all`);
  });
});
