// A hostile HTTP tracker on loopback against a real Session: it asks for announces every second
// and hands out 2,000 peers, the live ones far down the list, and in front of them addresses no
// one should dial. The leecher runs on a ManualClock, so minutes of its time take a moment.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { encode } from '@mainline/bencode';
import { makePayload, makeTempDir, makeTorrent } from '@mainline/interop';
import { ManualClock } from '@mainline/rate';
import { Session } from './index.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function compact(peers: readonly [string, number][], size: 6 | 18): Buffer {
  const out = Buffer.alloc(peers.length * size);
  peers.forEach(([ip, port], i) => {
    if (size === 6) ip.split('.').forEach((b, j) => out.writeUInt8(Number(b), i * 6 + j));
    else out.set(ip === '::' ? Buffer.alloc(16) : Buffer.from('ff020000000000000000000000000001', 'hex'), i * 18);
    out.writeUInt16BE(port, i * size + size - 2);
  });
  return out;
}

/** A port nobody listens on (bound once, then closed): dials there are refused at once. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Every host:port a session dials, in order (a spy on its hub; the dials still happen). */
function recordDials(session: Session): string[] {
  const dialled: string[] = [];
  const connect = session.hub.connect.bind(session.hub);
  session.hub.connect = (hash, host, port, options) => {
    dialled.push(`${host}:${port}`);
    return connect(hash, host, port, options);
  };
  return dialled;
}

describe('a hostile tracker', () => {
  const sessions: Session[] = [];
  let tracker: Server | undefined;
  afterEach(async () => {
    tracker?.closeAllConnections();
    await new Promise<void>((r) => (tracker ? tracker.close(() => r()) : r()));
    await Promise.all(sessions.splice(0).map((s) => s.close()));
  });

  /** An HTTP tracker on loopback that records each announce's event and answers with what `answer` was last given. */
  async function scriptedTracker(): Promise<{ url: string; events: string[]; answer: (reply: Uint8Array) => void }> {
    const events: string[] = [];
    let reply: Uint8Array = new Uint8Array(0);
    tracker = createServer((req, res) => {
      events.push(new URL(req.url ?? '/', 'http://t').searchParams.get('event') ?? 'none');
      res.end(reply);
    });
    await new Promise<void>((r) => tracker!.listen(0, '127.0.0.1', r));
    return { url: `http://127.0.0.1:${(tracker.address() as AddressInfo).port}/announce`, events, answer: (r) => (reply = r) };
  }

  test('interval 1 and 2,000 peers: the live ones at positions ≥ 100 are reached, 0.0.0.0 / port 80 / ourselves never dialled, announces floored', async () => {
    const dir = makeTempDir('ml-hostile-tracker-');
    const payload = await makePayload(join(dir, 'seed'), { name: 'hostile.bin', size: 1024 * 1024 });
    // The tracker's URL goes into the torrent, so it starts first; its answer is set below.
    const { url, events, answer } = await scriptedTracker();
    const torrent = makeTorrent(payload.path, { pieceLength: 64 * 1024, trackers: [url] });

    const seedPorts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const s = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
      sessions.push(s);
      seedPorts.push(await s.listen());
      await s.add(torrent.bytes, { savePath: payload.saveDir, noTrackers: true });
    }
    const clock = new ManualClock(Date.now());
    const leecher = new Session({ portRange: [0, 0], bind: '127.0.0.1', clock });
    sessions.push(leecher);
    const ownPort = await leecher.listen();

    // First the addresses nobody may dial, then 2,000 that refuse, the live ones at 100, 900, 1700.
    const dead = await closedPort();
    const forbidden: [string, number][] = [
      ['0.0.0.0', 6881],
      ['127.0.0.1', 80],
      ['127.0.0.1', ownPort],
      ['224.0.0.1', 6881],
      ['255.255.255.255', 6881],
    ];
    const peers: [string, number][] = Array.from({ length: 2000 }, (_, i) => [`127.1.${i >> 8}.${i & 255}`, dead]);
    const live = [100, 900, 1700].map((at, k) => {
      peers[at] = ['127.0.0.1', seedPorts[k]!];
      return `127.0.0.1:${seedPorts[k]!}`;
    });
    answer(
      Buffer.from(
        encode({
        interval: 1,
        'min interval': 1,
        peers: compact([...forbidden, ...peers], 6),
          peers6: compact([['::', 6881], ['ff02::1', 6881]], 18),
        }),
      ),
    );

    const dialled = recordDials(leecher);
    const t = await leecher.add(torrent.bytes, { savePath: join(dir, 'out') });

    // Two minutes of the leecher's time, a second at a time, with real time for the sockets.
    const reached = new Set<string>();
    for (let s = 0; s < 120; s++) {
      clock.advance(1000);
      await sleep(15);
      for (const a of live) if (dialled.includes(a)) reached.add(a);
    }
    expect([...reached].sort()).toEqual([...live].sort());
    for (let s = 0; s < 200 && t.state !== 'seeding'; s++) await sleep(50);
    expect(t.state).toBe('seeding');

    const never = new Set([...forbidden.map(([h, p]) => `${h}:${p}`), ':::6881', 'ff02::1:6881']);
    expect(dialled.filter((d) => never.has(d))).toEqual([]);
    // The dead addresses were each tried, and the tracker's 1 s did not set the pace.
    expect(new Set(dialled).size).toBeGreaterThan(1000);
    // Each reply's bad addresses were refused by the filter, by reason.
    const rejected = t.peerList.counts().rejected;
    expect(rejected.unspecified).toBeGreaterThanOrEqual(2);
    expect(rejected.multicast).toBeGreaterThanOrEqual(3);
    expect(rejected['privileged-port']).toBeGreaterThanOrEqual(1);
    expect(rejected.self).toBeGreaterThanOrEqual(1);
    // Two minutes, short of peers the whole time: one regular announce a minute (it was one a second).
    expect(events[0]).toBe('started');
    const regular = events.filter((e) => e === 'none').length;
    expect(regular).toBeGreaterThanOrEqual(1);
    expect(regular).toBeLessThanOrEqual(2);
  });

  test('a tracker peer that drops us is dialled again after the backoff (15 s), not at the next announce', async () => {
    const dir = makeTempDir('ml-redial-dropped-');
    const payload = await makePayload(join(dir, 'seed'), { name: 'slow.bin', size: 8 * 1024 * 1024 });
    const { url, events, answer } = await scriptedTracker();
    const torrent = makeTorrent(payload.path, { pieceLength: 64 * 1024, trackers: [url] });
    const seeder = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
    sessions.push(seeder);
    const seedPort = await seeder.listen();
    const seeding = await seeder.add(torrent.bytes, { savePath: payload.saveDir, noTrackers: true });
    answer(Buffer.from(encode({ interval: 1800, peers: compact([['127.0.0.1', seedPort]], 6) })));

    // The leecher's limit is on its ManualClock: while time stands still it cannot finish.
    const clock = new ManualClock(Date.now());
    const leecher = new Session({ portRange: [0, 0], bind: '127.0.0.1', clock, downloadLimit: 64 * 1024 });
    sessions.push(leecher);
    await leecher.listen();
    const dialled = recordDials(leecher);
    const dials = (): number => dialled.filter((d) => d === `127.0.0.1:${seedPort}`).length;
    const t = await leecher.add(torrent.bytes, { savePath: join(dir, 'out') });
    const until = async (cond: () => boolean, what: string): Promise<void> => {
      for (let i = 0; i < 400 && !cond(); i++) await sleep(25);
      if (!cond()) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(t.peerList.counts())}`);
    };
    await until(() => t.stats().peers === 1, 'the tracker peer');
    // The seeder goes away for a moment (its connections close) and comes back.
    await seeding.pause();
    await until(() => t.stats().peers === 0, 'the drop');
    await seeding.resume();
    // Dials start synchronously when the peer list's timer fires inside advance().
    expect(dials()).toBe(1);
    clock.advance(14_999);
    expect(dials()).toBe(1);
    clock.advance(1);
    expect(dials()).toBe(2);
    await until(() => t.stats().peers === 1, 'the redialled peer');
    expect(t.peerList.counts().connected.tracker).toBe(1);
    expect(events).toEqual(['started']); // the tracker was not asked again
    expect(t.state).toBe('downloading');
  });
});

