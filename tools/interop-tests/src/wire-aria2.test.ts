// The peer wire against aria2c 1.36 with its own wire behaviour left as it is: it opens with an
// MSE handshake and redials in plain when that is refused, sends have-none then allowed-fast, and
// restates its pieces with whole bitfields instead of haves. Found through opentracker, both ways:
// a. aria2c downloads from our seeding Session, promptly, and our seeder drops none of its
//    connections for breaking the protocol (the refused MSE attempt is ENCRYPTED_HANDSHAKE);
// b. our Session downloads from an aria2c seeder;
// c. aria2c downloads a trackerless magnet from our seeding Session found through the DHT (one
//    libtorrent DHT node on loopback is everyone's bootstrap node; never the public routers).
import { join } from 'node:path';
import type { WireLogEvent } from '@mainline/connecter';
import { makePayload, makeTempDir, makeTorrent, startAria2, startLtDhtNode, startOpentracker, type MadeTorrent, type Payload, type RunningOpentracker } from '@mainline/interop';
import { formatMagnet } from '@mainline/metainfo';
import { MiB, digests, loopbackSession, until, whenComplete } from './helpers.js';

/** Drops that are no fault of the peer's: a refused encrypted handshake it retries in plain. */
const EXPECTED_DROPS = new Set<string>(['ENCRYPTED_HANDSHAKE']);

describe('peer wire with aria2c, through opentracker', () => {
  let dir: string;
  let payload: Payload;
  let torrent: MadeTorrent;
  let tracker: RunningOpentracker;
  const cleanup: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    dir = makeTempDir('it-aria2');
    tracker = await startOpentracker({ infoHashes: [] });
    // 40 pieces: aria2 then announces each piece it completes with a bitfield (5 + 5 bytes is
    // no more than one 9-byte have), the message order that used to get it dropped.
    payload = await makePayload(join(dir, 'seed'), { name: 'a2.bin', size: 10 * MiB - 12_345 });
    torrent = makeTorrent(payload.path, { pieceLength: 256 * 1024, trackers: [tracker.announceUrl] });
    await tracker.allow([torrent.infoHash]);
  });
  afterAll(() => tracker.stop());
  afterEach(async () => {
    for (const stop of cleanup.splice(0).reverse()) await stop().catch(() => undefined);
  });

  test('a. aria2c downloads from our seeding Session promptly, and none of its connections is dropped for a protocol violation', async () => {
    const drops: WireLogEvent[] = [];
    const session = await loopbackSession({ log: (e) => drops.push(e) });
    cleanup.push(() => session.close());
    const seed = await session.add(torrent.bytes, { savePath: payload.saveDir });
    expect(seed.stats().state).toBe('seeding');

    const started = Date.now();
    const aria2 = await startAria2({ torrentPath: torrent.path, dir: join(dir, 'a'), seed: false });
    cleanup.push(() => aria2.stop());
    // Before the fix it stalled after its first piece (its bitfield got it dropped) and crawled on
    // reconnects; aria2's 1-second loop, its tracker round and the MSE retry take ~3-5 s in all.
    await aria2.waitForComplete(30_000).catch((err: Error) => {
      throw new Error(`${err.message}\nour seeder's drops: ${JSON.stringify(drops)}`);
    });
    const elapsed = Date.now() - started;
    expect(await aria2.exited).toBe(0);

    const { expected, actual } = await digests(payload, join(dir, 'a'));
    expect(actual).toEqual(expected);
    expect(drops.filter((d) => !EXPECTED_DROPS.has(d.code)).map((d) => `${d.code}: ${d.message}`)).toEqual([]);
    console.log(`a. aria2c <- our Session: ${payload.totalSize} bytes in ${elapsed} ms (aria2c start to complete); drops: ${JSON.stringify(drops.map((d) => d.code))}`);
  }, 60_000);

  test('b. our Session downloads from an aria2c seeder', async () => {
    const aria2 = await startAria2({ torrentPath: torrent.path, dir: payload.saveDir, seed: true });
    cleanup.push(() => aria2.stop());
    await aria2.waitFor((s) => s.state === 'seeding', 20_000);

    const drops: WireLogEvent[] = [];
    const session = await loopbackSession({ log: (e) => drops.push(e) });
    cleanup.push(() => session.close());
    const out = join(dir, 'b');
    const started = Date.now();
    const leecher = await session.add(torrent.bytes, { savePath: out });
    await whenComplete(leecher, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}\nour leecher's drops: ${JSON.stringify(drops)}`);
    });
    const elapsed = Date.now() - started;

    const { expected, actual } = await digests(payload, out);
    expect(actual).toEqual(expected);
    expect(leecher.stats().hashFails).toBe(0);
    expect(drops.filter((d) => !EXPECTED_DROPS.has(d.code)).map((d) => `${d.code}: ${d.message}`)).toEqual([]);
    console.log(`b. our Session <- aria2c: ${payload.totalSize} bytes in ${elapsed} ms; drops: ${JSON.stringify(drops.map((d) => d.code))}`);
  }, 60_000);

  test('c. aria2c downloads a trackerless magnet from our seeding Session, found through the DHT', async () => {
    const router = await startLtDhtNode(['--port', '0']);
    cleanup.push(() => router.stop());
    const bootstrap = `127.0.0.1:${router.port}`;
    const drops: WireLogEvent[] = [];
    const session = await loopbackSession({ log: (e) => drops.push(e), dht: { bootstrap: [bootstrap] } });
    cleanup.push(() => session.close());
    await session.add(torrent.bytes, { savePath: payload.saveDir });
    await until(() => session.dhtStatus().announces >= 1, 15_000, 'our DHT announce to be accepted');

    const started = Date.now();
    const out = join(dir, 'c');
    const aria2 = await startAria2({ magnet: formatMagnet({ infoHash: torrent.infoHash }), dir: out, seed: false, dhtEntryPoints: [bootstrap] });
    cleanup.push(() => aria2.stop());
    // aria2's own DHT lookup takes most of it (its first get_peers ~6 s in, then a second one for
    // the download once it has the metadata); before the fix it never completed in 100 s.
    await aria2.waitForComplete(60_000).catch((err: Error) => {
      throw new Error(`${err.message}\nour seeder's drops: ${JSON.stringify(drops)}`);
    });
    const elapsed = Date.now() - started;
    const { expected, actual } = await digests(payload, out);
    expect(actual).toEqual(expected);
    expect(drops.filter((d) => !EXPECTED_DROPS.has(d.code)).map((d) => `${d.code}: ${d.message}`)).toEqual([]);
    console.log(`c. aria2c <- our Session, magnet via the DHT: ${payload.totalSize} bytes in ${elapsed} ms (aria2c start to complete); drops: ${JSON.stringify(drops.map((d) => d.code))}`);
  }, 90_000);
});
