// The Torrent state machine, each transition and its events, on a ManualClock over in-memory
// sockets: no TCP, no real time (the files and the hashing threads are real).
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManualClock } from '@mainline/rate';
import { type Session, type SessionOptions, type Torrent, type TorrentOptions } from './index.js';
import { MemoryWorld, payloadFixture } from './memory-harness.js';

const PIECE = 32 * 1024;
const fx = payloadFixture('ml-states-', 'one.bin', 32 * PIECE - 1000, PIECE);

/** TCP handles open in this process: these sessions add none. */
const tcpHandles = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap' || r === 'TCPServerWrap').length;

let world: MemoryWorld;
let clock: ManualClock;
let tcpBefore: number;
let outDirs = 0;

beforeEach(() => {
  world = new MemoryWorld();
  ({ clock } = world);
  tcpBefore = tcpHandles();
});
afterEach(async () => {
  expect(tcpHandles()).toBe(tcpBefore);
  await world.close();
});

const session = (address: string, options: SessionOptions = {}): Promise<Session> => world.session(address, options);
const run = (done: () => boolean, what: string, stepMs?: number, maxTurns?: number): Promise<number> => world.run(done, what, stepMs, maxTurns);
const settle = <T>(p: Promise<T>, what: string): Promise<T> => world.settle(p, what);

/** Every event of a torrent, in order: `state:<s>`, `done`, `peer-connected`, `seeding-done:<reason>` (pieces counted apart). */
function record(t: Torrent): { events: string[]; pieces: number[] } {
  const events: string[] = [];
  const pieces: number[] = [];
  t.on('state', (s) => events.push(`state:${s}`));
  t.on('done', () => events.push('done'));
  t.on('peer-connected', () => events.push('peer-connected'));
  t.on('seeding-done', (r) => events.push(`seeding-done:${r}`));
  t.on('error', (e) => events.push(`error:${e.message}`));
  t.on('piece', (i) => pieces.push(i));
  return { events, pieces };
}

/** A seeding session at 192.0.2.1 and a leecher session at 192.0.2.2, the torrent added to both. */
async function pair(seedOptions: Partial<TorrentOptions> = {}, leechOptions: Partial<TorrentOptions> = {}, leechSession: SessionOptions = {}) {
  const seeder = await session('192.0.2.1');
  const leecher = await session('192.0.2.2', leechSession);
  let seedEvents: ReturnType<typeof record> | undefined;
  seeder.once('torrent-added', (t) => (seedEvents = record(t)));
  const seed = await settle(seeder.add(fx.torrent.bytes, { savePath: fx.payload.saveDir, ...seedOptions }), 'the seeder to start');
  const out = join(fx.dir, `out-${++outDirs}`);
  let leechEvents: ReturnType<typeof record> | undefined;
  leecher.once('torrent-added', (t) => (leechEvents = record(t)));
  const leech = await settle(leecher.add(fx.torrent.bytes, { savePath: out, peers: [{ ip: '192.0.2.1', port: 6881 }], ...leechOptions }), 'the leecher to start');
  return { seeder, leecher, seed, leech, out, seedEvents: seedEvents!, leechEvents: leechEvents! };
}

test('start: a complete torrent checks, then seeds; a new one checks, downloads, finishes (done) and seeds', async () => {
  const { seed, leech, seedEvents, leechEvents } = await pair();
  expect(seed.state).toBe('seeding');
  await run(() => leech.state === 'seeding', 'the download');
  expect(seedEvents.events).toEqual(['state:checking', 'state:seeding', 'peer-connected']); // no `done`: nothing was downloaded
  expect(leechEvents.events).toEqual(['state:checking', 'state:downloading', 'peer-connected', 'state:seeding', 'done']);
  expect(leechEvents.pieces.sort((a, b) => a - b)).toEqual([...Array(fx.torrent.metainfo.pieceCount).keys()]);
  const s = leech.stats();
  expect([s.progress, s.left, s.downloaded, s.wasted, s.hashFails]).toEqual([1, 0, fx.payload.totalSize, 0, 0]);
  expect(leech.peers.map((p) => [p.transport, p.source, p.remoteAddress])).toEqual([]); // finished: the seed was closed
  await settle(leech.stop(), 'stop');
  expect(leech.state).toBe('stopped');
  expect(leechEvents.events.at(-1)).toBe('state:stopped');
});

test('pause leaves the swarm mid-download; resume dials again and finishes', async () => {
  // 64 KiB/s on the ManualClock: the download takes ~16 s of clock time, so it can be caught half-way.
  const { seed, leech, leechEvents } = await pair({}, {}, { downloadLimit: 64 * 1024 });
  await run(() => leech.stats().piecesHave >= 4, 'a few pieces');
  expect(leech.peers.map((p) => [p.transport, p.source, p.incoming, p.remoteAddress])).toEqual([['memory', 'user', false, '192.0.2.1']]);
  await settle(leech.pause(), 'pause');
  expect(leech.state).toBe('paused');
  expect(leech.stats().peers).toBe(0);
  await run(() => seed.stats().peers === 0, 'the seeder to see the leecher go');
  const frozen = leech.stats().piecesHave;
  expect(frozen).toBeLessThan(fx.torrent.metainfo.pieceCount);
  await settle(leech.resume(), 'resume');
  expect(leech.state).toBe('downloading');
  await run(() => leech.state === 'seeding', 'the rest of the download');
  expect(leechEvents.events).toEqual([
    'state:checking',
    'state:downloading',
    'peer-connected',
    'state:paused',
    'state:downloading',
    'peer-connected',
    'state:seeding',
    'done',
  ]);
  // Blocks of pieces half-collected at the pause were dropped with the swarm and fetched again:
  // at most the requests in flight then (the backlog, 16 blocks of 16 KiB).
  expect(leech.stats().downloaded).toBeGreaterThanOrEqual(fx.payload.totalSize);
  expect(leech.stats().downloaded).toBeLessThanOrEqual(fx.payload.totalSize + 16 * 16384);
});

test('recheck of a seed whose file lost a piece: checking, downloading that piece again, done, seeding', async () => {
  const { leech, out, leechEvents } = await pair();
  await run(() => leech.state === 'seeding', 'the download');
  // Corrupt piece 5 on disk, behind the torrent's back.
  const fh = await settle(open(join(out, 'one.bin'), 'r+'), 'open');
  await settle(fh.write(Buffer.alloc(100, 0xee), 0, 100, 5 * PIECE + 17), 'write');
  await settle(fh.close(), 'close');
  const checking: number[] = [];
  leech.on('checking', (p) => checking.push(p.checkedBytes));
  leechEvents.events.length = 0;
  leechEvents.pieces.length = 0;
  await settle(leech.recheck(), 'recheck');
  expect(leech.stats().piecesHave).toBe(fx.torrent.metainfo.pieceCount - 1);
  expect(checking.length).toBeGreaterThan(0);
  await run(() => leech.state === 'seeding', 'piece 5 again');
  expect(leechEvents.events).toEqual(['state:stopped', 'state:checking', 'state:downloading', 'peer-connected', 'state:seeding', 'done']);
  expect(leechEvents.pieces).toEqual([5]);
});

test('seed ratio: seeding stops (paused) once uploaded/size reaches the limit, with seeding-done', async () => {
  const { seed, leech, seedEvents } = await pair({ seedRatio: 1 });
  await run(() => leech.state === 'seeding', 'the download');
  // The session checks the limits every second of clock time.
  await run(() => seed.state === 'paused', 'the ratio to stop the seed');
  expect(seed.stats().uploaded).toBeGreaterThanOrEqual(fx.payload.totalSize);
  expect(seedEvents.events).toEqual(['state:checking', 'state:seeding', 'peer-connected', 'state:paused', 'seeding-done:ratio 1.00 reached']);
});

test('seed time: seeding stops after seedTimeSeconds of clock time, not a moment before', async () => {
  const seeder = await session('192.0.2.1');
  let events: ReturnType<typeof record> | undefined;
  seeder.once('torrent-added', (t) => (events = record(t)));
  const seed = await settle(seeder.add(fx.torrent.bytes, { savePath: fx.payload.saveDir, seedTimeSeconds: 60 }), 'start');
  expect(seed.state).toBe('seeding');
  clock.advance(59_999);
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r)); // a pause would be under way by now
  expect(seed.state).toBe('seeding');
  expect(seed.stats().seedingTime).toBeCloseTo(60, 0);
  clock.advance(1);
  await run(() => seed.state === 'paused', 'the time limit', 0);
  await run(() => events!.events.length === 4, 'seeding-done', 0);
  expect(events!.events).toEqual(['state:checking', 'state:seeding', 'state:paused', 'seeding-done:seeded for 60s']);
});

test('setSequential turns sequential mode on for a torrent added without it (Transmission torrent-set sequential_download)', async () => {
  const { leech, leechEvents } = await pair({}, { paused: true }, { downloadLimit: 128 * 1024 });
  expect(leech.sequential).toBe(false);
  leech.setSequential(true);
  expect(leech.sequential).toBe(true);
  await leech.resume();
  await run(() => leech.state === 'seeding', 'the download');
  const order = leechEvents.pieces;
  expect(order).toHaveLength(fx.torrent.metainfo.pieceCount);
  order.forEach((piece, k) => expect(Math.abs(piece - k)).toBeLessThanOrEqual(2));
});

test('sequential mode fetches the pieces in order', async () => {
  const { leech, leechEvents } = await pair({}, { sequential: true }, { downloadLimit: 128 * 1024 });
  await run(() => leech.state === 'seeding', 'the download');
  // One peer, requests in index order; pieces are verified on (at most two) threads, so a
  // neighbour may overtake: each piece comes within two places of its index.
  const order = leechEvents.pieces;
  expect(order).toHaveLength(fx.torrent.metainfo.pieceCount);
  // Pieces in flight together finish in any order (hashing runs in threads): 0 is among the first three.
  expect(order.slice(0, 3)).toContain(0);
  order.forEach((piece, k) => expect(Math.abs(piece - k)).toBeLessThanOrEqual(2));
});

test('a torrent resumed from its record reads no transfer rate for the lifetime totals it loads', async () => {
  const stateDir = join(fx.dir, `state-${++outDirs}`);
  const { leecher, leech, out } = await pair({}, {}, { stateDir });
  await run(() => leech.state === 'seeding', 'the download');
  expect(leech.stats().downloaded).toBe(fx.payload.totalSize);
  await settle(leecher.close(), 'the leecher to close and write its record');
  const again = await session('192.0.2.3', { stateDir });
  const t = await settle(again.add(fx.torrent.bytes, { savePath: out }), 'the torrent to resume');
  expect(t.stats().downloaded).toBe(fx.payload.totalSize); // the lifetime total came back…
  clock.advance(500);
  const s = t.stats();
  expect([s.recentDownloadRate, s.recentUploadRate]).toEqual([0, 0]); // …and is not read as traffic
  // Idle and read every second for 10 s (no traffic: the rates keep no samples), then a peer comes:
  // the upload rate reads what moved over the last window, not since the restart nor as a burst.
  for (let i = 0; i < 10; i++) {
    clock.advance(1000);
    expect(t.activity().uploadRate).toBe(0);
    expect(t.stats().recentUploadRate).toBe(0);
  }
  const base = t.stats().uploaded;
  const other = await session('192.0.2.4', { downloadLimit: 256 * 1024 });
  const next = await settle(other.add(fx.torrent.bytes, { savePath: join(fx.dir, `out-${++outDirs}`), peers: [{ ip: '192.0.2.3', port: 6881 }] }), 'the new leecher to start');
  await run(() => t.stats().uploaded - base > 600 * 1024, 'half the torrent uploaded');
  const rate = t.stats().recentUploadRate / (256 * 1024);
  expect(rate).toBeGreaterThan(0.6);
  expect(rate).toBeLessThan(1.5);
  await run(() => next.state === 'seeding', 'the new leecher to finish');
});

test("the session hears every torrent's events ('torrent-event') in order, with no listener on the torrent", async () => {
  const seeder = await session('192.0.2.1');
  const leecher = await session('192.0.2.2');
  await settle(seeder.add(fx.torrent.bytes, { savePath: fx.payload.saveDir }), 'the seeder to start');
  const heard: string[] = [];
  const pieces: number[] = [];
  const from = new Set<Torrent>();
  leecher.on('torrent-event', (t, name, ...args) => {
    from.add(t);
    if (name === 'piece') pieces.push(args[0] as number);
    else if (name === 'state' || name === 'seeding-done') heard.push(`${name}:${String(args[0])}`);
    else if (name === 'done' || name === 'peer-connected') heard.push(name);
  });
  const leech = await settle(leecher.add(fx.torrent.bytes, { savePath: join(fx.dir, `out-${++outDirs}`), peers: [{ ip: '192.0.2.1', port: 6881 }], seedTimeSeconds: 1 }), 'the leecher to start');
  // The session puts no listener on its torrents (its warnings reach it through the host too).
  expect(leech.eventNames()).toEqual([]);
  await run(() => leech.state === 'paused', 'the download and the seed time');
  expect([...from]).toEqual([leech]);
  expect(heard).toEqual(['state:checking', 'state:downloading', 'peer-connected', 'state:seeding', 'done', 'state:paused', expect.stringMatching(/^seeding-done:/)]);
  expect(pieces.sort((a, b) => a - b)).toEqual([...Array(fx.torrent.metainfo.pieceCount).keys()]);
});
