// Two Swarms over in-memory sockets on a ManualClock: no TCP, no real time (the files and the
// hashing threads are real). Small send queues and deliveries make the back-pressure paths run.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '@mainline/interop';
import type { Metainfo } from '@mainline/metainfo';
import { MemoryNetwork } from '@mainline/rawserver';
import { ManualClock } from '@mainline/rate';
import type { PeerView } from './index.js';
import { Fixture, multiFileTorrent, peerId, readTorrentData, type SwarmNode } from './swarm-harness.js';

let dir: string;
let multi: Metainfo;
let seedDir: string;
const fx = new Fixture();

beforeAll(async () => {
  dir = makeTempDir('swarm-memory');
  ({ meta: multi, seedDir } = await multiFileTorrent(dir, 'swarm-memory'));
});

afterEach(() => fx.cleanup());
afterAll(() => {
  if (dir) removeTempDir(dir);
});

/** TCP handles open in this process: a memory swarm must add none. */
const tcpHandles = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length;

/**
 * Runs the event loop (deliveries, disk, hashing threads) until `done`, moving the ManualClock on
 * by `stepMs` every few turns, as time would pass; fails after `maxTurns`.
 */
async function run(clock: ManualClock, done: () => boolean, what: string, stepMs = 100, maxTurns = 20_000): Promise<number> {
  for (let turn = 0; turn < maxTurns; turn++) {
    if (done()) return turn;
    await new Promise((r) => setImmediate(r));
    if (turn % 8 === 7) clock.advance(stepMs);
  }
  throw new Error(`not within ${maxTurns} turns: ${what}`);
}

test('two Swarms transfer a multi-file torrent over in-memory sockets on a ManualClock, without TCP', async () => {
  const clock = new ManualClock(1_000_000);
  const network = new MemoryNetwork({ clock, writeThreshold: 32 * 1024, chunkSize: 16 * 1024 });
  const tcpBefore = tcpHandles();
  const seeder: SwarmNode = await fx.node(multi, seedDir, { id: peerId('mseed'), memory: { network, address: '192.0.2.1' } });
  const saveDir = join(dir, 'leech');
  const leecher: SwarmNode = await fx.node(multi, saveDir, { id: peerId('mleech'), memory: { network, address: '192.0.2.2' } });
  expect(seeder.store.isComplete()).toBe(true);
  expect(leecher.store.haveCount).toBe(0);
  expect(seeder.hub.transports.map((t) => t.name)).toEqual(['memory']);

  const connected: { at: 'seeder' | 'leecher'; view: PeerView }[] = [];
  seeder.swarm.on('peer-connected', (view) => connected.push({ at: 'seeder', view }));
  leecher.swarm.on('peer-connected', (view) => connected.push({ at: 'leecher', view }));
  let complete = false;
  void leecher.completed.then(() => (complete = true));
  const started = clock.now();
  leecher.dial(seeder.port, seeder.host, 'user');
  await run(clock, () => complete, 'the leecher to complete');
  expect(tcpHandles()).toBe(tcpBefore);

  // Every byte, in the right files (the zero-length one too).
  expect(leecher.store.isComplete()).toBe(true);
  expect((await readTorrentData(multi, saveDir)).equals(await readTorrentData(multi, seedDir))).toBe(true);
  expect((await stat(join(saveDir, 'multi', 'empty', 'zero.bin'))).size).toBe(0);
  // Stats and the peers as the outside sees them: transport, source, direction.
  expect(leecher.swarm.downloaded).toBe(multi.totalLength);
  expect(leecher.swarm.wasted).toBe(0);
  await run(clock, () => seeder.swarm.uploaded === multi.totalLength, 'the seeder to count its upload');
  const atLeecher = connected.find((c) => c.at === 'leecher')!.view;
  const atSeeder = connected.find((c) => c.at === 'seeder')!.view;
  expect([atLeecher.transport, atLeecher.source, atLeecher.incoming, atLeecher.remoteAddress, atLeecher.remotePort]).toEqual([
    'memory',
    'user',
    false,
    '192.0.2.1',
    seeder.port,
  ]);
  expect([atSeeder.transport, atSeeder.source, atSeeder.incoming, atSeeder.remoteAddress]).toEqual(['memory', 'incoming', true, '192.0.2.2']);
  expect(atLeecher.downloaded).toBe(multi.totalLength);
  expect(atLeecher.seed).toBe(true);
  expect(atLeecher.piecesHave).toBe(multi.pieceCount);
  expect(atSeeder.uploaded).toBe(multi.totalLength);
  // Finished with a seed: the leecher closes it (nothing to trade), and both see it go.
  await run(clock, () => seeder.dropped.length === 1 && leecher.dropped.length === 1, 'the connection to close');
  expect(leecher.dropped.map((d) => d.reason)).toEqual(['local']);
  expect(seeder.dropped.map((d) => d.reason)).toEqual(['remote-closed']);
  for (const n of [seeder, leecher]) {
    expect(n.errors).toEqual([]);
    expect(n.serverErrors).toEqual([]);
    expect(n.log).toEqual([]);
  }
  // Only ManualClock time went by (the clock is the only time the swarms have).
  expect(clock.now()).toBeGreaterThan(started);
});

test('a dial to the listen port of a peer that dialled us does not start: it would replace the working connection', async () => {
  const clock = new ManualClock(1_000_000);
  const network = new MemoryNetwork({ clock });
  // The seeder's peer id is the lower: the second connection, dialled by it, would win.
  const seeder: SwarmNode = await fx.node(multi, seedDir, { id: peerId('dupa-seed'), memory: { network, address: '192.0.2.1' } });
  let leecherPort = 0;
  const leecher: SwarmNode = await fx.node(multi, join(dir, 'dup-leech'), {
    id: peerId('dupb-leech'),
    memory: { network, address: '192.0.2.2' },
    swarm: { listenPort: () => leecherPort },
  });
  leecherPort = leecher.port;
  const opened: PeerView[] = [];
  seeder.swarm.on('peer-connected', (view) => opened.push(view));
  leecher.dial(seeder.port, seeder.host, 'user');
  await run(clock, () => opened[0]?.listenPort === leecher.port, 'the leecher to tell its listen port');
  const incoming = opened[0]!;
  expect([incoming.incoming, incoming.remoteAddress]).toEqual([true, leecher.host]);
  expect(incoming.remotePort).not.toBe(leecher.port);

  // Its address comes back (by PEX, say) within the simultaneous-open window: no dial.
  expect(seeder.swarm.connect(leecher.host, leecher.port, undefined, 'pex')).toBe(false);
  expect([...seeder.swarm.peers]).toEqual([incoming]);
  // Another port of that host is another peer: dialled.
  expect(seeder.swarm.connect(leecher.host, leecher.port + 1)).toBe(true);
});
