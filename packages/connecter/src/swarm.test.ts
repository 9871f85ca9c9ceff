// Swarm over real loopback TCP, real temp dirs, real Storage/PieceStore/PiecePicker/Choker/TokenBucket.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, removeTempDir } from '@mainline/interop';
import { Bitfield } from '@mainline/bitfield';
import type { Metainfo } from '@mainline/metainfo';
import { systemClock, TokenBucket } from '@mainline/rate';
import type { Message, PeerView } from './index.js';
import {
  eventually,
  FAST_RESERVED,
  Fixture,
  hex,
  multiFileTorrent,
  peerId,
  rawOptions,
  readTorrentData,
  sleep,
  swarmPeerOf,
} from './swarm-harness.js';

const BLOCK = 16384;
let dir: string;
/** Multi-file: a zero-length file inside, 34 pieces of 32 KiB, the last one 1434 bytes. */
let multi: Metainfo;
let multiSeedDir: string;
/** Single file of exactly 2 MiB in 256 KiB pieces (rate-limit tests). */
let big: Metainfo;
let bigSeedDir: string;
let bigData: Buffer;

const fx = new Fixture();
const node = fx.node.bind(fx);
const raw = fx.handshaken.bind(fx);
let leechDirs = 0;
const leechDir = (): string => join(dir, `leech-${++leechDirs}`);

const blockKey = (m: { index: number; begin: number }): string => `${m.index}:${m.begin}`;

beforeAll(async () => {
  dir = makeTempDir('swarm');
  ({ meta: multi, seedDir: multiSeedDir } = await multiFileTorrent(dir, 'swarm-multi'));
  const bigPayload = await makePayload(join(dir, 'seed-big'), { name: 'big.bin', size: 2 * 1024 * 1024 });
  big = makeTorrent(bigPayload.path, { pieceLength: 256 * 1024, outPath: join(dir, 'big.torrent') }).metainfo;
  bigSeedDir = bigPayload.saveDir;
  bigData = await readTorrentData(big, bigSeedDir);
});

afterEach(() => fx.cleanup());

afterAll(() => {
  if (dir) removeTempDir(dir);
});

test('the multi-file torrent has what the transfer test relies on', () => {
  expect(multi.files.some((f) => f.length === 0)).toBe(true);
  expect(multi.pieceCount).toBe(34);
  expect(multi.totalLength - 33 * 32768).toBe(1434);
});

test('two Swarms transfer a multi-file torrent over loopback: data, stats, HAVEs, not-interested', async () => {
  const seeder = await node(multi, multiSeedDir, { id: peerId('seeder') });
  expect(seeder.store.isComplete()).toBe(true);
  const saveDir = leechDir();
  const leecher = await node(multi, saveDir, { id: peerId('leecher') });
  expect(leecher.store.haveCount).toBe(0);

  // The seeder's picker would see any HAVE the leecher sent it: record them.
  const haveAvailability = new Map<number, number>();
  const peerHave = seeder.picker.peerHave.bind(seeder.picker);
  seeder.picker.peerHave = (peer, index) => {
    const r = peerHave(peer, index);
    haveAvailability.set(index, seeder.picker.availability(index));
    return r;
  };
  let leecherAtSeeder: PeerView | undefined;
  seeder.swarm.on('peer-connected', (p) => (leecherAtSeeder = p));
  let seederAtLeecher: PeerView | undefined;
  leecher.swarm.on('peer-connected', (p) => {
    if (p.peerId && hex(p.peerId) === hex(seeder.peerId)) seederAtLeecher = p;
  });
  const verified: number[] = [];
  leecher.swarm.on('piece', (i) => verified.push(i));

  // A partial peer that never unchokes: the leecher gets interested in it, sends it a HAVE for
  // every piece it lacks, and loses interest once complete.
  const observer = await raw(leecher.port, rawOptions(multi, 'observer', { reserved: FAST_RESERVED }));
  expect(observer.fast).toBe(true);
  const some = new Bitfield(multi.pieceCount);
  for (const i of [0, 5, 33]) some.set(i);
  observer.send({ type: 'bitfield', bitfield: some });
  await observer.until(() => observer.of('interested').length === 1, 'interested from the leecher');

  leecher.dial(seeder.port);
  await leecher.completed;
  await observer.until(() => observer.of('not-interested').length === 1, 'not-interested at the end');

  // Both ends verified: the leecher's store is complete and its files are the seeder's, byte for byte.
  expect(leecher.store.isComplete()).toBe(true);
  expect(leecher.picker.isComplete).toBe(true);
  expect([...verified].sort((a, b) => a - b)).toEqual([...Array(multi.pieceCount).keys()]);
  const got = await readTorrentData(multi, saveDir);
  expect(got.equals(await readTorrentData(multi, multiSeedDir))).toBe(true);
  expect((await stat(join(saveDir, 'multi', 'empty', 'zero.bin'))).size).toBe(0);

  // Stats: exactly the torrent downloaded, nothing wasted, the seeder uploaded it all, rates > 0.
  expect(leecher.swarm.downloaded).toBe(multi.totalLength);
  expect(leecher.swarm.wasted).toBe(0);
  expect(leecher.swarm.downRate.rate()).toBeGreaterThan(0);
  expect(seederAtLeecher?.downloaded).toBe(multi.totalLength);
  expect(seederAtLeecher?.downloadRate()).toBeGreaterThan(0);
  await eventually(() => seeder.swarm.uploaded >= multi.totalLength, 'the seeder to count its upload');
  expect(seeder.swarm.uploaded).toBe(multi.totalLength);
  expect(seeder.swarm.upRate.rate()).toBeGreaterThan(0);
  expect(leecherAtSeeder?.uploaded).toBe(multi.totalLength);
  expect(leecherAtSeeder?.uploadRate()).toBeGreaterThan(0);
  expect(seeder.swarm.downloaded).toBe(0);

  // No HAVE went to the seeder: it has every piece (HAVE suppression).
  expect(haveAvailability.size).toBe(0);

  // The observer: have-none first (fast peer, nothing yet), then interested, a HAVE per piece it
  // lacks (none for 0, 5 and 33), not-interested after the last HAVE, and never a request (it
  // kept us choked).
  expect(observer.messages[0]).toEqual({ type: 'have-none' });
  const haves = observer.of('have').map((m) => m.index);
  expect([...haves].sort((a, b) => a - b)).toEqual([...Array(multi.pieceCount).keys()].filter((i) => ![0, 5, 33].includes(i)));
  const types = observer.messages.map((m) => m.type);
  expect(types.lastIndexOf('have')).toBeLessThan(types.indexOf('not-interested'));
  expect(observer.of('request')).toHaveLength(0);
  expect(observer.closed).toBe(false);

  // Complete and the other side a seed: the leecher drops the seeder connection (mainline does too).
  await eventually(() => seeder.dropped.length === 1, 'the seeder to see the leecher go');
  expect(leecher.dropped.map((d) => d.reason)).toEqual(['local']);
  for (const n of [seeder, leecher]) {
    expect(n.errors).toEqual([]);
    expect(n.serverErrors).toEqual([]);
    expect(n.log).toEqual([]);
  }
});

describe('choking and the upload queue', () => {
  test('a choked peer gets no pieces (a fast one gets rejects) until a slot frees up', async () => {
    // One upload slot, new peers go to the end of the choker's list; mainline's seed choker (a
    // round-robin seed would give each newcomer a trial slot at once).
    const seeder = await node(multi, multiSeedDir, {
      id: peerId('seeder'),
      swarm: { maxUploads: 1, minUploads: 0, random: () => 0.999, seedChoking: 'upload-rate' },
    });
    const data = await readTorrentData(multi, multiSeedDir);
    const a = await raw(seeder.port, rawOptions(multi, 'a'));
    await a.until(() => a.of('unchoke').length === 1, 'A unchoked');
    a.send({ type: 'interested' });
    await eventually(() => swarmPeerOf(seeder, a).peerInterested, 'A interested at the seeder');

    const b = await raw(seeder.port, rawOptions(multi, 'b'));
    const c = await raw(seeder.port, rawOptions(multi, 'c', { reserved: FAST_RESERVED }));
    expect(b.of('bitfield')).toHaveLength(1);
    expect(c.messages[0]).toEqual({ type: 'have-all' });
    b.send({ type: 'interested' }, { type: 'request', index: 3, begin: 0, length: BLOCK });
    c.send({ type: 'interested' }, { type: 'request', index: 4, begin: BLOCK, length: BLOCK });
    await c.until(() => c.of('reject').length === 1, 'a reject for the choked fast peer');
    expect(c.of('reject')[0]).toEqual({ type: 'reject', index: 4, begin: BLOCK, length: BLOCK });

    // A, unchoked, is served meanwhile; B, choked and without the fast extension, hears nothing.
    a.send({ type: 'request', index: 1, begin: 0, length: BLOCK });
    await a.until(() => a.of('piece').length === 1, 'A served');
    await sleep(200);
    for (const p of [b, c]) {
      expect(p.of('piece')).toHaveLength(0);
      expect(p.of('unchoke')).toHaveLength(0);
      expect(p.closed).toBe(false);
      expect(swarmPeerOf(seeder, p).amChoking).toBe(true);
    }
    expect(swarmPeerOf(seeder, b).uploadQueue).toHaveLength(0);

    // A leaves: the slot goes to B (next in the list), who asks again and is served; C stays choked.
    a.destroy();
    await b.until(() => b.of('unchoke').length === 1, 'B unchoked once A left');
    b.send({ type: 'request', index: 3, begin: 0, length: BLOCK });
    await b.until(() => b.of('piece').length === 1, 'B served');
    const piece = b.of('piece')[0]!;
    expect([piece.index, piece.begin]).toEqual([3, 0]);
    expect(Buffer.from(piece.block).equals(data.subarray(3 * 32768, 3 * 32768 + BLOCK))).toBe(true);
    expect(c.of('unchoke')).toHaveLength(0);
    expect(seeder.dropped.map((d) => d.reason)).toEqual(['remote-closed']);
  });

  test('cancel removes a queued request; choke clears the queue with rejects for a fast peer', async () => {
    // 64 KiB/s with a 16 KiB burst: one block at once, then one every 250 ms.
    const limiter = new TokenBucket({ clock: systemClock, rate: 65536, burst: BLOCK });
    const seeder = await node(multi, multiSeedDir, { id: peerId('seeder'), swarm: { uploadLimiters: [limiter] } });
    const data = await readTorrentData(multi, multiSeedDir);
    const blocks = [
      { index: 0, begin: 0 },
      { index: 0, begin: BLOCK },
      { index: 1, begin: 0 },
      { index: 1, begin: BLOCK },
    ];
    const req = (b: { index: number; begin: number }, type: 'request' | 'cancel' = 'request'): Message => ({ type, ...b, length: BLOCK });

    const d = await raw(seeder.port, rawOptions(multi, 'd'));
    await d.until(() => d.of('unchoke').length === 1, 'D unchoked');
    d.send({ type: 'interested' }, ...blocks.map((b) => req(b)), req(blocks[2]!, 'cancel'));
    await d.until(() => d.of('piece').length === 3, 'three pieces for D');
    await sleep(400); // the cancelled block's turn would have come by now
    expect(d.of('piece').map(blockKey)).toEqual(['0:0', `0:${BLOCK}`, `1:${BLOCK}`]);
    for (const p of d.of('piece')) {
      const at = p.index * 32768 + p.begin;
      expect(Buffer.from(p.block).equals(data.subarray(at, at + BLOCK))).toBe(true);
    }
    expect(seeder.swarm.uploaded).toBe(3 * BLOCK);

    // A fast peer with requests queued behind the limiter, then choked: the queued ones are rejected.
    const e = await raw(seeder.port, rawOptions(multi, 'e', { reserved: FAST_RESERVED }));
    await e.until(() => e.of('unchoke').length === 1, 'E unchoked');
    const more = [2, 3, 4, 5].map((index) => ({ index, begin: 0 }));
    e.send({ type: 'interested' }, ...more.map((b) => req(b)));
    await eventually(() => swarmPeerOf(seeder, e).uploadQueue.length >= 2, 'requests queued for E');
    const queued = swarmPeerOf(seeder, e).uploadQueue.map((r) => `${r.piece}:${r.begin}`);
    swarmPeerOf(seeder, e).choke();
    await e.until(() => e.of('choke').length === 1 && e.of('reject').length >= queued.length, 'E choked, then the rejects');
    // Every queued request is rejected (so may one that was waiting for the limiter at the choke),
    // and no rejected block is sent afterwards.
    const rejected = e.of('reject').map(blockKey);
    expect(rejected).toEqual(expect.arrayContaining(queued));
    for (const r of rejected) expect(more.map(blockKey)).toContain(r);
    expect(swarmPeerOf(seeder, e).uploadQueue).toHaveLength(0);
    await sleep(600);
    for (const p of e.of('piece')) expect(rejected).not.toContain(blockKey(p));
    // After the choke a request is rejected at once.
    e.send(req({ index: 6, begin: 0 }));
    await e.until(() => e.of('reject').some((r) => r.index === 6), 'a reject while choked');
    expect(e.closed).toBe(false);
  });

  test('a request from a peer that never said interested closes the connection (mainline)', async () => {
    const seeder = await node(multi, multiSeedDir, { id: peerId('seeder') });
    const p = await raw(seeder.port, rawOptions(multi, 'rude'));
    await p.until(() => p.of('unchoke').length === 1, 'unchoked');
    p.send({ type: 'request', index: 0, begin: 0, length: BLOCK });
    await p.closedWithin();
    expect(p.of('piece')).toHaveLength(0);
    expect(seeder.dropped).toEqual([expect.objectContaining({ reason: 'request from a peer that is not interested' })]);
  });
});

describe('rate limits', () => {
  test.each(['upload', 'download'] as const)('%sLimiters: a 1 MiB/s limit makes 2 MiB take at least ~1.5 s', async (side) => {
    const limiter = new TokenBucket({ clock: systemClock, rate: 1024 * 1024 });
    const seeder = await node(big, bigSeedDir, { id: peerId('seeder'), swarm: side === 'upload' ? { uploadLimiters: [limiter] } : {} });
    const saveDir = leechDir();
    const leecher = await node(big, saveDir, { id: peerId('leecher'), swarm: side === 'download' ? { downloadLimiters: [limiter] } : {} });
    const started = Date.now();
    leecher.dial(seeder.port);
    await leecher.completed;
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1500);
    expect(elapsed).toBeLessThan(6000);
    expect(limiter.totalGranted).toBe(big.totalLength);
    expect((await readTorrentData(big, saveDir)).equals(bigData)).toBe(true);
  });
});

test('pieces too large to collect in memory (over 4 MiB) are written block by block and still verify', async () => {
  const payload = await makePayload(join(dir, 'seed-huge'), { name: 'huge.bin', size: 12 * 1024 * 1024 + 4321 });
  const huge = makeTorrent(payload.path, { pieceLength: 8 * 1024 * 1024, outPath: join(dir, 'huge.torrent') }).metainfo;
  const seeder = await node(huge, payload.saveDir, { id: peerId('huge-seeder') });
  const saveDir = leechDir();
  const leecher = await node(huge, saveDir, { id: peerId('huge-leecher') });
  // Partly written pieces prove the block-by-block path (collected pieces never touch the disk early).
  const partial = new Set<number>();
  const timer = setInterval(() => {
    for (const p of leecher.store.partialPieces()) partial.add(p);
  }, 5);
  leecher.dial(seeder.port);
  await leecher.completed;
  clearInterval(timer);
  expect(partial.size).toBeGreaterThan(0);
  expect((await readTorrentData(huge, saveDir)).equals(await readTorrentData(huge, payload.saveDir))).toBe(true);
});

test('connect() dials one peer; every dial that does not become a peer is a connect-failed event', async () => {
  // Peers with nothing to trade: the connections stay up (a finished download would close a seed).
  const other = await node(multi, leechDir(), { id: peerId('other') });
  const leecher = await node(multi, leechDir(), { id: peerId('leecher'), swarm: { maxInitiate: 3, maxPeers: 1 } });
  const failed: string[] = [];
  leecher.swarm.on('connect-failed', (host, port, reason) => failed.push(`${host}:${port} ${reason}`));
  // maxInitiate never goes past maxPeers: a dial beyond it would be turned away after its handshake.
  expect(leecher.swarm.outgoingSlots).toBe(1);
  // Refused: nobody listens on a port that was just closed.
  const probe = await node(multi, leechDir(), { id: peerId('probe') });
  const closedPort = probe.port;
  await probe.close();
  expect(leecher.swarm.connect('127.0.0.1', closedPort)).toBe(true);
  await eventually(() => failed.length === 1, 'refused dial reported');
  expect(failed[0]).toMatch(new RegExp(`^127\\.0\\.0\\.1:${closedPort} `));
  // Accepted: a peer, and one slot fewer.
  expect(leecher.swarm.connect('127.0.0.1', other.port)).toBe(true);
  await eventually(() => leecher.swarm.peers.size === 1, 'connected to the other peer');
  expect(leecher.swarm.outgoingSlots).toBe(0);
  // Turned away by us after the handshake (we are full): reported too, with the reason.
  const third = await node(multi, leechDir(), { id: peerId('third') });
  expect(leecher.swarm.connect('127.0.0.1', third.port)).toBe(true);
  await eventually(() => failed.length === 2, 'the dial we turned away reported');
  expect(failed[1]).toBe(`127.0.0.1:${third.port} no free connection slot`);
  // A stopped swarm starts no dial and reports nothing.
  leecher.swarm.stop();
  expect(leecher.swarm.outgoingSlots).toBe(0);
  expect(leecher.swarm.connect('127.0.0.1', other.port)).toBe(false);
});
