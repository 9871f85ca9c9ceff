import { randomBytes } from 'node:crypto';
import { Announcer } from './announcer.js';
import { rejectionOf } from './rejection.testutil.js';
import { startBittorrentTracker, startOpentracker, type RunningTracker } from './real-trackers.testutil.js';
import { createTracker } from './tracker.js';
import type { AnnounceRequest, Tracker } from './types.js';
import type { TrackerPeer } from '@mainline/metainfo';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ports = (peers: TrackerPeer[]) => peers.filter((p) => p.ip === '127.0.0.1' || p.ip === '::1').map((p) => p.port);

/** Fresh ids and ports for one swarm. */
function swarm() {
  const infoHash = randomBytes(20);
  const mk = (port: number, left: number) => ({ peerId: randomBytes(20), port, left });
  const base = 20000 + Math.floor(Math.random() * 20000);
  return { infoHash, a: mk(base, 1000), b: mk(base + 1, 0) };
}

/**
 * Two peers announce through their own tracker clients: the second sees the first, the first's
 * next announce sees the second, scrape counts 1 seeder + 1 leecher, and `stopped` removes one.
 */
async function twoPeersSeeEachOther(url: string, infoHash: Buffer, s: ReturnType<typeof swarm>, opts: { peers: boolean }) {
  const ta = createTracker(url, { udp: { timeoutBaseMs: 500, maxRetries: 3 } });
  const tb = createTracker(url, { udp: { timeoutBaseMs: 500, maxRetries: 3 } });
  const req = (p: typeof s.a, event: AnnounceRequest['event']): AnnounceRequest => ({
    infoHash,
    peerId: p.peerId,
    port: p.port,
    uploaded: 0,
    downloaded: 0,
    left: p.left,
    key: 1,
    event,
    numwant: 50,
  });
  try {
    const r1 = await ta.announce(req(s.a, 'started'));
    expect(r1.interval).toBeGreaterThan(0);
    const r2 = await tb.announce(req(s.b, 'started'));
    const r3 = await ta.announce(req(s.a, 'none'));
    if (opts.peers) {
      expect(ports(r2.peers)).toContain(s.a.port);
      expect(ports(r3.peers)).toContain(s.b.port);
    }
    expect(r3.complete).toBe(1);
    expect(r3.incomplete).toBe(1);
    const files = await ta.scrape([infoHash]);
    expect(files.get(hex(infoHash))).toMatchObject({ complete: 1, incomplete: 1 });
    await tb.announce(req(s.b, 'stopped'));
    const after = await ta.scrape([infoHash]);
    expect(after.get(hex(infoHash))).toMatchObject({ complete: 0, incomplete: 1 });
  } finally {
    ta.close();
    tb.close();
  }
}

/** Two Announcers on the real system clock: B's peers event names A; both stop cleanly. */
async function announcersMeet(url: string, infoHash: Buffer, s: ReturnType<typeof swarm>) {
  const make = (p: typeof s.a) =>
    new Announcer({
      infoHash,
      peerId: p.peerId,
      port: p.port,
      announce: url,
      stats: () => ({ uploaded: 0, downloaded: 0, left: p.left, numPeers: 0 }),
      udp: { timeoutBaseMs: 500, maxRetries: 3 },
    });
  const a = make(s.a);
  const b = make(s.b);
  const errors: string[] = [];
  for (const x of [a, b]) x.on('error', (e) => errors.push(e.message));
  const announced = (x: Announcer) => new Promise<void>((r) => x.on('announce', () => r()));
  a.start();
  await announced(a);
  const gotPeers = new Promise<TrackerPeer[]>((r) => b.on('peers', r));
  b.start();
  expect(ports(await gotPeers)).toContain(s.a.port);
  await new Promise((r) => setImmediate(r));
  expect(b.nextAnnounceAt).toBeGreaterThan(Date.now());
  await Promise.all([a.stop(), b.stop()]);
  expect(errors).toEqual([]);
}

describe('against opentracker (Debian build, whitelist mode)', () => {
  let ot: RunningTracker;
  const s = swarm();
  const s2 = swarm();
  const s3 = swarm();
  const s5 = swarm();
  beforeAll(async () => {
    ot = await startOpentracker([s.infoHash, s2.infoHash, s3.infoHash, s5.infoHash].map(hex));
  });
  afterAll(() => ot?.stop());

  it('HTTP: two peers see each other, scrape counts them', async () => {
    await twoPeersSeeEachOther(`http://127.0.0.1:${ot.http}/announce`, s.infoHash, s, { peers: true });
  });

  it('UDP: two peers see each other, scrape counts them', async () => {
    await twoPeersSeeEachOther(`udp://127.0.0.1:${ot.udp}`, s2.infoHash, s2, { peers: true });
  });

  it('refuses a torrent that is not whitelisted with its failure reason', async () => {
    const t: Tracker = createTracker(`http://127.0.0.1:${ot.http}/announce`);
    const e = await rejectionOf(t
      .announce({ infoHash: randomBytes(20), peerId: randomBytes(20), port: 1, uploaded: 0, downloaded: 0, left: 0, key: 0 })
      );
    expect(e.message).toMatch(/rejected by tracker: Requested download is not authorized/);
  });

  it('Announcer falls through a dead UDP tier to opentracker over HTTP and promotes nothing across tiers', async () => {
    const s4 = s3; // same whitelisted torrent, new peer ids
    const dead = `udp://127.0.0.1:${ot.http}`; // a TCP-only port: UDP packets go nowhere
    const live = `http://127.0.0.1:${ot.http}/announce`;
    const a = new Announcer({
      infoHash: s4.infoHash,
      peerId: randomBytes(20),
      port: 40001,
      announceList: [[dead], [live]],
      stats: () => ({ uploaded: 0, downloaded: 0, left: 5, numPeers: 0 }),
      udp: { timeoutBaseMs: 50, maxRetries: 1 },
    });
    const got = new Promise<string>((r) => a.on('announce', (_res, info) => r(info.url)));
    a.start();
    expect(await got).toBe(live);
    expect(a.tiers).toEqual([[dead], [live]]);
    await a.stop();
  });

  it('Announcer over HTTP: peers are handed over', async () => {
    await announcersMeet(`http://127.0.0.1:${ot.http}/announce`, s3.infoHash, s3);
  });

  it('scrapeEach: one tracker per tier, HTTP by the announce→scrape rule and UDP; counts and announce start kept per tracker', async () => {
    const http = `http://127.0.0.1:${ot.http}/announce`;
    const udp = `udp://127.0.0.1:${ot.udp}`;
    const noScrape = `http://127.0.0.1:${ot.http}/tracker`; // last segment is not announce…: no scrape URL
    const make = (p: typeof s5.a, announceList: string[][]) =>
      new Announcer({ infoHash: s5.infoHash, peerId: p.peerId, port: p.port, announceList, stats: () => ({ uploaded: 0, downloaded: 0, left: p.left, numPeers: 0 }), udp: { timeoutBaseMs: 500, maxRetries: 2 } });
    const seed = make(s5.b, [[http]]);
    const seedUp = new Promise<void>((r) => seed.on('announce', () => r()));
    seed.start();
    await seedUp;
    const a = make(s5.a, [[http], [udp], [noScrape]]);
    const up = new Promise<void>((r) => a.on('announce', () => r()));
    a.start();
    await up;
    await a.scrapeEach();
    const byUrl = Object.fromEntries(a.trackerStatus().map((t) => [t.url, t]));
    expect(byUrl[http]!.lastScrape?.result).toEqual({ seeders: 1, leechers: 1, downloaded: expect.any(Number) });
    expect(byUrl[udp]!.lastScrape?.result).toEqual({ seeders: 1, leechers: 1, downloaded: expect.any(Number) });
    expect(byUrl[noScrape]!.lastScrape).toBeUndefined();
    expect(byUrl[http]!.seeders).toBe(1);
    expect(byUrl[http]!.leechers).toBe(1);
    expect(byUrl[http]!.lastAnnounceStartAt).toBeLessThanOrEqual(byUrl[http]!.lastAnnounceAt!);
    await Promise.all([a.stop(), seed.stop()]);
  });
});

describe('against the npm bittorrent-tracker server', () => {
  let bt: RunningTracker;
  beforeAll(async () => {
    bt = await startBittorrentTracker();
  });
  afterAll(() => bt?.stop());

  it('HTTP: two peers see each other, scrape counts them', async () => {
    const s = swarm();
    await twoPeersSeeEachOther(`http://127.0.0.1:${bt.http}/announce`, s.infoHash, s, { peers: true });
  });

  it('UDP over IPv4: two peers see each other, scrape counts them', async () => {
    const s = swarm();
    await twoPeersSeeEachOther(`udp://127.0.0.1:${bt.udp}`, s.infoHash, s, { peers: true });
  });

  it('UDP over IPv6: announce counts and scrape (this server sends only IPv4 peers over UDP)', async () => {
    const s = swarm();
    await twoPeersSeeEachOther(`udp://[::1]:${bt.udp6}`, s.infoHash, s, { peers: false });
  });

  it('Announcer over UDP: peers are handed over', async () => {
    const s = swarm();
    await announcersMeet(`udp://127.0.0.1:${bt.udp}`, s.infoHash, s);
  });
});
