// The session's DHT over real UDP on loopback: a standalone DhtNode is the only bootstrap node
// (never the public routers). A trackerless magnet downloads through it; private torrents stay
// out; the node table survives a restart; `port` messages feed the table; searches repeat.
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseState, startStandaloneDht, type StandaloneDht } from '@mainline/dht';
import { makePayload, makeTempDir, makeTorrent, removeTempDir } from '@mainline/interop';
import { formatMagnet } from '@mainline/metainfo';
import { ManualClock } from '@mainline/rate';
import { Session, type SessionOptions, type Torrent } from './index.js';

async function sha1(path: string): Promise<string> {
  return createHash('sha1').update(await readFile(path)).digest('hex');
}

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The torrent has every piece (the test's timeout bounds the wait). */
async function whenDone(t: Torrent): Promise<void> {
  if (t.state !== 'seeding') await once(t, 'done');
}

/** A plain DHT node on 127.0.0.1: the test network's only bootstrap node. */
const router = (): Promise<StandaloneDht> => startStandaloneDht({ bootstrap: [], queryTimeoutMs: 2000 });

const sessions: Session[] = [];
const closers: (() => Promise<void>)[] = [];
let dir: string;
beforeAll(() => {
  dir = makeTempDir('ml-dht-');
});
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
  for (const c of closers.splice(0)) await c();
});
afterAll(() => removeTempDir(dir));

async function session(options: SessionOptions): Promise<Session> {
  const s = new Session({ portRange: [0, 0], bind: '127.0.0.1', ...options });
  sessions.push(s);
  await s.listen();
  return s;
}

test('a magnet link with no tracker and no peers downloads: the seeder announced to the DHT, the leecher found it there', async () => {
  const r = await router();
  closers.push(r.close);
  const payload = await makePayload(join(dir, 'seed1'), { name: 'clip.bin', size: 1_500_000 });
  const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024 });

  const seeder = await session({ dht: { bootstrap: [r.address] } });
  const seeding = await seeder.add(torrent.bytes, { savePath: payload.saveDir });
  // The seeder's announce reached the router (the only other node then).
  await until(() => r.node.stats().storedPeers === 1, 'the seeder to announce');
  expect(seeder.dhtStatus()).toMatchObject({ enabled: true, running: true, torrents: 1 });

  const leecher = await session({ dht: { bootstrap: [r.address] } });
  const magnet = leecher.addMagnet(formatMagnet({ infoHash: torrent.infoHash }), { savePath: join(dir, 'out1') });
  expect(magnet.link.trackers).toEqual([]);
  const t = await magnet.torrent;
  await whenDone(t);
  expect(await sha1(join(dir, 'out1', 'clip.bin'))).toBe(await sha1(payload.path));
  // The seeder came to the torrent's peer list from the DHT (the magnet's search found it first).
  expect(t.peerList.counts().known.dht).toBeGreaterThanOrEqual(1);
  expect(seeding.stats().uploaded).toBeGreaterThanOrEqual(payload.totalSize);
  // Both sessions are in the router's table, and it in theirs.
  expect(leecher.dhtStatus().nodes).toBeGreaterThanOrEqual(1);
  expect(r.node.nodeCount).toBe(2);
});

test('a private torrent never touches the DHT: no search, no announce', async () => {
  const r = await router();
  closers.push(r.close);
  const payload = await makePayload(join(dir, 'seed2'), { name: 'secret.bin', size: 100_000 });
  const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024, private: true });
  const s = await session({ dht: { bootstrap: [r.address] } });
  await until(() => s.dhtStatus().nodes === 1, 'the bootstrap');
  const before = r.node.stats().received.queries;
  const t = await s.add(torrent.bytes, { savePath: payload.saveDir });
  expect(t.meta.private).toBe(true);
  expect(s.dhtStatus().torrents).toBe(0);
  // A public torrent added after it is searched and announced; the private one never was.
  const pub = makeTorrent((await makePayload(join(dir, 'seed2b'), { name: 'public.bin', size: 50_000 })).path, { pieceLength: 32 * 1024 });
  await s.add(pub.bytes, { savePath: join(dir, 'seed2b') });
  await until(() => r.node.stats().storedPeers === 1, 'the public torrent announce');
  expect(r.node.stats().storedTorrents).toBe(1);
  expect(r.node.stats().received.queries).toBeGreaterThan(before);
});

test('the node table is saved in the state directory and a restart needs no bootstrap node', async () => {
  const r = await router();
  closers.push(r.close);
  const stateDir = join(dir, 'state3');
  const first = await session({ stateDir, dht: { bootstrap: [r.address] } });
  await until(() => first.dhtStatus().nodes === 1, 'the bootstrap');
  const id = first.dhtStatus().stats!.id;
  await first.close();
  const file = join(stateDir, 'dht.dat');
  expect(existsSync(file)).toBe(true);
  const saved = parseState(await readFile(file));
  expect(Buffer.from(saved.id).toString('hex')).toBe(id);
  expect(saved.nodes.map((n) => `${n.host}:${n.port}`)).toEqual([r.address]);

  const again = await session({ stateDir, dht: { bootstrap: [] } });
  await until(() => again.dhtStatus().nodes === 1, 'the saved node to answer');
  expect(again.dhtStatus().stats!.id).toBe(id);
});

test('a damaged dht.dat is a warning and an empty table, not a failure', async () => {
  const stateDir = join(dir, 'state4');
  const { writeFile, mkdir } = await import('node:fs/promises');
  await mkdir(stateDir, { recursive: true });
  await writeFile(join(stateDir, 'dht.dat'), 'not bencode');
  const s = await session({ stateDir, dht: { bootstrap: [] } });
  expect(s.dhtStatus()).toMatchObject({ enabled: true, running: true, nodes: 0 });
  expect(s.dhtStatus().warnings.join('\n')).toContain('dht.dat');
});

test('peers that both run the DHT swap BEP 5 port messages: a node with no bootstrap learns the other from the wire', async () => {
  const payload = await makePayload(join(dir, 'seed5'), { name: 'w.bin', size: 64 * 1024 });
  const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024 });
  const a = await session({ dht: { bootstrap: [] } });
  await a.add(torrent.bytes, { savePath: payload.saveDir });
  const b = await session({ dht: { bootstrap: [] } });
  expect(b.dhtStatus().nodes).toBe(0);
  await b.add(torrent.bytes, { savePath: join(dir, 'out5'), peers: [{ ip: '127.0.0.1', port: a.port }] });
  // b's `port` message made a ping b's node, and the other way: each is now in the other's table.
  await until(() => a.dhtStatus().nodes === 1 && b.dhtStatus().nodes === 1, 'both tables to hold the other');
});

test('switched off and on while running: the node stops (table saved), starts again, and torrents search again', async () => {
  const r = await router();
  closers.push(r.close);
  const stateDir = join(dir, 'state6');
  const s = await session({ stateDir, dht: { bootstrap: [r.address] } });
  const payload = await makePayload(join(dir, 'seed6'), { name: 'x.bin', size: 40_000 });
  const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024 });
  await s.add(torrent.bytes, { savePath: payload.saveDir });
  await until(() => r.node.stats().storedPeers === 1, 'the first announce');
  await s.setDht(false);
  expect(s.dhtStatus()).toMatchObject({ enabled: false, running: false, nodes: 0, torrents: 1 });
  expect(s.dhtStatus().stateFile).toBe(join(stateDir, 'dht.dat'));
  expect(existsSync(join(stateDir, 'dht.dat'))).toBe(true);
  const announcesBefore = r.node.stats().received.queries;
  await s.setDht(true);
  expect(s.dhtStatus().running).toBe(true);
  await until(() => r.node.stats().received.queries > announcesBefore + 1, 'a new search after the restart');
});

test('a torrent added while the DHT is off is announced once it is switched on; a leecher finds it there; stopped, it leaves', async () => {
  const r = await router();
  closers.push(r.close);
  const seeder = await session({ dht: { enabled: false, bootstrap: [r.address] } });
  const payload = await makePayload(join(dir, 'seed8'), { name: 'off.bin', size: 100_000 });
  const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024 });
  const seed = await seeder.add(torrent.bytes, { savePath: payload.saveDir });
  expect(seed.state).toBe('seeding');
  expect(seeder.dhtStatus()).toMatchObject({ enabled: false, running: false, torrents: 1 });
  await seeder.setDht(true);
  await until(() => r.node.stats().storedPeers === 1, 'the announce after switching on');
  // A leecher with a .torrent and nothing else (no tracker, no peer): its torrent searches the DHT.
  const leecher = await session({ dht: { bootstrap: [r.address] } });
  const out = join(dir, 'out8');
  const download = await leecher.add(torrent.bytes, { savePath: out });
  await whenDone(download);
  expect(download.peerList.counts().known.dht).toBeGreaterThanOrEqual(1);
  expect(await sha1(join(out, 'off.bin'))).toBe(await sha1(payload.path));
  await seed.stop();
  expect(seeder.dhtStatus().torrents).toBe(0);
});

test('settings given while off ({ enabled: false }) apply when switched on', async () => {
  const r = await router();
  closers.push(r.close);
  const s = await session({ dht: { enabled: false, bootstrap: [r.address], stateDir: join(dir, 'state7') } });
  expect(s.dhtStatus()).toMatchObject({ enabled: false, running: false, stateFile: join(dir, 'state7', 'dht.dat') });
  await s.setDht(true);
  await until(() => s.dhtStatus().nodes === 1, 'the join through the given node');
});

test('a bad DHT setting is an error at once, naming it (not when the DHT first starts)', () => {
  expect(() => new Session({ dht: { enabled: false, bootstrap: ['nowhere'] } })).toThrow(/bootstrap node must be host:port.*nowhere/);
  expect(() => new Session({ dht: { node: { alpha: 0 } } })).toThrow(/alpha must be a positive number/);
  expect(() => new Session({ dht: { node: { bogus: 1 } as object } })).toThrow(/unknown DHT option "bogus"/);
  expect(() => new Session({ dht: { retryMinMs: -1 } })).toThrow(/dht.retryMinMs/);
});

test('a session without its UDP endpoint refuses the dht option, naming it', () => {
  expect(() => new Session({ udp: false, dht: true })).toThrow(/dht.*udp/);
});

test('on a ManualClock: a torrent short of peers searches again after 30 s, 60 s, 120 s...; with enough peers every 15 min', async () => {
  const clock = new ManualClock();
  const r = await startStandaloneDht({ bootstrap: [], clock });
  closers.push(r.close);
  // Counts the get_peers queries reaching the router (the datagrams, before the node sees them).
  let getPeers = 0;
  const receive = r.node.receive.bind(r.node);
  r.node.receive = (d, from) => {
    if (Buffer.from(d).includes('9:get_peers')) getPeers++;
    receive(d, from);
  };
  const s = await session({ clock, dht: { bootstrap: [r.address] } });
  await until(() => s.dhtStatus().nodes === 1, 'the bootstrap');
  let short = true;
  const found: string[] = [];
  s.dht.add('ab'.repeat(20), { onPeers: (p) => found.push(...p.map((x) => `${x.ip}:${x.port}`)), shortOfPeers: () => short });
  const searched = async (n: number): Promise<void> => {
    await until(() => getPeers === n, `search ${n}`);
    // The search is over once its announce was answered: the next one is on the clock then.
    await until(() => r.node.stats().storedPeers === 1 && s.dhtStatus().stats!.runningLookups === 0 && s.dhtStatus().stats!.pendingQueries === 0, `search ${n} to end`);
    await new Promise((resolve) => setImmediate(resolve));
  };
  clock.advance(0);
  await searched(1);
  for (const [wait, n] of [
    [30_000, 2],
    [60_000, 3],
  ] as const) {
    clock.advance(wait - 1);
    expect(getPeers).toBe(n - 1);
    clock.advance(1);
    await searched(n);
  }
  // Enough peers now: the next search (already due in 120 s) is the last soon one; then 15 min.
  short = false;
  clock.advance(120_000);
  await searched(4);
  clock.advance(15 * 60_000 - 1);
  expect(getPeers).toBe(4);
  clock.advance(1);
  await searched(5);
  // Only our own announce came back (the peer list's filter drops our own address).
  expect(new Set(found)).toEqual(new Set([`127.0.0.1:${s.port}`]));
});
