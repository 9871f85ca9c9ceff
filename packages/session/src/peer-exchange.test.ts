// Peer exchange (BEP 11) between sessions on loopback: three leechers given only the seed's
// address find one another through it; a private torrent exchanges nobody.
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, removeTempDir } from '@mainline/interop';
import { Session, type Torrent } from './index.js';
import { until } from './test-helpers.js';

const hex = (b: Uint8Array | undefined): string => (b ? Buffer.from(b).toString('hex') : '');


const sessions: Session[] = [];
let dir: string;
beforeAll(() => {
  dir = makeTempDir('ml-pex-');
});
afterAll(() => removeTempDir(dir));
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});

async function session(): Promise<Session> {
  const s = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
  sessions.push(s);
  await s.listen();
  return s;
}

/** A seed limited to `rate` bytes/s and three leechers each given only its address. */
async function swarm(name: string, priv: boolean, rate: number): Promise<{ seed: Session; leechers: Session[]; torrents: Torrent[] }> {
  const payload = await makePayload(join(dir, name), { name: `${name}.bin`, size: 2 * 1024 * 1024 + 3 });
  const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024, private: priv, outPath: join(dir, `${name}.torrent`) });
  const seed = await session();
  await seed.add(torrent.bytes, { savePath: payload.saveDir, uploadLimit: rate, noTrackers: true });
  const leechers = [await session(), await session(), await session()];
  const torrents = await Promise.all(
    leechers.map((l, i) => l.add(torrent.bytes, { savePath: join(dir, `${name}-out-${i}`), peers: [{ ip: '127.0.0.1', port: seed.port }], noTrackers: true })),
  );
  return { seed, leechers, torrents };
}

test('three leechers given only the seed connect to one another through PEX and upload to one another', async () => {
  const { leechers, torrents } = await swarm('pex-public', false, 512 * 1024);
  const ids = leechers.map((l) => hex(l.peerId));
  const others = (i: number): string[] => ids.filter((_, j) => j !== i);
  const meshed = (): boolean => torrents.every((t, i) => others(i).every((id) => t.peers.some((p) => hex(p.peerId) === id)));
  // Bytes each uploaded to the other leechers, sampled while they are connected.
  const up = new Map<string, number>();
  const sample = (): void =>
    torrents.forEach((t, i) => {
      for (const p of t.peers) if (others(i).includes(hex(p.peerId))) up.set(`${i}->${hex(p.peerId)}`, Math.max(up.get(`${i}->${hex(p.peerId)}`) ?? 0, p.uploaded));
    });
  const started = Date.now();
  await until(() => (sample(), meshed()), 'the three leechers connected to one another', 30_000);
  const meshMs = Date.now() - started;
  // Only PEX could tell them of one another (no trackers, LSD or DHT): the dialling side learnt
  // its peers from it, the other side may have been dialled first.
  expect(torrents.reduce((n, t) => n + t.peerList.counts().known.pex, 0)).toBeGreaterThanOrEqual(3);
  for (const t of torrents) expect([t.peerList.counts().known.tracker, t.peerList.counts().known.lsd, t.peerList.counts().known.dht]).toEqual([0, 0, 0]);
  await until(() => (sample(), torrents.every((t) => t.state === 'seeding')), 'all three complete', 30_000);
  const uploadedTo = torrents.map((_, i) => [...up].filter(([k]) => k.startsWith(`${i}->`)).reduce((a, [, v]) => a + v, 0));
  expect(uploadedTo.filter((b) => b > 0).length).toBeGreaterThanOrEqual(2);
  console.log(`PEX among our sessions: meshed in ${meshMs} ms; bytes each leecher uploaded to the others: ${uploadedTo.join(', ')}`);
});

test('a private torrent: no PEX, the leechers stay with the seed alone', async () => {
  const { torrents } = await swarm('pex-private', true, 4 * 1024 * 1024);
  await until(() => torrents.every((t) => t.state === 'seeding'), 'all three complete', 30_000);
  for (const t of torrents) expect(t.peerList.counts().known.pex).toBe(0);
});
