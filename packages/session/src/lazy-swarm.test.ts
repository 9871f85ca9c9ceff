// A big session's seeds are idle: nobody asks for them. Such a torrent must not carry a swarm
// (picker, choker, upload side, PEX) until a peer comes, and must still serve that peer then.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { liveHeapMeter, makeTempDir, removeTempDir } from '@mainline/interop';
import { Session, type Torrent } from './index.js';
import { smallTorrent, until } from './test-helpers.js';

const COUNT = 1000;

let dir: string;
beforeAll(() => {
  dir = makeTempDir('ml-lazy-swarm-');
});
afterAll(() => removeTempDir(dir));

test(`${COUNT} seeds have no swarm until a peer comes; an incoming peer is served; the heap per torrent stays small`, async () => {
  const usedHeap = liveHeapMeter({ keepBytecode: true });
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const seeder = new Session({ portRange: [0, 0], bind: '127.0.0.1', stateDir: join(dir, 'state') });
  const leecher = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
  try {
    const port = await seeder.listen();
    await leecher.listen();
    const bytes: Uint8Array[] = [];
    for (let i = 0; i < COUNT; i++) bytes.push(smallTorrent(dataDir, 'lazy', i, 8 * 1024 + (i % 7) * 8000));
    // One torrent first, so that the code's first-use costs are not counted per torrent.
    await seeder.add(bytes[0]!, { savePath: dataDir });
    const before = usedHeap();
    const torrents = new Map<Torrent, Uint8Array>();
    for (let i = 1; i < COUNT; i++) torrents.set(await seeder.add(bytes[i]!, { savePath: dataDir, paused: i % 10 === 9 }), bytes[i]!);
    const perTorrent = (usedHeap() - before) / (COUNT - 1);
    console.log(`heap per idle torrent: ${(perTorrent / 1024).toFixed(1)} KiB`);
    const seeds = [...torrents.keys()].filter((t) => t.state === 'seeding');
    expect(seeds).toHaveLength(COUNT - 1 - Math.floor(COUNT / 10));
    expect(seeder.torrents.filter((t) => t.hasSwarm).length).toBe(0);
    // What a UI shows of a seed without a swarm: every piece, no peers.
    const shown = seeds[5]!.stats();
    expect(shown.piecesHave).toBe(shown.pieceCount);
    expect(shown.progress).toBe(1);
    expect(shown.peers).toBe(0);
    expect(seeds[5]!.store?.haveCount).toBe(shown.pieceCount);
    // Measured here: ~20 KiB of heap per torrent with a swarm per seed; ~8.6 KiB without; ~6.4 KiB
    // once an idle torrent also kept no rate samples, no piece levels or all-normal priorities, no
    // unused options, no closures for its hub entry, dialer, DHT and LSD registrations, and a peer
    // list with its counters made at first count; less again with the storage's pool, parts file and
    // per-file tables made at first use (bounded on its own in @mainline/storage's memory.test.ts),
    // ~5.0 KiB; ~4.5 KiB with no recent-rate meters before the first swarm, the store's listeners
    // shared by all torrents and the torrent's listener table a fast object. The bound leaves room
    // for another V8; going back to any of those tables per torrent breaks it.
    expect(perTorrent).toBeLessThan(6 * 1024);

    // A peer asks for one of them: the seed makes its swarm for it and serves the whole torrent.
    const wanted = seeds[3]!;
    const out = join(dir, 'out');
    const downloading = await leecher.add(torrents.get(wanted)!, { savePath: out, peers: [{ ip: '127.0.0.1', port }] });
    await until(() => downloading.state === 'seeding', 'the leecher to finish');
    expect(readFileSync(join(out, wanted.name))).toEqual(readFileSync(join(dataDir, wanted.name)));
    expect(wanted.hasSwarm).toBe(true);
    expect(wanted.stats().uploaded).toBeGreaterThanOrEqual(wanted.meta.totalLength);
    expect(seeder.torrents.filter((t) => t.hasSwarm)).toEqual([wanted]);

    // Pause and resume: no swarm again until the next peer.
    await wanted.pause();
    expect(wanted.hasSwarm).toBe(false);
    await wanted.resume();
    expect(wanted.state).toBe('seeding');
    expect(wanted.hasSwarm).toBe(false);
  } finally {
    await leecher.close();
    await seeder.close();
  }
}, 180_000);
