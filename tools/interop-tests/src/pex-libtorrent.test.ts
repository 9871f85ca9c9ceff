// Peer exchange (BEP 11) with libtorrent: a python3-libtorrent seed and three of our sessions,
// each given only the seed's address. libtorrent tells each leecher of the others (ut_pex), the
// leechers connect to one another and trade pieces. The seed is rate-limited so there is time
// to trade. Reports the time until all three are connected to one another, and the bytes each
// uploaded to the other two.
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, startLibtorrent, type LibtorrentHandle } from '@mainline/interop';
import type { Session, Torrent } from '@mainline/session';
import { MiB, digests, loopbackSession, until, whenComplete } from './helpers.js';

const hex = (b: Uint8Array | undefined): string => (b ? Buffer.from(b).toString('hex') : '');

describe('PEX with libtorrent', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const stop of cleanup.splice(0).reverse()) await stop().catch(() => undefined);
  });

  test('a libtorrent seed and three leechers given only its address: they find one another by PEX and upload to one another', async () => {
    const dir = makeTempDir('it-pex');
    const payload = await makePayload(join(dir, 'seed'), { name: 'pex.bin', size: 8 * MiB + 11 });
    const torrent = makeTorrent(payload.path, { pieceLength: 64 * 1024 });
    const seeder: LibtorrentHandle = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: payload.saveDir, uploadLimit: 512 * 1024 });
    cleanup.push(() => seeder.stop());
    await seeder.waitForComplete(20_000);
    const sessions: Session[] = [];
    for (let i = 0; i < 3; i++) {
      const s = await loopbackSession();
      cleanup.push(() => s.close());
      sessions.push(s);
    }
    const ids = sessions.map((s) => hex(s.peerId));
    const started = Date.now();
    const torrents: Torrent[] = await Promise.all(
      sessions.map((s, i) => s.add(torrent.bytes, { savePath: join(dir, `out-${i}`), peers: [{ ip: '127.0.0.1', port: seeder.port }], noTrackers: true })),
    );
    const others = (i: number): string[] => ids.filter((_, j) => j !== i);
    const up = new Map<string, number>();
    const sample = (): void =>
      torrents.forEach((t, i) => {
        for (const p of t.peers) {
          const k = `${i}->${hex(p.peerId)}`;
          if (others(i).includes(hex(p.peerId))) up.set(k, Math.max(up.get(k) ?? 0, p.uploaded));
        }
      });
    const meshed = (): boolean => torrents.every((t, i) => others(i).every((id) => t.peers.some((p) => hex(p.peerId) === id)));
    await until(() => (sample(), meshed()), 30_000, 'the three leechers connected to one another').catch((e: unknown) => {
      const seen = torrents.map((t) => ({ state: t.state, known: t.peerList.counts().known, peers: t.peers.map((p) => p.address) }));
      throw new Error(`${(e as Error).message}: ${JSON.stringify(seen)}`);
    });
    const meshMs = Date.now() - started;
    const timer = setInterval(sample, 20);
    try {
      await Promise.all(torrents.map((t) => whenComplete(t, 90_000)));
    } finally {
      clearInterval(timer);
    }
    sample();
    for (let i = 0; i < 3; i++) {
      const { expected, actual } = await digests(payload, join(dir, `out-${i}`));
      expect(actual).toEqual(expected);
    }
    // The only way they heard of one another: libtorrent's PEX (then ours). libtorrent lists each
    // leecher its own address too: the peer list turns it away as ourselves.
    expect(torrents.reduce((n, t) => n + t.peerList.counts().known.pex, 0)).toBeGreaterThanOrEqual(3);
    expect(torrents.reduce((n, t) => n + t.peerList.counts().rejected.self, 0)).toBeGreaterThanOrEqual(1);
    const uploaded = torrents.map((_, i) => others(i).map((id) => up.get(`${i}->${id}`) ?? 0));
    expect(uploaded.filter((u) => u[0]! + u[1]! > 0).length).toBeGreaterThanOrEqual(2);
    console.log(
      `PEX with libtorrent: the three leechers connected to one another ${meshMs} ms after they were added; ` +
        `bytes each uploaded to the other two: ${uploaded.map((u, i) => `#${i}: ${u.join(' + ')}`).join(', ')} (of ${payload.totalSize} each)`,
    );
  });
});
