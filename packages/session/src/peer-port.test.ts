// Session.setPort: the peer port moves while running (Transmission's `transmission-remote -p`).
// TCP and the UDP endpoint go to the new port together, connections made before stay, the old
// port is closed, a peer that dials the new one downloads, and the tracker (opentracker, over
// UDP: the endpoint that moved) is told the new port at once.
import { join } from 'node:path';
import { freePort, isListening, makePayload, makeTempDir, makeTorrent, removeTempDir, startOpentracker, type RunningOpentracker } from '@mainline/interop';
import { createTracker } from '@mainline/rerequester';
import { Session } from './index.js';
import { until } from './test-helpers.js';

async function untilAsync(cond: () => Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let dir: string | undefined;
let tracker: RunningOpentracker | undefined;
const sessions: Session[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
  await tracker?.stop();
  if (dir) removeTempDir(dir);
});

/** The ports opentracker hands out for the torrent to another peer. */
async function trackerPorts(url: string, infoHash: Uint8Array): Promise<number[]> {
  const t = createTracker(url);
  try {
    const r = await t.announce({ infoHash, peerId: Buffer.from('-XX0000-probe0000000'), port: 9, uploaded: 0, downloaded: 0, left: 1, numwant: 50, key: 1 });
    return r.peers.map((p) => p.port);
  } finally {
    t.close();
  }
}

test('setPort moves TCP and UDP, keeps connections, and tells the tracker at once', async () => {
  dir = makeTempDir('ml-peer-port-');
  const payload = await makePayload(join(dir, 'seed'), { name: 'p.bin', size: 3_000_000 });
  const probe = makeTorrent(payload.path, { pieceLength: 65536 });
  tracker = await startOpentracker({ infoHashes: [probe.infoHash] });
  const torrent = makeTorrent(payload.path, { pieceLength: 65536, trackers: [tracker.udpUrl] });
  // Intervals far beyond the test: only a port change can make the seed announce again.
  // The DHT runs on the UDP endpoint too (no bootstrap: nothing leaves loopback).
  const seed = new Session({ portRange: [0, 0], bind: '127.0.0.1', announcer: { minIntervalFloorMs: 3_600_000 }, dht: { bootstrap: [] } });
  sessions.push(seed);
  const oldPort = await seed.listen();
  const seeding = await seed.add(torrent.bytes, { savePath: payload.saveDir });
  const infoHash = Buffer.from(torrent.infoHash, 'hex');
  await until(() => seeding.state === 'seeding', 'the seed checks its data');

  // A leecher held at 100 kB/s is connected on the old port when the port moves.
  const slow = new Session({ portRange: [0, 0], bind: '127.0.0.1', downloadLimit: 100_000 });
  sessions.push(slow);
  await slow.listen();
  const slowTorrent = await slow.add(torrent.bytes, { savePath: join(dir, 'slow'), noTrackers: true, peers: [{ ip: '127.0.0.1', port: oldPort }] });
  await until(() => seeding.peers.length === 1 && slowTorrent.downloaded > 0, 'the slow leecher downloads');
  await untilAsync(async () => (await trackerPorts(tracker!.announceUrl, infoHash)).includes(oldPort), 'the tracker has the old port');
  const before = seeding.peers[0]!;

  const newPort = await freePort();
  expect(await seed.setPort(newPort)).toBe(newPort);
  expect(seed.port).toBe(newPort);
  expect(seed.udp?.port).toBe(newPort);

  expect(await isListening(oldPort)).toBe(false);
  await untilAsync(async () => (await trackerPorts(tracker!.announceUrl, infoHash)).includes(newPort), 'the tracker hears the new port', 15_000);
  // The connection made before the move is the same one, still moving data.
  const downloadedAtMove = slowTorrent.downloaded;
  await until(() => slowTorrent.downloaded > downloadedAtMove + 100_000, 'the slow leecher goes on');
  expect(seeding.peers).toContain(before);

  // A DHT node bootstrapping from the new port gets its answer there: the DHT moved with UDP.
  const dhtPeer = new Session({ portRange: [0, 0], bind: '127.0.0.1', dht: { bootstrap: [`127.0.0.1:${newPort}`] } });
  sessions.push(dhtPeer);
  await dhtPeer.listen();
  await until(() => dhtPeer.dhtStatus().nodes > 0, 'the seed\'s DHT answers on the new port');

  const fresh = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
  sessions.push(fresh);
  await fresh.listen();
  const got = await fresh.add(torrent.bytes, { savePath: join(dir, 'fresh'), noTrackers: true, peers: [{ ip: '127.0.0.1', port: newPort }] });
  await until(() => got.state === 'seeding', 'a peer dialling the new port downloads everything', 30_000);

  // A port that is taken leaves the session where it is.
  await expect(seed.setPort(fresh.port)).rejects.toThrow();
  expect(seed.port).toBe(newPort);
  expect(await isListening(newPort)).toBe(true);
}, 90_000);
