import { existsSync } from 'node:fs';
import { readFile, truncate } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { BencodeDict, decode, encode } from '@mainline/bencode';
import { makePayload, makeTempDir, makeTorrent, startOpentracker } from '@mainline/interop';
import { Session, type Torrent, type TorrentState } from './index.js';

function until(torrent: Torrent, predicate: () => boolean, what: string, ms = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (predicate()) {
        clearInterval(timer);
        clearTimeout(deadline);
        resolve();
      }
    }, 20);
    const deadline = setTimeout(() => {
      clearInterval(timer);
      reject(new Error(`timed out waiting for ${what}; stats ${JSON.stringify(torrent.stats())}`));
    }, ms);
  });
}

const inState = (t: Torrent, s: TorrentState): Promise<void> => until(t, () => t.state === s, `state ${s}`);

/** The `done` events of every torrent the session adds, counted from before it starts. */
function countDone(s: Session): Map<string, number> {
  const counts = new Map<string, number>();
  s.on('torrent-added', (t) => t.on('done', () => counts.set(t.infoHash, (counts.get(t.infoHash) ?? 0) + 1)));
  return counts;
}

/** An HTTP tracker that only records what it is told (event, left, port) and gives no peers. */
async function recordingTracker(): Promise<{ url: string; announces: { event: string; left: number; port: number }[]; server: Server }> {
  const announces: { event: string; left: number; port: number }[] = [];
  const server = createServer((req, res) => {
    const q = new URL(req.url ?? '/', 'http://tracker').searchParams;
    announces.push({ event: q.get('event') ?? 'none', left: Number(q.get('left')), port: Number(q.get('port')) });
    res.end(encode({ interval: 1800, peers: new Uint8Array(0) }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/announce`, announces, server };
}

describe('Torrent lifecycle', () => {
  const sessions: Session[] = [];
  const session = (opts: ConstructorParameters<typeof Session>[0] = {}): Session => {
    const s = new Session({ portRange: [0, 0], bind: '127.0.0.1', ...opts });
    sessions.push(s);
    return s;
  };
  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((s) => s.close()));
  });

  async function seeded(size = 2 * 1024 * 1024, files?: { path: string; size: number }[], trackers?: string[]) {
    const dir = makeTempDir('ml-torrent-');
    const payload = await makePayload(join(dir, 'seed'), files ? { name: 'set', files } : { name: 'one.bin', size });
    const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024, ...(trackers ? { trackers } : {}) });
    const seeder = session();
    const port = await seeder.listen();
    const seeding = await seeder.add(torrent.bytes, { savePath: payload.saveDir });
    return { dir, payload, torrent, seeder, port, seeding };
  }

  test('pause stops the transfer and resume finishes it', async () => {
    const { dir, torrent, port } = await seeded(4 * 1024 * 1024);
    const leecher = session({ downloadLimit: 1024 * 1024 });
    await leecher.listen();
    const t = await leecher.add(torrent.bytes, { savePath: join(dir, 'out'), peers: [{ ip: '127.0.0.1', port }] });
    await until(t, () => t.stats().piecesHave > 0, 'first piece');
    await t.pause();
    expect(t.state).toBe('paused');
    expect(t.stats().peers).toBe(0);
    // Blocks received before the pause may still be written and verified; then nothing moves.
    await new Promise((r) => setTimeout(r, 300));
    const frozen = t.stats().piecesHave;
    await new Promise((r) => setTimeout(r, 500));
    expect(t.stats().piecesHave).toBe(frozen);
    expect(frozen).toBeLessThan(t.stats().pieceCount);
    leecher.setLimits({ download: 0 });
    await t.resume();
    t.addPeers([{ ip: '127.0.0.1', port }]);
    await inState(t, 'seeding');
    expect(t.stats().progress).toBe(1);
  });

  test('the torrents of a session hash and write their pieces on one shared set of threads, started when there is something to fetch', async () => {
    const dir = makeTempDir('ml-shared-hasher-');
    const seeder = session();
    const port = await seeder.listen();
    const torrents = [];
    for (const name of ['a.bin', 'b.bin']) {
      const payload = await makePayload(join(dir, 'seed'), { name, size: 2 * 1024 * 1024 });
      const torrent = makeTorrent(payload.path, { pieceLength: 256 * 1024 }); // big enough for the threads
      await seeder.add(torrent.bytes, { savePath: payload.saveDir });
      torrents.push(torrent);
    }
    expect(seeder.pieceHasher.threads).toBe(0); // nothing to fetch: no thread
    // Pieces to fetch: the thread boots as the torrent starts, before any peer has sent a block.
    const peerless = session();
    const waiting = await peerless.add(torrents[0]!.bytes, { savePath: join(dir, 'peerless') });
    await inState(waiting, 'downloading');
    expect(peerless.pieceHasher.threads).toBe(1);
    const leecher = session();
    await leecher.listen();
    expect(leecher.pieceHasher.threads).toBe(0);
    const downloads = await Promise.all(torrents.map((t) => leecher.add(t.bytes, { savePath: join(dir, 'out'), peers: [{ ip: '127.0.0.1', port }] })));
    await Promise.all(downloads.map((t) => inState(t, 'seeding')));
    // Both torrents' pieces went through the session's threads (a torrent's own would leave it idle).
    expect(leecher.pieceHasher.threads).toBeGreaterThanOrEqual(1);
    expect(leecher.pieceHasher.threads).toBeLessThanOrEqual(leecher.pieceHasher.maxThreads);
    // Stopping a torrent (closing its store) leaves the shared threads working; closing the session ends them.
    await downloads[0]!.stop();
    const piece = new Uint8Array(64 * 1024).fill(7);
    await expect(leecher.pieceHasher.hash(piece.slice().buffer, piece.length, piece.length)).resolves.toMatchObject({ written: false });
    await leecher.close();
    await expect(leecher.pieceHasher.hash(new ArrayBuffer(8), 8, 8)).rejects.toThrow('closed');
  });

  /** A small torrent, and a loopback port that nobody listens on yet (the late peer takes it later). */
  async function latePeer(name: string): Promise<{ dir: string; payload: Awaited<ReturnType<typeof makePayload>>; torrent: ReturnType<typeof makeTorrent>; port: number }> {
    const dir = makeTempDir('ml-redial-');
    const payload = await makePayload(join(dir, 'seed'), { name, size: 512 * 1024 });
    const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024 });
    const probe = session();
    const port = await probe.listen();
    await probe.close();
    return { dir, payload, torrent, port };
  }

  test('a named peer that was not reachable at first is dialled again', async () => {
    // The seeder starts on the port only after the leecher's first dial failed.
    const { dir, payload, torrent, port } = await latePeer('late.bin');
    const leecher = session();
    await leecher.listen();
    const t = await leecher.add(torrent.bytes, { savePath: join(dir, 'out'), peers: [{ ip: '127.0.0.1', port }], peerRedialMs: 200 });
    await new Promise((r) => setTimeout(r, 300));
    expect(t.stats().peers).toBe(0);
    const seeder = session({ portRange: [port, port] });
    await seeder.listen();
    await seeder.add(torrent.bytes, { savePath: payload.saveDir });
    await inState(t, 'seeding');
  });

  test('a peer given to addPeers() after the start is dialled again too (a seed dialling a leecher)', async () => {
    const { dir, payload, torrent, port } = await latePeer('later.bin');
    // The seeder starts with no peers and is told about the leecher's port before anyone listens there.
    const seeder = session();
    await seeder.listen();
    const seed = await seeder.add(torrent.bytes, { savePath: payload.saveDir, peerRedialMs: 200 });
    seed.addPeers([{ ip: '127.0.0.1', port }]);
    await new Promise((r) => setTimeout(r, 300));
    expect(seed.stats().peers).toBe(0);
    const leecher = session({ portRange: [port, port] });
    await leecher.listen();
    const t = await leecher.add(torrent.bytes, { savePath: join(dir, 'out') });
    await inState(t, 'seeding');
  });

  const threeFiles = [
    { path: 'keep-1.bin', size: 300_000 },
    { path: 'skip.bin', size: 500_000 },
    { path: 'keep-2.bin', size: 300_000 },
  ];
  // mktorrent sorts files by path, so the skipped one is looked up by name.
  const skipping = (t: Torrent | { metainfo: Torrent['meta'] }): ('skip' | 'normal')[] =>
    ('meta' in t ? t.meta : t.metainfo).files.map((f) => (f.path.at(-1) === 'skip.bin' ? 'skip' : 'normal'));
  const same = async (a: string, b: string): Promise<boolean> => (await readFile(a)).equals(await readFile(b));

  test('with a file skipped the torrent finishes (done, seeding, not interested, resume saved); wanting it later downloads it and is done again', async () => {
    const { dir, payload, torrent, port, seeding } = await seeded(0, threeFiles);
    const stateDir = join(dir, 'state');
    const leecher = session({ stateDir });
    const done = countDone(leecher);
    await leecher.listen();
    const out = join(dir, 'out');
    const t = await leecher.add(torrent.bytes, { savePath: out, filePriorities: skipping(torrent), peers: [{ ip: '127.0.0.1', port }] });
    const before = t.stats();
    expect(before.wantedLength).toBeLessThan(before.totalLength);
    // The pieces holding keep-1 and keep-2: 300 000 bytes each, plus the rest of their edge pieces.
    expect(before.wantedLength).toBeGreaterThanOrEqual(600_000);
    expect(before.wantedLeft).toBe(before.wantedLength);

    await inState(t, 'seeding');
    expect(done.get(t.infoHash)).toBe(1);
    const s = t.stats();
    expect(s.wantedLeft).toBe(0);
    expect(s.wantedProgress).toBe(1);
    expect(s.progress).toBeLessThan(1);
    expect(s.left).toBe(s.totalLength - s.haveBytes);
    expect(s.left).toBeGreaterThan(0);
    expect(s.eta).toBeUndefined();
    expect(existsSync(join(out, 'set', 'skip.bin'))).toBe(false);
    for (const name of ['keep-1.bin', 'keep-2.bin']) expect(await same(join(out, 'set', name), join(payload.path, name))).toBe(true);
    // Nothing more to get from anyone; the seed (nothing to trade) is let go.
    await until(t, () => t.peers.every((p) => !p.amInterested && !p.seed), 'not interested, seed closed');
    // The resume record is written at once and says finished pieces are had.
    const resumeFile = join(stateDir, `${t.infoHash}.resume`);
    await until(t, () => existsSync(resumeFile), 'resume record');
    const record = decode(await readFile(resumeFile));
    expect(record).toBeInstanceOf(BencodeDict);
    expect((record as BencodeDict).get('completed')).toBe(1);

    // The user wants every file now: back to downloading, then done again.
    await t.setFilePriorities(t.meta.files.map(() => 'normal'));
    expect(t.state).toBe('downloading');
    expect(t.stats().wantedLength).toBe(t.stats().totalLength);
    expect(t.stats().wantedLeft).toBe(t.stats().left);
    await inState(t, 'seeding');
    expect(done.get(t.infoHash)).toBe(2);
    expect(t.stats().progress).toBe(1);
    expect(t.stats().wantedProgress).toBe(1);
    for (const f of payload.files) expect(await same(join(out, 'set', f.relativePath), f.path)).toBe(true);
    expect(seeding.stats().uploaded).toBeGreaterThanOrEqual(payload.totalSize);
  });

  test('priorities changed on an idle torrent (no swarm): kept, saved, and a partial seed that wants more makes its swarm and downloads', async () => {
    const { dir, payload, torrent, port, seeding } = await seeded(0, threeFiles);
    // The seeder is idle: every file normal, no peer yet, so no swarm.
    expect(seeding.hasSwarm).toBe(false);
    expect(seeding.filePriorities).toEqual(['normal', 'normal', 'normal']);
    const mixed = seeding.meta.files.map((f) => (f.path.at(-1) === 'skip.bin' ? 'skip' : f.path.at(-1) === 'keep-1.bin' ? 'high' : 'normal'));
    await seeding.setFilePriorities(mixed);
    expect(seeding.filePriorities).toEqual(mixed);
    expect(seeding.state).toBe('seeding');
    expect(seeding.hasSwarm).toBe(false);
    expect(seeding.stats().wantedLength).toBeLessThan(seeding.stats().totalLength);
    await seeding.setFilePriorities(mixed.map(() => 'normal'));
    expect(seeding.filePriorities).toEqual(['normal', 'normal', 'normal']);
    expect(seeding.stats().wantedLength).toBe(seeding.stats().totalLength);

    // A leecher skips a file, finishes, and rests without a swarm (paused and resumed).
    const stateDir = join(dir, 'state');
    const leecher = session({ stateDir });
    await leecher.listen();
    const out = join(dir, 'out');
    const t = await leecher.add(torrent.bytes, { savePath: out, filePriorities: skipping(torrent), peers: [{ ip: '127.0.0.1', port }] });
    await inState(t, 'seeding');
    await t.pause();
    const record = decode(await readFile(join(stateDir, `${t.infoHash}.resume`))) as BencodeDict;
    expect((record.get('priorities') as Uint8Array[]).map((b) => Buffer.from(b).toString())).toEqual(skipping(torrent));
    await t.resume();
    expect(t.state).toBe('seeding');
    expect(t.hasSwarm).toBe(false);
    // Every file wanted now (all normal: no levels kept): the idle partial seed makes its swarm and downloads the rest.
    await t.setFilePriorities(t.meta.files.map(() => 'normal'));
    expect(t.hasSwarm).toBe(true);
    expect(t.state).toBe('downloading');
    await inState(t, 'seeding');
    expect(t.stats().progress).toBe(1);
    for (const f of payload.files) expect(await same(join(out, 'set', f.relativePath), f.path)).toBe(true);
  });

  test('skipping every file still missing finishes a download at once', async () => {
    const { dir, torrent, port } = await seeded(0, threeFiles);
    const leecher = session({ downloadLimit: 64 * 1024 });
    const done = countDone(leecher);
    await leecher.listen();
    const wanted = skipping(torrent).map((p) => (p === 'skip' ? 'normal' : 'skip'));
    const t = await leecher.add(torrent.bytes, { savePath: join(dir, 'out'), filePriorities: wanted, peers: [{ ip: '127.0.0.1', port }] });
    await until(t, () => t.stats().piecesHave > 0, 'first piece');
    expect(t.state).toBe('downloading');
    await t.setFilePriorities(t.meta.files.map(() => 'skip'));
    expect(t.state).toBe('seeding');
    expect(done.get(t.infoHash)).toBe(1);
    expect(t.stats().wantedLength).toBe(0);
    expect(t.stats().wantedProgress).toBe(1);
  });

  test('trackers hear `completed` once for a finished partial download, with `left` counting the skipped bytes, even when a restart wants more', async () => {
    const tracker = await recordingTracker();
    try {
      const { dir, torrent, port } = await seeded(0, threeFiles, [tracker.url]);
      const stateDir = join(dir, 'state');
      const out = join(dir, 'out');
      const first = session({ stateDir });
      const myPort = await first.listen();
      const t = await first.add(torrent.bytes, { savePath: out, filePriorities: skipping(torrent), peers: [{ ip: '127.0.0.1', port }] });
      await inState(t, 'seeding');
      const mine = (): { event: string; left: number; port: number }[] => tracker.announces.filter((a) => a.port === myPort);
      await until(t, () => mine().some((a) => a.event === 'completed'), 'completed announce');
      const completed = mine().find((a) => a.event === 'completed')!;
      expect(completed.left).toBe(t.stats().left);
      expect(completed.left).toBeGreaterThan(0);
      await first.close();

      // Next run wants every file from the start: it downloads and finishes, but `completed` was said.
      const second = session({ stateDir, portRange: [myPort, myPort] });
      const done = countDone(second);
      await second.listen();
      const again = await second.add(torrent.bytes, { savePath: out, peers: [{ ip: '127.0.0.1', port }] });
      expect(again.state).toBe('downloading');
      await inState(again, 'seeding');
      expect(done.get(again.infoHash)).toBe(1);
      await until(again, () => mine().filter((a) => a.event === 'started').length === 2, 'second started');
      await new Promise((r) => setTimeout(r, 500));
      await second.close();
      expect(mine().map((a) => a.event)).toEqual(['started', 'completed', 'stopped', 'started', 'stopped']);
    } finally {
      tracker.server.close();
    }
  });

  test('seeding stops at the ratio limit', async () => {
    const { dir, torrent, port } = await seeded(1024 * 1024);
    // A second seeder with a ratio limit of 0.5 uploads to a fresh leecher, then stops.
    const limited = session();
    const limitedPort = await limited.listen();
    const relay = await limited.add(torrent.bytes, { savePath: join(dir, 'relay'), seedRatio: 0.5, peers: [{ ip: '127.0.0.1', port }] });
    await inState(relay, 'seeding');
    const leecher = session();
    await leecher.listen();
    await leecher.add(torrent.bytes, { savePath: join(dir, 'out'), peers: [{ ip: '127.0.0.1', port: limitedPort }] });
    await until(relay, () => relay.state === 'paused', 'ratio stop', 20_000);
    expect(relay.ratio).toBeGreaterThanOrEqual(0.5);
  });

  test('a restart after a crash keeps verified pieces (resume record) and rechecks when files changed', async () => {
    const { dir, torrent, port, payload } = await seeded(3 * 1024 * 1024);
    const stateDir = join(dir, 'state');
    const out = join(dir, 'out');
    const first = session({ stateDir });
    await first.listen();
    const t = await first.add(torrent.bytes, { savePath: out, peers: [{ ip: '127.0.0.1', port }] });
    await inState(t, 'seeding');
    // A recheck hashes everything again but keeps the lifetime totals.
    const downloaded = t.stats().downloaded;
    expect(downloaded).toBeGreaterThanOrEqual(3 * 1024 * 1024);
    await t.recheck();
    expect(t.state).toBe('seeding');
    expect(t.stats().downloaded).toBe(downloaded);
    await first.close();

    // Same files: the record is trusted, nothing is hashed or downloaded.
    const second = session({ stateDir });
    await second.listen();
    const again = await second.add(torrent.bytes, { savePath: out });
    expect(again.state).toBe('seeding');
    expect(again.stats().checkProgress).toBe(1);
    await second.close();

    // A file cut behind our back: the record no longer matches, the recheck finds the damage.
    await truncate(join(out, 'one.bin'), 1024 * 1024);
    const third = session({ stateDir });
    await third.listen();
    const damaged = await third.add(torrent.bytes, { savePath: out });
    expect(damaged.state).toBe('downloading');
    expect(damaged.stats().piecesHave).toBe(32);
    damaged.addPeers([{ ip: '127.0.0.1', port }]);
    await inState(damaged, 'seeding');
    expect((await readFile(join(out, 'one.bin'))).equals(await readFile(payload.path))).toBe(true);
  });

  test('a disk error puts the torrent in error without marking pieces had', async () => {
    const { dir, torrent, port } = await seeded(1024 * 1024);
    const leecher = session();
    await leecher.listen();
    // The save path is a file, so the storage cannot create its files.
    const blocker = join(dir, 'not-a-dir');
    await (await import('node:fs/promises')).writeFile(blocker, 'x');
    const t = await leecher.add(torrent.bytes, { savePath: blocker, peers: [{ ip: '127.0.0.1', port }] });
    expect(t.state).toBe('error');
    expect(t.stats().error).toMatch(/ENOTDIR|not a directory|EEXIST/i);
    expect(t.stats().piecesHave).toBe(0);
  });

  test('trackers: started on add, peers found through opentracker, stopped on close', async () => {
    const dir = makeTempDir('ml-tracker-');
    const payload = await makePayload(join(dir, 'seed'), { name: 'tracked.bin', size: 1024 * 1024 });
    const probe = makeTorrent(payload.path, { pieceLength: 32 * 1024 });
    const tracker = await startOpentracker({ infoHashes: [probe.infoHash] });
    try {
      const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024, trackers: [tracker.announceUrl], outPath: join(dir, 't.torrent') });
      expect(torrent.infoHash).toBe(probe.infoHash);
      const seeder = session();
      await seeder.listen();
      await seeder.add(torrent.bytes, { savePath: payload.saveDir });
      const leecher = session();
      await leecher.listen();
      const t = await leecher.add(torrent.bytes, { savePath: join(dir, 'out') });
      await inState(t, 'seeding');
      expect(t.stats().trackerPeers).toBeGreaterThan(0);
      await leecher.close();
      await seeder.close();
      // Both said `stopped`: the tracker no longer lists any peer.
      const scrape = await (await fetch(`${tracker.scrapeUrl}?info_hash=${escape(Buffer.from(torrent.infoHash, 'hex').toString('latin1'))}`)).arrayBuffer();
      expect(Buffer.from(scrape).toString('latin1')).toMatch(/8:completei\d+e10:downloadedi\d+e10:incompletei0e/);
      expect(Buffer.from(scrape).toString('latin1')).toContain('8:completei0e');
    } finally {
      await tracker.stop();
    }
  });
});
