// The DHT against real libtorrent (python3-libtorrent 2.0) on loopback, with trackerless magnet
// links both ways. A libtorrent DHT node is the only bootstrap node anyone is given; nobody has a
// tracker, an x.pe or a --peer, and LSD has no interface on 127.0.0.1: peers come from the DHT.
// a. `mainline download <magnet>` joins through the libtorrent node and downloads from a
//    libtorrent seeder that announced only to the DHT;
// b. a libtorrent leecher with only the DHT finds our seeding session (it announced itself) and
//    downloads from it.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseState, startStandaloneDht } from '@mainline/dht';
import { freePort, poll, makePayload, makeTempDir, makeTorrent, startLibtorrent, startLtDhtNode, type LibtorrentHandle, type LtDhtNode } from '@mainline/interop';
import { formatMagnet } from '@mainline/metainfo';
import type { Session } from '@mainline/session';
import { MiB, digests, loopbackFlags, loopbackSession, spawnCli, until } from './helpers.js';

/** Searches the DHT through the node at `port` until `peer` is found for `infoHash` (hex). */
async function seenInDht(port: number, infoHash: string, peer: string): Promise<void> {
  const probe = await startStandaloneDht({ bootstrap: [`127.0.0.1:${port}`], readOnly: true, queryTimeoutMs: 1000, start: false });
  const node = probe.node;
  try {
    await node.start();
    await poll(
      async () => ((await node.getPeers(Buffer.from(infoHash, 'hex')).done).peers.some((p) => `${p.host}:${p.port}` === peer) ? true : undefined),
      20_000,
      () => `the DHT to know ${peer}`,
      250,
    );
  } finally {
    await probe.close();
  }
}

/** libtorrent's peer_info.source bit for a peer found through the DHT. */
const LT_SOURCE_DHT = 2;

describe('trackerless magnet links through the DHT, with libtorrent', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  let router: LtDhtNode;
  beforeAll(async () => {
    router = await startLtDhtNode(['--port', '0']);
  });
  afterAll(() => router.stop());
  afterEach(async () => {
    for (const stop of cleanup.splice(0).reverse()) await stop().catch(() => undefined);
  });

  test('a. the CLI joins through a libtorrent node and downloads from a libtorrent seeder it found in the DHT', async () => {
    const dir = makeTempDir('it-dht-cli');
    const payload = await makePayload(join(dir, 'seed'), { name: 'tl.bin', size: 6 * MiB + 333 });
    const torrent = makeTorrent(payload.path, { pieceLength: 64 * 1024 });
    expect(torrent.metainfo.trackers).toEqual([]);
    const seeder: LibtorrentHandle = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: payload.saveDir, dht: { nodes: [`127.0.0.1:${router.port}`] } });
    cleanup.push(() => seeder.stop());
    await seeder.waitForComplete(20_000);
    // A probe of our own (a bare DhtNode) sees the seeder's announce in the router's store.
    await seenInDht(router.port, torrent.infoHash, `127.0.0.1:${seeder.port}`);

    const link = formatMagnet({ infoHash: torrent.infoHash, name: 'tl' });
    expect(link).not.toContain('tr=');
    const state = join(dir, 'state');
    const started = Date.now();
    const cli = spawnCli(['download', link, '-o', join(dir, 'out'), '--dht-bootstrap', `127.0.0.1:${router.port}`, ...loopbackFlags(await freePort(), state)], 60_000);
    cleanup.push(() => cli.stop());
    const result = await cli.done;
    const elapsed = Date.now() - started;
    expect({ code: result.code, output: result.code === 0 ? '' : cli.output() }).toEqual({ code: 0, output: '' });
    expect(result.stderr).toContain('DHT on');
    expect(result.stderr).toContain('metadata: tl.bin');
    const { expected, actual } = await digests(payload, join(dir, 'out'));
    expect(actual).toEqual(expected);
    // Our node joined through libtorrent's: it is in the table we saved (the seeder too, likely).
    const saved = parseState(await readFile(join(state, 'dht.dat')));
    expect(saved.nodes.map((n) => `${n.host}:${n.port}`)).toContain(`127.0.0.1:${router.port}`);
    console.log(`a. CLI <- libtorrent, trackerless magnet via the DHT: ${payload.totalSize} bytes in ${elapsed} ms (process start to exit); saved ${saved.nodes.length} nodes`);
  }, 90_000);

  test('b. a libtorrent leecher with only the DHT finds our seeding session and downloads a trackerless magnet from it', async () => {
    const dir = makeTempDir('it-dht-lt');
    const payload = await makePayload(join(dir, 'seed'), { name: 'back.bin', size: 5 * MiB - 77 });
    const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024 });
    // 2 MiB/s: the download lasts long enough for libtorrent's status reports to see the peer.
    const seeder: Session = await loopbackSession({ uploadLimit: 2 * MiB, dht: { bootstrap: [`127.0.0.1:${router.port}`] } });
    cleanup.push(() => seeder.close());
    await seeder.add(torrent.bytes, { savePath: payload.saveDir });
    await until(() => seeder.dhtStatus().announces >= 1, 15_000, 'our announce to be accepted');
    // libtorrent's node answered our bootstrap: it is in our table.
    expect(seeder.dhtStatus().nodes).toBeGreaterThanOrEqual(1);

    const started = Date.now();
    const leecher = await startLibtorrent({ mode: 'leech', magnet: formatMagnet({ infoHash: torrent.infoHash }), savePath: join(dir, 'out'), dht: { routers: [`127.0.0.1:${router.port}`] } });
    cleanup.push(() => leecher.stop());
    const sources = new Set<number>();
    await leecher.waitFor((s) => {
      for (const x of s.peerSources) sources.add(x);
      return s.complete;
    }, 60_000);
    const elapsed = Date.now() - started;
    expect([...sources].some((x) => (x & LT_SOURCE_DHT) !== 0)).toBe(true);
    const { expected, actual } = await digests(payload, join(dir, 'out'));
    expect(actual).toEqual(expected);
    console.log(`b. libtorrent <- our session, trackerless magnet via the DHT: ${payload.totalSize} bytes in ${elapsed} ms (libtorrent start to complete)`);
  }, 90_000);
});
