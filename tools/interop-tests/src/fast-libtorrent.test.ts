// The BEP 6 fast extension against real libtorrent 2.0.8 on loopback, both ways:
// a. a libtorrent leecher choked by our seed (no upload slots) still gets its allowed-fast pieces
//    (our set, BEP 6's algorithm), and sees our have-all;
// b. our leecher choked by a libtorrent seed (unchoke_slots_limit 0) gets libtorrent's
//    allowed-fast pieces, and libtorrent sees our have-none;
// c. a libtorrent seed that rejects most requests (a tiny request queue) does not stall us, alone
//    or next to a normal seed (which then gets the refused blocks);
// d. what libtorrent sends first: have-all as a seed, have-none with nothing, read by our codec.
import { join } from 'node:path';
import { allowedFastSet, WireHub, type Message, type PeerView } from '@mainline/connecter';
import { makePayload, makeTempDir, makeTorrent, startLibtorrent, type LibtorrentHandle, type MadeTorrent, type Payload } from '@mainline/interop';
import type { Session } from '@mainline/session';
import { digests, loopbackSession, until, whenComplete } from './helpers.js';

const PIECE = 64 * 1024;

describe('BEP 6 fast extension with libtorrent', () => {
  let dir: string;
  let payload: Payload;
  let torrent: MadeTorrent;
  /** 20 MiB (1,280 blocks): more than our pipeline asks for at once, so requests go on after the seed's queue shrinks. */
  let big: Payload;
  let bigTorrent: MadeTorrent;
  const cleanup: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    dir = makeTempDir('it-fast');
    // 48 pieces of 64 KiB, the last one short.
    payload = await makePayload(join(dir, 'seed'), { name: 'fast.bin', size: 47 * PIECE + 12_345 });
    torrent = makeTorrent(payload.path, { pieceLength: PIECE });
    big = await makePayload(join(dir, 'seed-big'), { name: 'big.bin', size: 20 * 1024 * 1024 });
    bigTorrent = makeTorrent(big.path, { pieceLength: 4 * PIECE });
  });

  afterEach(async () => {
    for (const stop of cleanup.splice(0).reverse()) await stop().catch(() => undefined);
  });

  const pieceSize = (i: number): number => Math.min(PIECE, payload.totalSize - i * PIECE);

  async function session(): Promise<Session> {
    const s = await loopbackSession();
    cleanup.push(() => s.close());
    return s;
  }

  async function libtorrent(options: Parameters<typeof startLibtorrent>[0]): Promise<LibtorrentHandle> {
    const lt = await startLibtorrent(options);
    cleanup.push(() => lt.stop());
    return lt;
  }

  test('a. a libtorrent leecher choked by our seed (no upload slots) gets exactly its allowed-fast pieces', async () => {
    const ours = await session();
    const seed = await ours.add(torrent.bytes, { savePath: payload.saveDir, maxUploads: 0 });
    expect(seed.stats().state).toBe('seeding');
    const set = allowedFastSet('127.0.0.1', torrent.metainfo.infoHashBytes, torrent.metainfo.pieceCount);
    expect(set).toHaveLength(10);
    const setBytes = set.reduce((n, i) => n + pieceSize(i), 0);

    const started = Date.now();
    const lt = await libtorrent({ mode: 'leech', torrentPath: torrent.path, savePath: join(dir, 'lt-a'), noTrackers: true, peers: [['127.0.0.1', ours.port]] });
    const done = await lt.waitFor((s) => s.numPieces >= set.length, 30_000);
    const elapsed = Date.now() - started;
    expect(done.numPieces).toBe(set.length);
    expect(done.totalDone).toBe(setBytes);
    // libtorrent saw our have-all (a seed) and our choke, all along.
    const us = done.peers.find((p) => p.address.endsWith(`:${ours.port}`));
    expect(us).toMatchObject({ seed: true, remoteChoked: true });
    const peer = seed.peers[0]!;
    expect(peer.fast).toBe(true);
    expect(peer.amChoking).toBe(true);
    expect(seed.stats().uploaded).toBe(setBytes);
    console.log(`a. libtorrent got its ${set.length} allowed-fast pieces (${setBytes} bytes) while choked, in ${elapsed} ms`);
  });

  test('b. our leecher choked by a libtorrent seed (unchoke_slots_limit 0) gets its allowed-fast pieces; libtorrent sees our have-none', async () => {
    const lt = await libtorrent({
      mode: 'seed',
      torrentPath: torrent.path,
      savePath: payload.saveDir,
      noTrackers: true,
      // No slots, the optimistic unchoke (at least one, libtorrent's rule) not before an hour, and
      // loopback peers not exempt from the choker (they are by default).
      settings: { unchoke_slots_limit: 0, optimistic_unchoke_interval: 3600, ignore_limits_on_local_network: false, allowed_fast_set_size: 7 },
    });
    await lt.waitForComplete(20_000);
    const ours = await session();
    const started = Date.now();
    const leecher = await ours.add(torrent.bytes, { savePath: join(dir, 'ours-b'), peers: [{ ip: '127.0.0.1', port: lt.port }] });
    // libtorrent takes our have-none (nothing; we send no HAVEs to a seed) and keeps us choked.
    const seen = await lt.waitFor((s) => s.peers.length === 1, 20_000);
    expect(seen.peers[0]).toMatchObject({ numPieces: 0, seed: false, choked: true, remoteInterested: true });
    await until(() => leecher.stats().piecesHave >= 7, 30_000, 'seven pieces downloaded while choked');
    const elapsed = Date.now() - started;
    const peer = leecher.peers[0]!;
    expect(peer.fast).toBe(true);
    expect(peer.peerChoking).toBe(true);
    expect(peer.allowedFastIn.size).toBe(7);
    const store = leecher.store!;
    const have = [...Array(torrent.metainfo.pieceCount).keys()].filter((i) => store.hasPiece(i));
    expect(have.sort((x, y) => x - y)).toEqual([...peer.allowedFastIn].sort((x, y) => x - y));
    expect(leecher.stats().hashFails).toBe(0);
    const uploaded = await lt.waitFor((s) => s.peers[0]?.totalUpload === peer.downloaded, 10_000);
    expect(uploaded.peers[0]).toMatchObject({ numPieces: 0, seed: false, choked: true });
    console.log(`b. our leecher got libtorrent's 7 allowed-fast pieces while choked, in ${elapsed} ms`);
  });

  /**
   * A libtorrent seed that rejects most of what we ask: it told us its `reqq` (500) in the BEP 10
   * handshake, then its request queue shrinks to 2 (we honour a peer's reqq, so a seed started
   * with a queue of 2 would never have to reject). It starts slow so the switch comes mid-download.
   */
  async function rejectingSeed(): Promise<LibtorrentHandle> {
    const lt = await libtorrent({ mode: 'seed', torrentPath: bigTorrent.path, savePath: big.saveDir, noTrackers: true, settings: { upload_rate_limit: 16_384 } });
    await lt.waitForComplete(20_000);
    return lt;
  }
  async function startRejecting(lt: LibtorrentHandle, from: () => PeerView | undefined, uploadRateLimit = 0): Promise<void> {
    await until(() => (from()?.downloaded ?? 0) > 0, 20_000, 'the first block from the seed');
    lt.applySettings({ max_allowed_in_request_queue: 2, upload_rate_limit: uploadRateLimit });
    await lt.waitForEvent((e) => e.name === 'settings_applied', 10_000);
  }

  test('c. a libtorrent seed that rejects most of our requests (its queue shrinks to 2) does not stall the download', async () => {
    const lt = await rejectingSeed();
    const ours = await session();
    const out = join(dir, 'ours-c');
    const leecher = await ours.add(bigTorrent.bytes, { savePath: out, peers: [{ ip: '127.0.0.1', port: lt.port }] });
    let view: PeerView | undefined;
    const watch = setInterval(() => (view = leecher.peers[0] ?? view), 5);
    try {
      await startRejecting(lt, () => leecher.peers[0]);
      const switched = Date.now();
      await whenComplete(leecher, 40_000);
      const elapsed = Date.now() - switched;
      view = leecher.peers[0] ?? view;
      const { expected, actual } = await digests(big, out);
      expect(actual).toEqual(expected);
      expect(view).toBeDefined();
      expect(view!.fast).toBe(true);
      // It rejected a good part of what we asked; every reject matched a request of ours (none
      // stray: the peer was not dropped), and the blocks were asked for again at once.
      expect(view!.rejected).toBeGreaterThan(bigTorrent.metainfo.pieceCount);
      expect(leecher.stats().hashFails).toBe(0);
      console.log(`c. ${big.totalSize} bytes from a libtorrent seed that rejected ${view!.rejected} requests, ${elapsed} ms after its queue shrank`);
    } finally {
      clearInterval(watch);
    }
  });

  test('c2. with a second, normal libtorrent seed, the blocks the rejecting one refuses come from the other', async () => {
    const rejecting = await rejectingSeed();
    const normal = await libtorrent({ mode: 'seed', torrentPath: bigTorrent.path, savePath: big.saveDir, noTrackers: true, settings: { upload_rate_limit: 16_384 } });
    await normal.waitForComplete(20_000);
    const ours = await session();
    const out = join(dir, 'ours-c2');
    const leecher = await ours.add(bigTorrent.bytes, {
      savePath: out,
      peers: [
        { ip: '127.0.0.1', port: rejecting.port },
        { ip: '127.0.0.1', port: normal.port },
      ],
    });
    const views = new Map<number, PeerView>();
    const watch = setInterval(() => {
      for (const p of leecher.peers) views.set(p.remotePort, p);
    }, 5);
    try {
      await until(() => leecher.peers.length === 2, 20_000, 'both seeds connected');
      const rejectingView = (): PeerView | undefined => leecher.peers.find((p) => p.remotePort === rejecting.port);
      // Held at 1 MiB/s after the switch: unlimited, it would serve all 20 MiB before the normal
      // seed's lifted limit takes hold (libtorrent hands out bandwidth in ticks).
      await startRejecting(rejecting, rejectingView, 1024 * 1024);
      // The normal seed stays slow until the rejecting one has refused something: lifted at once,
      // it could deliver everything before we send the rejecting seed a request it refuses.
      await until(() => (rejectingView()?.rejected ?? 0) > 0, 20_000, 'a reject from the shrunken queue');
      normal.applySettings({ upload_rate_limit: 0 });
      await whenComplete(leecher, 40_000);
      for (const p of leecher.peers) views.set(p.remotePort, p);
    } finally {
      clearInterval(watch);
    }
    const { expected, actual } = await digests(big, out);
    expect(actual).toEqual(expected);
    const r = views.get(rejecting.port);
    const n = views.get(normal.port);
    expect(r && n).toBeTruthy();
    expect(r!.rejected).toBeGreaterThan(0);
    expect(n!.rejected).toBe(0);
    // Every byte was accepted from one of the two; the normal seed rejected nothing we waited for,
    // and sent most of it: what the rejecting one refused, and more.
    expect(r!.downloaded + n!.downloaded).toBe(big.totalSize);
    expect(n!.downloaded).toBeGreaterThan(big.totalSize / 2);
    console.log(`c2. rejecting seed: ${r!.rejected} rejects, ${r!.downloaded} bytes; normal seed: ${n!.downloaded} bytes`);
  });

  test('d. libtorrent opens with have-all as a seed and have-none with nothing; our codec reads both', async () => {
    const seedLt = await libtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: payload.saveDir, noTrackers: true });
    const emptyLt = await libtorrent({ mode: 'leech', torrentPath: torrent.path, savePath: join(dir, 'lt-d'), noTrackers: true });
    await seedLt.waitForComplete(20_000);
    for (const [lt, expected] of [
      [seedLt, 'have-all'],
      [emptyLt, 'have-none'],
    ] as const) {
      const first = await firstPieceMessage(lt.port, torrent);
      expect(first).toEqual({ fast: true, type: expected });
    }
  });
});

/** Dials libtorrent with a bare WireHub (fast and extension bits set, nothing sent after the handshake): the first message about pieces it sends. */
async function firstPieceMessage(port: number, torrent: MadeTorrent): Promise<{ fast: boolean; type: Message['type'] }> {
  const hub = new WireHub({ peerId: Buffer.from('-ML0001-fastprobe000') });
  const meta = torrent.metainfo;
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no bitfield / have-all / have-none from libtorrent in 20 s')), 20_000);
      hub.addTorrent(meta.infoHashBytes, {
        limits: { numPieces: meta.pieceCount, pieceLength: meta.pieceLength, totalLength: meta.totalLength },
        onPeer: (peer) => ({
          onMessage: (_p, m) => {
            if (m.type !== 'bitfield' && m.type !== 'have-all' && m.type !== 'have-none') return;
            clearTimeout(timer);
            resolve({ fast: peer.fast, type: m.type });
          },
          onClose: (_p, reason) => reject(new Error(`libtorrent closed the connection: ${reason}`)),
        }),
      });
      hub.connect(meta.infoHashBytes, '127.0.0.1', port);
    });
  } finally {
    await hub.close();
  }
}
