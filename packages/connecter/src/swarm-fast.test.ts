// BEP 6 behaviour of a Swarm over real loopback TCP against scripted raw peers: allowed-fast sets
// both ways, rejects both ways, suggestions both ways, have-all / have-none.
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '@mainline/interop';
import type { Metainfo } from '@mainline/metainfo';
import { ManualClock, TokenBucket } from '@mainline/rate';
import { allowedFastSet } from './allowed-fast.js';
import type { Message } from './index.js';
import { MAX_ALLOWED_FAST_IN, MAX_STRAY_REJECTS } from './request-pipeline.js';
import { eventually, FAST_RESERVED, Fixture, fullBitfield, multiFileTorrent, peerId, rawOptions, readTorrentData, swarmPeerOf, type RawPeer } from './swarm-harness.js';
import { MAX_SUGGESTIONS_OUT } from './upload-server.js';

const BLOCK = 16384;
const PIECE = 32768;
let dir: string;
/** 34 pieces of 32 KiB (two blocks each), the last one 1434 bytes. */
let multi: Metainfo;
let seedDir: string;
let data: Buffer;

const fx = new Fixture();
let leechDirs = 0;
const leechDir = (): string => join(dir, `leech-${++leechDirs}`);
const fastPeer = (port: number, tag: string, onMessage?: (p: RawPeer, m: Message) => void): Promise<RawPeer> =>
  fx.handshaken(port, rawOptions(multi, tag, { reserved: FAST_RESERVED, ...(onMessage ? { onMessage } : {}) }));
const key = (m: { index: number; begin: number }): string => `${m.index}:${m.begin}`;
const request = (index: number, begin = 0, length = BLOCK): Message => ({ type: 'request', index, begin, length });
const blockLength = (index: number, begin: number): number => Math.min(BLOCK, Math.min(PIECE, multi.totalLength - index * PIECE) - begin);
/** The piece message that answers a request, with the torrent's bytes. */
const answer = (r: { index: number; begin: number; length: number }): Message => ({
  type: 'piece',
  index: r.index,
  begin: r.begin,
  block: data.subarray(r.index * PIECE + r.begin, r.index * PIECE + r.begin + r.length),
});

beforeAll(async () => {
  dir = makeTempDir('swarm-fast');
  ({ meta: multi, seedDir } = await multiFileTorrent(dir, 'fast-multi'));
  data = await readTorrentData(multi, seedDir);
});

afterEach(() => fx.cleanup());

afterAll(() => {
  if (dir) removeTempDir(dir);
});

describe('allowed fast, our side: a seed with no upload slots', () => {
  test('sends BEP 6 allowed-fast set to a fast peer, serves those pieces while choking it, rejects the rest', async () => {
    const seeder = await fx.node(multi, seedDir, { id: peerId('seeder'), swarm: { maxUploads: 0 } });
    const p = await fastPeer(seeder.port, 'choked');
    expect(p.messages[0]).toEqual({ type: 'have-all' });
    p.send({ type: 'have-none' }, { type: 'interested' });
    const expected = allowedFastSet('127.0.0.1', multi.infoHashBytes, multi.pieceCount);
    expect(expected).toHaveLength(10);
    await p.until(() => p.of('allowed-fast').length === 10, 'ten allowed-fast messages');
    expect(p.of('allowed-fast').map((m) => m.index)).toEqual(expected);

    const fast = expected[0]!;
    const other = [...Array(multi.pieceCount).keys()].find((i) => !expected.includes(i))!;
    p.send(request(fast, 0), request(other, 0), request(fast, BLOCK, blockLength(fast, BLOCK)));
    await p.until(() => p.of('piece').length === 2 && p.of('reject').length === 1, 'two blocks and a reject');
    expect(p.of('piece').map(key).sort()).toEqual([`${fast}:0`, `${fast}:${BLOCK}`].sort());
    for (const m of p.of('piece')) expect(Buffer.from(m.block).equals(data.subarray(m.index * PIECE + m.begin, m.index * PIECE + m.begin + m.block.length))).toBe(true);
    expect(p.of('reject')).toEqual([{ type: 'reject', index: other, begin: 0, length: BLOCK }]);
    expect(p.of('unchoke')).toHaveLength(0);

    // Once it says it has the piece, the promise is kept no longer.
    p.send({ type: 'have', index: fast }, request(fast, 0));
    await p.until(() => p.of('reject').length === 2, 'a reject for a piece it has');
    expect(key(p.of('reject')[1]!)).toBe(`${fast}:0`);
    // And an allowed piece is not a way to download it over and over: 3 x its blocks at most.
    const second = expected[1]!;
    const many = Array.from({ length: 8 }, () => request(second, 0));
    p.send(...many);
    const servedSecond = (): number => p.of('piece').filter((m) => m.index === second).length;
    await p.until(() => p.of('reject').length === 4 && servedSecond() === 6, 'six served, then rejects past 3 x blocks-per-piece');
    expect(p.of('reject').slice(2).map(key)).toEqual([`${second}:0`, `${second}:0`]);
    expect(p.closed).toBe(false);
    expect(swarmPeerOf(seeder, p).amChoking).toBe(true);
  });

  test('when we choke a fast peer, its queued requests are rejected except those for its allowed-fast pieces, which are still served', async () => {
    // 64 KiB/s with a 16 KiB burst, on a clock the test moves: one block at once, the rest queued.
    const limiterClock = new ManualClock();
    const limiter = new TokenBucket({ clock: limiterClock, rate: 65536, burst: BLOCK });
    const seeder = await fx.node(multi, seedDir, { id: peerId('seeder'), swarm: { uploadLimiters: [limiter] } });
    const p = await fastPeer(seeder.port, 'queued');
    p.send({ type: 'have-none' }, { type: 'interested' });
    await p.until(() => p.of('unchoke').length === 1 && p.of('allowed-fast').length === 10, 'unchoked, with its set');
    const set = p.of('allowed-fast').map((m) => m.index);
    const others = [...Array(multi.pieceCount).keys()].filter((i) => !set.includes(i)).slice(0, 3);
    const asked = [others[0]!, set[0]!, others[1]!, set[1]!, others[2]!].map((i) => request(i));
    p.send(...asked);
    const sp = swarmPeerOf(seeder, p);
    await eventually(() => sp.uploadQueue.length === 3, 'one served, one waiting for tokens, three queued');
    sp.choke();
    await p.until(() => p.of('choke').length === 1, 'choked');
    for (let t = 0; t < 8; t++) limiterClock.advance(250); // tokens for the rest
    // Served, or rejected: one answer each; the allowed-fast ones are never rejected.
    await p.until(() => p.of('piece').length + p.of('reject').length === asked.length, 'an answer for every request');
    const sorted = (a: number[]): number[] => [...a].sort((x, y) => x - y);
    expect(sorted(p.of('reject').map((r) => r.index))).toEqual(sorted([others[1]!, others[2]!]));
    expect(sorted(p.of('piece').map((m) => m.index))).toEqual(sorted([others[0]!, set[0]!, set[1]!]));
    // The choke went out before the rejects.
    const chokeAt = p.messages.findIndex((m) => m.type === 'choke');
    for (const r of p.of('reject')) expect(p.messages.indexOf(r)).toBeGreaterThan(chokeAt);
  });

  test('a leecher offers the part of the set it has, and the rest as it gets those pieces; a seed peer gets none', async () => {
    const seeder = await fx.node(multi, seedDir, { id: peerId('seeder') });
    const leecher = await fx.node(multi, leechDir(), { id: peerId('leecher') });
    const p = await fastPeer(leecher.port, 'watcher');
    p.send({ type: 'have-none' });
    const s = await fastPeer(leecher.port, 'seedpeer');
    s.send({ type: 'have-all' });
    leecher.dial(seeder.port);
    await leecher.completed;
    const expected = allowedFastSet('127.0.0.1', multi.infoHashBytes, multi.pieceCount);
    await p.until(() => p.of('allowed-fast').length === 10, 'the whole set, piece by piece');
    expect(p.of('allowed-fast').map((m) => m.index).sort((a, b) => a - b)).toEqual([...expected].sort((a, b) => a - b));
    // Each went out after the HAVE of its piece, never before.
    for (const m of p.of('allowed-fast')) {
      const have = p.messages.findIndex((x) => x.type === 'have' && x.index === m.index);
      expect(have).toBeGreaterThanOrEqual(0);
      expect(have).toBeLessThan(p.messages.indexOf(m));
    }
    expect(s.of('allowed-fast')).toHaveLength(0);
  });
});

describe('allowed fast, their side: a peer that chokes us', () => {
  test('we ask only for its allowed-fast pieces while choked, and keep at most MAX_ALLOWED_FAST_IN of them', async () => {
    const leecher = await fx.node(multi, leechDir(), { id: peerId('leecher') });
    const allowed = [3, 7];
    const p = await fastPeer(leecher.port, 'chokingseed', (peer, m) => {
      if (m.type === 'request') peer.send(answer(m));
    });
    p.send({ type: 'have-all' }, ...allowed.map((index): Message => ({ type: 'allowed-fast', index })));
    await eventually(() => leecher.store.hasPiece(3) && leecher.store.hasPiece(7), 'pieces 3 and 7 downloaded while choked');
    expect(new Set(p.of('request').map((r) => r.index))).toEqual(new Set(allowed));
    expect(p.of('request')).toHaveLength(4);
    expect(leecher.store.haveCount).toBe(2);
    // A flood of allowed-fast messages: the first MAX_ALLOWED_FAST_IN are kept.
    p.send(...Array.from({ length: 34 }, (_, index): Message => ({ type: 'allowed-fast', index })));
    await eventually(() => leecher.store.haveCount >= MAX_ALLOWED_FAST_IN, 'the allowed pieces');
    await eventually(() => swarmPeerOf(leecher, p).outstanding === 0, 'nothing outstanding');
    expect(swarmPeerOf(leecher, p).allowedFastIn.size).toBe(MAX_ALLOWED_FAST_IN);
    expect(leecher.store.haveCount).toBe(MAX_ALLOWED_FAST_IN);
    expect(p.of('request').every((r) => swarmPeerOf(leecher, p).allowedFastIn.has(r.index))).toBe(true);
  });

  test('a choke from a fast peer keeps its allowed-fast requests; the others go elsewhere at once and their rejects are expected', async () => {
    const leecher = await fx.node(multi, leechDir(), { id: peerId('leecher') });
    const p = await fastPeer(leecher.port, 'chokes');
    p.send({ type: 'have-all' }, { type: 'allowed-fast', index: 5 }, { type: 'unchoke' });
    await p.until(() => p.of('request').length >= 16, 'sixteen requests');
    const first = p.of('request').slice();
    p.send({ type: 'choke' });
    const sp = swarmPeerOf(leecher, p);
    await eventually(() => sp.peerChoking, 'the choke seen');
    // Piece 5 is all it may be asked for now: both its blocks, whether asked before the choke or after.
    await eventually(() => p.of('request').filter((r) => r.index === 5).length === 2, 'both blocks of piece 5 requested');
    const outstandingPieces = leecher.picker.outstandingRequests(sp).map((r) => r.piece);
    expect(new Set(outstandingPieces)).toEqual(new Set([5]));
    const waiting = first.filter((r) => r.index !== 5);
    expect(sp.awaitingAnswer.size).toBe(waiting.length);
    // Their blocks are free for others: a second peer is asked for them first (started pieces
    // first; one more may be the free half of a piece P was asked half of).
    // Q answers its first four requests (which makes room for four more), then holds the rest.
    let answered = 0;
    const q = await fastPeer(leecher.port, 'other', (peer, m) => {
      if (m.type === 'request' && answered++ < 4) peer.send(answer(m));
    });
    q.send({ type: 'have-all' }, { type: 'unchoke' });
    await q.until(() => q.of('request').length >= waiting.length + 1, 'requests to the other peer');
    const toQ = new Set(q.of('request').slice(0, waiting.length + 1).map(key));
    for (const r of waiting) expect(toQ).toContain(key(r));
    // The rejects close them; none counts as stray, piece 5 is served.
    p.send(...waiting.map((r): Message => ({ type: 'reject', index: r.index, begin: r.begin, length: r.length })));
    for (const r of p.of('request').filter((x) => x.index === 5)) p.send(answer(r));
    await eventually(() => leecher.store.hasPiece(5) && sp.awaitingAnswer.size === 0, 'rejects and piece 5 in');
    expect(sp.strayRejects).toBe(0);
    expect(p.closed).toBe(false);
  });
});

describe('rejects', () => {
  test('a peer that rejects everything does not stall the download: its blocks go to the other peer, and it is not asked again and again', async () => {
    const saveDir = leechDir();
    const leecher = await fx.node(multi, saveDir, { id: peerId('leecher') });
    // G holds its requests until told; R rejects every request.
    let release = false;
    const held: Message[] = [];
    const g = await fastPeer(leecher.port, 'good', (peer, m) => {
      if (m.type !== 'request') return;
      if (release) peer.send(answer(m));
      else held.push(answer(m));
    });
    g.send({ type: 'have-all' }, { type: 'unchoke' });
    await g.until(() => g.of('request').length === 16, 'sixteen requests to G');
    const r = await fastPeer(leecher.port, 'rejecter', (peer, m) => {
      if (m.type === 'request') peer.send({ type: 'reject', index: m.index, begin: m.begin, length: m.length });
    });
    r.send({ type: 'have-all' }, { type: 'unchoke' });
    await r.until(() => r.of('request').length === 16, 'sixteen requests to R');
    await eventually(() => swarmPeerOf(leecher, r).outstanding === 0, 'all of R\'s requests rejected');
    const rejected = r.of('request').map(key);
    // G answers what it holds: its very next requests are R's rejected blocks (no timeout waited
    // for), started pieces first; one may be the other half of a piece G started itself.
    release = true;
    g.send(...held);
    await g.until(() => g.of('request').length >= 33, 'G tops up');
    const next = new Set(g.of('request').slice(16, 33).map(key));
    for (const k of rejected) expect(next).toContain(k);
    await leecher.completed;
    expect(Buffer.compare(await readTorrentData(multi, saveDir), data)).toBe(0);
    // R was asked once per block it rejected: no request / reject ping-pong.
    expect(r.of('request').length).toBe(16);
    expect(new Set(r.of('request').map(key)).size).toBe(16);
    // It was dropped for nothing: closed only as a seed once we were complete.
    expect(leecher.dropped.map((d) => d.reason)).not.toContain(expect.stringMatching(/reject/));
  });

  test('a peer whose queue is shorter than its reqq (it holds 2, rejects the rest) is asked for about what it holds, not rejected again and again', async () => {
    const saveDir = leechDir();
    const leecher = await fx.node(multi, saveDir, { id: peerId('leecher') });
    // Q says reqq 250 (the default) but holds two requests at a time, answered a turn later.
    const queue: Message[] = [];
    let rejects = 0;
    let served = 0;
    const q = await fastPeer(leecher.port, 'shortq', (peer, m) => {
      if (m.type !== 'request') return;
      if (queue.length >= 2) {
        rejects++;
        return peer.send({ type: 'reject', index: m.index, begin: m.begin, length: m.length });
      }
      queue.push(answer(m));
      if (queue.length === 1) {
        setImmediate(function serve() {
          peer.send(queue.shift()!);
          served++;
          if (queue.length > 0) setImmediate(serve);
        });
      }
    });
    q.send({ type: 'have-all' }, { type: 'unchoke' });
    await leecher.completed;
    expect(Buffer.compare(await readTorrentData(multi, saveDir), data)).toBe(0);
    // Each of the 67 blocks served once. The first batch (the backlog, 16) learns its queue; after
    // that, about one reject per block it serves (each lets one more request through): 77 here,
    // where without the cap it was 725 (~10 a block).
    expect(served).toBe(67);
    expect(rejects).toBeLessThan(16 + 2 * 67);
    expect(leecher.dropped.map((d) => d.reason)).not.toContain(expect.stringMatching(/reject/));
  });

  test(`a peer that floods rejects for requests we never sent is dropped after ${MAX_STRAY_REJECTS}`, async () => {
    const leecher = await fx.node(multi, leechDir(), { id: peerId('leecher') });
    const p = await fastPeer(leecher.port, 'stray');
    p.send({ type: 'have-none' });
    p.send(...Array.from({ length: MAX_STRAY_REJECTS + 1 }, (_, i): Message => ({ type: 'reject', index: i % 34, begin: 0, length: blockLength(i % 34, 0) })));
    await p.closedWithin();
    expect(leecher.dropped).toEqual([expect.objectContaining({ reason: `sent ${MAX_STRAY_REJECTS + 1} rejects for requests we never sent` })]);
  });

  test('a flood of requests for no block of the torrent is dropped like any flood of unanswered requests (2048)', async () => {
    const seeder = await fx.node(multi, seedDir, { id: peerId('seeder') });
    const p = await fastPeer(seeder.port, 'badflood');
    p.send({ type: 'have-none' }, { type: 'interested' });
    p.send(...Array.from({ length: 2100 }, (_, i): Message => ({ type: 'request', index: 34 + i, begin: 0, length: BLOCK })));
    await p.closedWithin();
    // One reject each up to the limit (those still queued when it closed may be lost), none after.
    expect(p.of('reject').length).toBeGreaterThan(0);
    expect(p.of('reject').length).toBeLessThanOrEqual(2048);
    expect(seeder.dropped).toEqual([expect.objectContaining({ reason: expect.stringMatching(/^more than 2048 requests we would not serve/) })]);
  });

  test('our side: a cancelled queued request, requests for no block of the torrent and requests over the queue limit are rejected for a fast peer', async () => {
    // A 16 KiB burst on a clock that never moves: one block at once, then the rest stays queued.
    const limiter = new TokenBucket({ clock: new ManualClock(), rate: 1024, burst: BLOCK });
    const seeder = await fx.node(multi, seedDir, { id: peerId('seeder'), swarm: { uploadLimiters: [limiter] } });
    const p = await fastPeer(seeder.port, 'canceller');
    p.send({ type: 'have-none' }, { type: 'interested' });
    await p.until(() => p.of('unchoke').length === 1, 'unchoked');
    p.send(request(1), request(2), request(3), { type: 'cancel', index: 3, begin: 0, length: BLOCK });
    await p.until(() => p.of('reject').length === 1, 'a reject for the cancelled request');
    expect(p.of('reject')[0]).toEqual({ type: 'reject', index: 3, begin: 0, length: BLOCK });
    expect(p.of('piece').map(key)).not.toContain('3:0');
    // Requests for no block of the torrent: a reject each too (BEP 6), not a closed connection.
    const bad = [
      { index: 34, begin: 0, length: BLOCK },
      { index: 0, begin: PIECE - 100, length: BLOCK },
      { index: 0, begin: 0, length: 2 ** 17 + 1 },
    ];
    p.send(...bad.map((b): Message => ({ type: 'request', ...b })));
    await p.until(() => p.of('reject').length === 1 + bad.length, 'rejects for bad requests');
    expect(p.of('reject').slice(1)).toEqual(bad.map((b) => ({ type: 'reject', ...b })));
    // Over the queue limit: a reject each, the connection stays.
    const queue = swarmPeerOf(seeder, p).uploadQueue;
    const room = 1024 - queue.length;
    p.send(...Array.from({ length: room + 3 }, (_, i) => request(i % 34, 0, blockLength(i % 34, 0))));
    await p.until(() => p.of('reject').length === 1 + bad.length + 3, 'three rejects over the queue limit');
    expect(p.closed).toBe(false);
  });
});

describe('suggest piece', () => {
  test('a seed with more interested peers than slots suggests the pieces it reads into its cache, at most MAX_SUGGESTIONS_OUT per peer', async () => {
    const seeder = await fx.node(multi, seedDir, { id: peerId('seeder'), swarm: { maxUploads: 1, minUploads: 0, seedChoking: 'upload-rate', random: () => 0.999 } });
    const a = await fastPeer(seeder.port, 'a');
    a.send({ type: 'have-none' }, { type: 'interested' });
    await a.until(() => a.of('unchoke').length === 1, 'A unchoked');
    const b = await fastPeer(seeder.port, 'b');
    b.send({ type: 'have-none' }, { type: 'interested' });
    await eventually(() => swarmPeerOf(seeder, b).peerInterested, 'B interested');
    // A reads 20 pieces: each goes into the read cache, and B (choked, lacking them) hears of them.
    const pieces = Array.from({ length: 20 }, (_, i) => i);
    a.send(...pieces.map((i) => request(i)));
    await a.until(() => a.of('piece').length === 20, 'A served');
    await b.until(() => b.of('suggest').length === MAX_SUGGESTIONS_OUT, 'suggestions for B');
    // (Reads run a few at once, so they may finish out of order.)
    const suggested = b.of('suggest').map((m) => m.index);
    expect(new Set(suggested).size).toBe(MAX_SUGGESTIONS_OUT);
    for (const i of suggested) expect(pieces).toContain(i);
    // A HAVE spends a suggestion: the next piece read is suggested again.
    b.send({ type: 'have', index: suggested[0]! });
    await eventually(() => !swarmPeerOf(seeder, b).suggestedOut.has(suggested[0]!), 'a suggestion spent');
    a.send(request(25));
    await b.until(() => b.of('suggest').length === MAX_SUGGESTIONS_OUT + 1, 'one more suggestion');
    expect(b.of('suggest').at(-1)).toEqual({ type: 'suggest', index: 25 });
    // A, which has been asking for those pieces itself, is a peer too: suggestions never exceed the bound.
    expect(a.of('suggest').length).toBeLessThanOrEqual(MAX_SUGGESTIONS_OUT);
  });

  test('a received suggestion decides among equally good pieces: our first requests are for it', async () => {
    const leecher = await fx.node(multi, leechDir(), { id: peerId('leecher') });
    const p = await fastPeer(leecher.port, 'suggester');
    p.send({ type: 'have-all' }, { type: 'suggest', index: 20 }, { type: 'unchoke' });
    await p.until(() => p.of('request').length >= 2, 'requests');
    expect(p.of('request').slice(0, 2).map(key)).toEqual(['20:0', `20:${BLOCK}`]);
  });
});

describe('have all / have none', () => {
  test('a peer that sent have-none is not interesting until its first HAVE; we send have-none with nothing, have-all when complete', async () => {
    const leecher = await fx.node(multi, leechDir(), { id: peerId('leecher') });
    const p = await fastPeer(leecher.port, 'empty');
    expect(p.messages[0]).toEqual({ type: 'have-none' });
    p.send({ type: 'have-none' }, { type: 'unchoke' });
    await eventually(() => swarmPeerOf(leecher, p).peerChoking === false, 'unchoke seen');
    expect(swarmPeerOf(leecher, p).piecesHave).toBe(0);
    expect(p.of('interested')).toHaveLength(0);
    p.send({ type: 'have', index: 9 });
    await p.until(() => p.of('request').length === 2, 'piece 9 asked for');
    expect(p.of('interested')).toHaveLength(1);
    expect(p.of('request').map((m) => m.index)).toEqual([9, 9]);
  });

  test('a peer that restates its pieces with later bitfields (aria2 1.36 does, instead of haves) is kept, and asked for what they add', async () => {
    const leecher = await fx.node(multi, leechDir(), { id: peerId('leecher') });
    const p = await fastPeer(leecher.port, 'restater');
    const pieces = (...indices: number[]): Message => {
      const bitfield = fullBitfield(multi.pieceCount);
      bitfield.clearAll();
      for (const i of indices) bitfield.set(i);
      return { type: 'bitfield', bitfield };
    };
    p.send({ type: 'have-none' }, { type: 'allowed-fast', index: 1 }, { type: 'interested' }, { type: 'unchoke' });
    await eventually(() => swarmPeerOf(leecher, p).peerChoking === false, 'unchoke seen');
    p.send(pieces(7));
    await p.until(() => p.of('request').length === 2, 'piece 7 asked for');
    p.send({ type: 'have', index: 8 }, pieces(7, 8, 12));
    await p.until(() => p.of('request').length === 6, 'pieces 8 and 12 asked for');
    expect(swarmPeerOf(leecher, p).piecesHave).toBe(3);
    expect([...new Set(p.of('request').map((m) => m.index))].sort((a, b) => a - b)).toEqual([7, 8, 12]);
    // A bitfield that takes a piece back is still a violation.
    p.send(pieces(8, 12));
    await p.closedWithin();
    expect(leecher.log).toEqual([expect.objectContaining({ code: 'PIECES_WITHDRAWN' })]);
  });
});
