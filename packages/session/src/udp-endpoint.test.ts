// One UDP endpoint per session, on the TCP listen port: the UDP trackers of every torrent go
// through it (real opentracker over UDP on loopback).
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, removeTempDir, startOpentracker, type RunningOpentracker } from '@mainline/interop';
import { Session, type Torrent } from './index.js';

const sessions: Session[] = [];
let tracker: RunningOpentracker | undefined;
let dir: string | undefined;
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
  await tracker?.stop();
  tracker = undefined;
  if (dir) removeTempDir(dir);
  dir = undefined;
});

async function session(options: ConstructorParameters<typeof Session>[0] = {}): Promise<Session> {
  const s = new Session({ portRange: [0, 0], bind: '127.0.0.1', ...options });
  sessions.push(s);
  await s.listen();
  return s;
}

async function until(check: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('a leecher finds the seeder through a UDP tracker; both announce from their listen port', async () => {
  dir = makeTempDir('ml-udp-');
  tracker = await startOpentracker({ infoHashes: [] });
  const payload = await makePayload(join(dir, 'seed'), { name: 'one.bin', size: 1024 * 1024 });
  const torrent = makeTorrent(payload.path, { pieceLength: 64 * 1024, trackers: [tracker.udpUrl] });
  await tracker.allow([torrent.infoHash]);
  const seeder = await session();
  const leecher = await session();
  for (const s of [seeder, leecher]) {
    expect(s.udp?.port).toBe(s.port); // one port number for TCP and UDP
  }
  const seed = await seeder.add(torrent.bytes, { savePath: payload.saveDir });
  await until(() => seeder.udp!.stats().claimed['udp-tracker']! >= 2, 'the seeder to announce over UDP (connect + announce)');
  const leech: Torrent = await leecher.add(torrent.bytes, { savePath: join(dir, 'out') });
  await until(() => leech.state === 'seeding', 'the download');
  expect(leech.peerList.counts().known.tracker).toBeGreaterThanOrEqual(1);
  expect(leecher.udp!.stats().claimed['udp-tracker']).toBeGreaterThanOrEqual(2);
  expect(seed.stats().trackerError).toBeUndefined();
});

test('listen moves on to the next port when the UDP half of a port is taken', async () => {
  const squatter = createSocket('udp4');
  await new Promise<void>((r) => squatter.bind(0, '127.0.0.1', r));
  const taken = squatter.address().port;
  try {
    const s = await session({ portRange: [taken, taken + 10] });
    expect(s.port).toBeGreaterThan(taken);
    expect(s.udp?.port).toBe(s.port);
    const tcpOnly = await session({ portRange: [taken, taken + 10], udp: false });
    expect(tcpOnly.udp).toBeUndefined();
  } finally {
    squatter.close();
  }
});
