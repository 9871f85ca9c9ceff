import type { ScrapeEntry } from '@mainline/metainfo';
import { ManualClock } from '@mainline/rate';
import { Announcer, type AnnouncerObserver, type AnnouncerOptions, type AnnouncerStats } from './announcer.js';
import { TrackerError } from './errors.js';
import type { AnnounceRequest, AnnounceResponse, RequestOptions, Tracker } from './types.js';
import { nextMicrotaskError } from './microtask.testutil.js';

const flush = () => new Promise<void>((r) => setImmediate(r));
const SEC = 1000;

type Handler = (req: AnnounceRequest, opts: RequestOptions) => Promise<AnnounceResponse>;

/** A scripted in-memory tracker: records every announce, answers with `handler`. */
class FakeTracker implements Tracker {
  requests: AnnounceRequest[] = [];
  closed = false;
  constructor(
    readonly url: string,
    public handler: Handler = async () => ({ peers: [], droppedPeers: 0 }),
  ) {}
  announce(req: AnnounceRequest, opts: RequestOptions = {}): Promise<AnnounceResponse> {
    this.requests.push(req);
    return this.handler(req, opts);
  }
  async scrape(hashes: readonly Uint8Array[]): Promise<Map<string, ScrapeEntry>> {
    const h = hashes[0]!;
    return new Map([[Buffer.from(h).toString('hex'), { infoHash: h, complete: 3, incomplete: 4, downloaded: 5 }]]);
  }
  close(): void {
    this.closed = true;
  }
  get events(): string[] {
    return this.requests.map((r) => r.event ?? 'none');
  }
}

const infoHash = new Uint8Array(20).fill(1);
const peerId = new Uint8Array(20).fill(2);

function setup(over: Partial<AnnouncerOptions> = {}, trackers: FakeTracker[] = [new FakeTracker('http://a/announce')]) {
  const clock = new ManualClock(1_000_000);
  const stats: AnnouncerStats = { uploaded: 0, downloaded: 0, left: 100, numPeers: 30 };
  const byUrl = new Map(trackers.map((t) => [t.url, t]));
  const a = new Announcer({
    infoHash,
    peerId,
    port: 6881,
    announceList: [trackers.map((t) => t.url)],
    stats: () => stats,
    clock,
    random: () => 0.999,
    key: 0x1234,
    createTracker: (url) => byUrl.get(url)!,
    ...over,
  });
  const log: string[] = [];
  const errors: TrackerError[] = [];
  a.on('error', (e, info) => {
    errors.push(e);
    log.push(`error:${info.event}:${info.consecutiveFailures}`);
  });
  a.on('announce', (_r, info) => log.push(`ok:${info.event}`));
  return { a, clock, stats, log, errors, t: trackers[0]! };
}

describe('Announcer scheduling', () => {
  it('announces started on start, then every interval (peers plenty), with the stats and key', async () => {
    const { a, clock, stats, t } = setup();
    t.handler = async () => ({ peers: [], droppedPeers: 0, interval: 1800 });
    a.start();
    await flush();
    expect(t.events).toEqual(['started']);
    expect(t.requests[0]).toMatchObject({ port: 6881, left: 100, key: 0x1234, numwant: 50 });
    // No min interval: checks every 300 s, but with 30 ≥ 20 peers nothing is sent before 1800 s.
    clock.advance(1799 * SEC);
    await flush();
    expect(t.requests).toHaveLength(1);
    stats.uploaded = 77;
    clock.advance(1 * SEC);
    await flush();
    expect(t.events).toEqual(['started', 'none']);
    expect(t.requests[1]!.uploaded).toBe(77);
    await a.stop();
  });

  it('re-announces every check period while short of peers, never faster than min interval', async () => {
    const { a, clock, stats, t } = setup();
    t.handler = async () => ({ peers: [], droppedPeers: 0, interval: 1000, minInterval: 120 });
    stats.numPeers = 5;
    a.start();
    await flush();
    expect(a.checkPeriodMs).toBe(120 * SEC);
    clock.advance(119 * SEC);
    await flush();
    expect(t.requests).toHaveLength(1);
    clock.advance(1 * SEC);
    await flush();
    expect(t.requests).toHaveLength(2);
    stats.numPeers = 20; // enough now: back to the interval
    clock.advance(120 * SEC);
    await flush();
    expect(t.requests).toHaveLength(2);
    clock.advance(880 * SEC);
    await flush();
    expect(t.requests).toHaveLength(3);
    await a.stop();
  });

  it('floors a hostile tracker\'s interval and min interval of 1 s: 5 minutes, 1 minute while short of peers (it was 52 a minute)', async () => {
    const { a, clock, stats, t } = setup();
    t.handler = async () => ({ peers: [], droppedPeers: 0, interval: 1, minInterval: 1 });
    a.start();
    await flush();
    expect(a.intervalMs).toBe(300 * SEC);
    expect(a.checkPeriodMs).toBe(60 * SEC);
    // Enough peers: the regular interval, floored at 5 minutes.
    for (let s = 0; s < 600; s++) {
      clock.advance(SEC);
      await flush();
    }
    expect(t.requests).toHaveLength(3);
    // Short of peers: once per floored min interval, not once a second.
    stats.numPeers = 0;
    const before = t.requests.length;
    for (let s = 0; s < 600; s++) {
      clock.advance(SEC);
      await flush();
    }
    expect(t.requests.length - before).toBeLessThanOrEqual(10);
    expect(t.requests.length - before).toBeGreaterThanOrEqual(9);
    // reannounce() waits out the floored min interval too.
    const last = t.requests.length;
    a.reannounce();
    await flush();
    expect(t.requests).toHaveLength(last);
    await a.stop();
  });

  it('takes lower floors only when told (tests)', async () => {
    const { a, clock, t } = setup({ intervalFloorMs: 1 * SEC, minIntervalFloorMs: 0 });
    t.handler = async () => ({ peers: [], droppedPeers: 0, interval: 1 });
    a.start();
    await flush();
    for (let s = 0; s < 10; s++) {
      clock.advance(SEC);
      await flush();
    }
    expect(t.requests).toHaveLength(11);
    await a.stop();
  });

  it('uses mainline defaults without tracker intervals: 300 s checks, 1800 s re-announce', async () => {
    const { a, clock, stats, t } = setup();
    a.start();
    await flush();
    expect(a.nextAnnounceAt).toBe(clock.now() + 300 * SEC);
    clock.advance(1500 * SEC);
    await flush();
    expect(t.requests).toHaveLength(1);
    clock.advance(300 * SEC);
    await flush();
    expect(t.requests).toHaveLength(2);
    stats.numPeers = 19;
    clock.advance(300 * SEC);
    await flush();
    expect(t.requests).toHaveLength(3);
    await a.stop();
  });

  it('setPort() announces the new port at once, whatever the min interval', async () => {
    const { a, t } = setup();
    t.handler = async () => ({ peers: [], droppedPeers: 0, interval: 1800, minInterval: 900 });
    a.start();
    await flush();
    a.setPort(51414);
    await flush();
    expect(t.requests.map((r) => r.port)).toEqual([6881, 51414]);
    a.setPort(51414); // the same port: nothing new to say
    await flush();
    expect(t.requests).toHaveLength(2);
    expect(() => a.setPort(70000)).toThrow(TrackerError);
    await a.stop();
  });

  it('reannounce() goes at once, or as soon as min interval allows', async () => {
    const { a, clock, t } = setup();
    a.start();
    await flush();
    a.reannounce(); // no min interval: at once
    await flush();
    expect(t.requests).toHaveLength(2);
    t.handler = async () => ({ peers: [], droppedPeers: 0, interval: 1800, minInterval: 60 });
    a.reannounce();
    await flush();
    expect(t.requests).toHaveLength(3);
    clock.advance(10 * SEC);
    a.reannounce(); // 50 s left of the min interval
    await flush();
    expect(t.requests).toHaveLength(3);
    expect(a.nextAnnounceAt).toBe(clock.now() + 50 * SEC);
    clock.advance(50 * SEC);
    await flush();
    expect(t.requests).toHaveLength(4); // even with plenty of peers
    expect(t.events).toEqual(['started', 'none', 'none', 'none']);
    await a.stop();
  });

  it('asks for no peers at max_initiate (35) connections', async () => {
    const { a, stats, t } = setup();
    stats.numPeers = 35;
    a.start();
    await flush();
    expect(t.requests[0]!.numwant).toBe(0);
    await a.stop();
  });

  it('sends completed once when done, never when complete at start', async () => {
    const { a, t } = setup();
    a.start();
    await flush();
    a.completed();
    a.completed();
    await flush();
    expect(t.events).toEqual(['started', 'completed']);
    await a.stop();
    expect(t.events).toEqual(['started', 'completed', 'stopped']);

    const s2 = setup();
    s2.stats.left = 0;
    s2.a.start();
    await flush();
    s2.a.completed();
    await flush();
    expect(s2.t.events).toEqual(['started']);
    await s2.a.stop();
  });

  it('queues completed behind a started that has not been delivered yet', async () => {
    const { a, t } = setup();
    let release!: () => void;
    t.handler = () => new Promise((r) => (release = () => r({ peers: [], droppedPeers: 0 })));
    a.start();
    a.completed();
    await flush();
    expect(t.events).toEqual(['started']);
    t.handler = async () => ({ peers: [], droppedPeers: 0 });
    release();
    await flush();
    await flush();
    expect(t.events).toEqual(['started', 'completed']);
    await a.stop();
  });

  it('hands new peers over at once, without our own peer id, and reports warnings', async () => {
    const { a, t } = setup();
    t.handler = async () => ({
      peers: [
        { ip: '10.0.0.1', port: 1 },
        { ip: '10.0.0.2', port: 2, peerId },
        { ip: '10.0.0.3', port: 3, peerId: new Uint8Array(20).fill(9) },
      ],
      droppedPeers: 0,
      warningMessage: 'be nice',
    });
    const got: string[] = [];
    const warnings: string[] = [];
    a.on('peers', (peers, info) => got.push(...peers.map((p) => `${p.ip}:${p.port}@${info.url}`)));
    a.on('warning', (m) => warnings.push(m));
    a.start();
    await flush();
    expect(got).toEqual(['10.0.0.1:1@http://a/announce', '10.0.0.3:3@http://a/announce']);
    expect(warnings).toEqual(['be nice']);
    await a.stop();
  });

  it('echoes the tracker id to the tracker that sent it', async () => {
    const { a, clock, t } = setup();
    t.handler = async () => ({ peers: [], droppedPeers: 0, trackerId: Buffer.from('tid-1'), interval: 300 });
    a.start();
    await flush();
    clock.advance(300 * SEC);
    await flush();
    expect(t.requests[0]!.trackerId).toBeUndefined();
    expect(Buffer.from(t.requests[1]!.trackerId!).toString()).toBe('tid-1');
    await a.stop();
  });

  it('turns failures into error events with exponential back-off, and keeps the pending event', async () => {
    const { a, clock, t, log, errors } = setup({ retryBaseMs: 10 * SEC, retryMaxMs: 40 * SEC });
    t.handler = async () => {
      throw new TrackerError('REJECTED', 'rejected by tracker: go away', t.url);
    };
    a.start();
    await flush();
    expect(errors[0]!.message).toBe('http://a/announce: rejected by tracker: go away');
    const times: number[] = [];
    const start = clock.now();
    for (let i = 0; i < 4; i++) {
      clock.advanceTo(a.nextAnnounceAt!);
      times.push(clock.now() - start);
      await flush();
    }
    expect(times).toEqual([10, 30, 70, 110].map((s) => s * SEC));
    expect(t.events.every((e) => e === 'started')).toBe(true);
    expect(log.slice(0, 3)).toEqual(['error:started:1', 'error:started:2', 'error:started:3']);
    t.handler = async () => ({ peers: [], droppedPeers: 0 });
    clock.advanceTo(a.nextAnnounceAt!);
    await flush();
    expect(log.at(-1)).toBe('ok:started');
    expect(a.consecutiveFailures).toBe(0);
    await a.stop();
  });

  it('never throws into the caller: a throwing stats getter or a tracker factory error become events', async () => {
    const clock = new ManualClock();
    const errs: string[] = [];
    const a = new Announcer({
      infoHash,
      peerId,
      port: 1,
      announce: 'wss://tracker.example/announce',
      stats: () => ({ uploaded: 0, downloaded: 0, left: 1, numPeers: 0 }),
      clock,
    });
    a.on('error', (e) => errs.push(`${e.code}: ${e.message}`));
    a.start();
    await flush();
    expect(errs).toEqual(['UNSUPPORTED_PROTOCOL: wss://tracker.example/announce: wss: trackers are not supported']);

    let boom = true;
    const b = new Announcer({
      infoHash,
      peerId,
      port: 1,
      announce: 'http://x/announce',
      clock,
      createTracker: (url) => new FakeTracker(url),
      stats: () => {
        if (boom) throw new Error('stats broke');
        return { uploaded: 0, downloaded: 0, left: 1, numPeers: 0 };
      },
    });
    const errs2: string[] = [];
    b.on('error', (e) => errs2.push(e.message));
    b.start();
    await flush();
    expect(errs2).toEqual(['stats broke']);
    boom = false;
    clock.advanceTo(b.nextAnnounceAt!);
    await flush();
    expect(b.lastAnnounceAt).toBe(clock.now());
    await Promise.all([a.stop(), b.stop()]);
  });

  it('falls through tiers and promotes the tracker that answered', async () => {
    const down = new FakeTracker('http://down/announce', async () => {
      throw new TrackerError('TIMEOUT', 'no reply', 'http://down/announce');
    });
    const up = new FakeTracker('udp://up:1');
    const { a, log } = setup({ announceList: [['http://down/announce', 'udp://up:1']] }, [down, up]);
    a.start();
    await flush();
    expect(log).toEqual(['ok:started']);
    expect(a.tiers).toEqual([['udp://up:1', 'http://down/announce']]);
    await a.stop();
    expect(up.events).toEqual(['started', 'stopped']);
    expect(down.events).toEqual(['started']);
    expect(up.closed && down.closed).toBe(true);
  });

  it('stop() cancels the announce in flight and bounds the stopped announce by its deadline', async () => {
    const { a, clock, t, errors } = setup({ stopTimeoutMs: 5 * SEC });
    a.start();
    await flush();
    let sawAbort = false;
    t.handler = (_req, opts) =>
      new Promise((_res, rej) => {
        opts.signal?.addEventListener('abort', () => {
          sawAbort = true;
          rej(new TrackerError('ABORTED', 'request cancelled', t.url));
        });
      });
    const stopped = a.stop();
    await flush();
    expect(t.events).toEqual(['started', 'stopped']);
    let done = false;
    void stopped.then(() => (done = true));
    clock.advance(4999);
    await flush();
    expect(done).toBe(false);
    clock.advance(1);
    await flush();
    expect(done).toBe(true);
    expect(sawAbort).toBe(true);
    expect(errors.map((e) => e.code)).toEqual(['TIMEOUT']);
    expect(errors[0]!.message).toBe('http://a/announce: stopped announce got no reply within 5000 ms');
    expect(a.state).toBe('stopped');
    expect(clock.pendingTimers).toBe(0);
  });

  it('stop() before any success sends no stopped; start after stop does nothing', async () => {
    const { a, clock, t, errors } = setup();
    t.handler = () => new Promise(() => undefined); // never answers
    a.start();
    await flush();
    let done = false;
    void a.stop().then(() => (done = true));
    // This tracker ignores the abort: stop() still returns by its deadline.
    await flush();
    expect(a.state).toBe('stopping');
    clock.advance(5 * SEC);
    await flush();
    expect(done).toBe(true);
    expect(a.state).toBe('stopped');
    a.start();
    a.completed();
    a.reannounce();
    await flush();
    expect(errors).toEqual([]);
    expect(t.events).toEqual(['started']);
    expect(t.closed).toBe(true);
  });

  it('scrape() resolves the counts or undefined with an error event', async () => {
    const { a, errors } = setup();
    expect(await a.scrape()).toMatchObject({ complete: 3, incomplete: 4, downloaded: 5 });
    const b = setup({}, [new FakeTracker('http://b/announce')]);
    (b.t as { scrape: Tracker['scrape'] }).scrape = async () => new Map();
    expect(await b.a.scrape()).toBeUndefined();
    expect(b.errors[0]!.message).toMatch(/does not list our torrent/);
    expect(errors).toEqual([]);
  });

  it('rejects bad options with a typed error', () => {
    const base = { infoHash, peerId, port: 1, announce: 'http://a', stats: () => ({ uploaded: 0, downloaded: 0, left: 0, numPeers: 0 }) };
    expect(() => new Announcer({ ...base, infoHash: new Uint8Array(3) })).toThrow(TrackerError);
    expect(() => new Announcer({ ...base, port: -1 })).toThrow(/port/);
    expect(() => new Announcer({ ...base, announce: '' })).toThrow(/no tracker URL/);
    expect(() => new Announcer({ ...base, retryBaseMs: -5 })).toThrow(/retryBaseMs/);
  });
});

describe('Announcer.trackerStatus (what a UI shows per tracker)', () => {
  it('says which tracker is being asked, with the try in flight, what failed, and when the next try is', async () => {
    const dead = new FakeTracker('udp://dead/announce');
    const good = new FakeTracker('http://good/announce');
    const { a, clock } = setup({ announceList: [['udp://dead/announce'], ['http://good/announce']] }, [dead, good]);
    expect(a.trackerStatus().map((s) => `${s.tier} ${s.url} ${s.state}`)).toEqual(['0 udp://dead/announce not-tried', '1 http://good/announce not-tried']);
    // The dead tracker resends on silence (as UDP does), then gives up.
    let giveUp!: (e: Error) => void;
    dead.handler = (_req, opts) =>
      new Promise((_, reject) => {
        opts.onAttempt?.({ attempt: 1, maxAttempts: 3, timeoutMs: 15 * SEC });
        giveUp = reject;
      });
    good.handler = async () => ({ peers: [{ ip: '10.0.0.1', port: 1 }, { ip: '10.0.0.2', port: 2 }], droppedPeers: 0 });
    a.start();
    await flush();
    const t0 = clock.now();
    expect(a.trackerStatus()[0]).toMatchObject({ state: 'announcing', attempt: { number: 1, max: 3, since: t0, deadline: t0 + 15 * SEC } });
    clock.advance(15 * SEC);
    giveUp(new TrackerError('TIMEOUT', 'no reply after 3 tries (105000 ms)', 'udp://dead/announce'));
    await flush();
    const [d, g] = a.trackerStatus();
    expect(d).toMatchObject({ state: 'failed', failures: 1, attempt: undefined, lastError: { code: 'TIMEOUT', message: 'no reply after 3 tries (105000 ms)', at: clock.now() } });
    expect(g).toMatchObject({ state: 'working', lastPeers: 2, lastAnnounceAt: clock.now(), failures: 0, lastError: undefined });
    expect(a.nextAnnounceAt).toBeGreaterThan(clock.now());
  });

  it('a failing lone tracker: its error and failure count, cleared by the next success; the retry time is nextAnnounceAt', async () => {
    const { a, clock, t } = setup({ retryBaseMs: 30 * SEC });
    t.handler = async () => {
      throw new TrackerError('NETWORK', 'connect ECONNREFUSED 127.0.0.1:1', t.url);
    };
    a.start();
    await flush();
    expect(a.trackerStatus()[0]).toMatchObject({ state: 'failed', failures: 1, lastError: { code: 'NETWORK', message: 'connect ECONNREFUSED 127.0.0.1:1' } });
    expect(a.nextAnnounceAt).toBe(clock.now() + 30 * SEC);
    clock.advance(30 * SEC);
    await flush();
    expect(a.trackerStatus()[0]).toMatchObject({ failures: 2 });
    expect(a.nextAnnounceAt).toBe(clock.now() + 60 * SEC);
    t.handler = async () => ({ peers: [], droppedPeers: 0 });
    clock.advance(60 * SEC);
    await flush();
    expect(a.trackerStatus()[0]).toMatchObject({ state: 'working', failures: 0, lastError: undefined, lastPeers: 0 });
  });

  it('a stop() that cancels an announce is not counted as the tracker failing', async () => {
    const { a, t } = setup();
    t.handler = (_req, opts) => new Promise((_, reject) => opts.signal?.addEventListener('abort', () => reject(new TrackerError('ABORTED', 'request cancelled', t.url))));
    a.start();
    await flush();
    expect(a.trackerStatus()[0]!.state).toBe('announcing');
    await a.stop();
    expect(a.trackerStatus()[0]).toMatchObject({ state: 'not-tried', failures: 0, lastError: undefined });
  });
});

describe('Announcer observer (one object instead of stats and listeners)', () => {
  it('is asked for the stats and told of announces, warnings, peers and errors, before the listeners', async () => {
    const order: string[] = [];
    const stats: AnnouncerStats = { uploaded: 7, downloaded: 8, left: 9, numPeers: 0 };
    const observer: AnnouncerObserver = {
      stats: () => stats,
      announce: (_r, info) => order.push(`observer announce ${info.event}`),
      warning: (message) => order.push(`observer warning ${message}`),
      peers: (peers, info) => order.push(`observer peers ${peers.length} ${info.url}`),
      error: (e, info) => order.push(`observer error ${e.code} ${info.consecutiveFailures} ${String(info.retryInMs)}`),
    };
    const t = new FakeTracker('http://a/announce', async () => ({ peers: [{ ip: '10.0.0.1', port: 1 }], droppedPeers: 0, warningMessage: 'slow down' }));
    const { a, clock } = setup({ stats: undefined, observer, retryBaseMs: 30 * SEC }, [t]);
    a.on('announce', () => order.push('listener announce'));
    a.on('peers', () => order.push('listener peers'));
    a.start();
    await flush();
    expect(t.requests[0]).toMatchObject({ uploaded: 7, downloaded: 8, left: 9 });
    expect(order).toEqual(['observer announce started', 'listener announce', 'observer warning slow down', 'observer peers 1 http://a/announce', 'listener peers']);
    order.length = 0;
    t.handler = async () => {
      throw new TrackerError('NETWORK', 'connect ECONNREFUSED 127.0.0.1:1', t.url);
    };
    a.reannounce(); // no min interval: at once
    await flush();
    expect(order).toEqual([`observer error NETWORK 1 ${30 * SEC}`]);
    expect(a.nextAnnounceAt).toBe(clock.now() + 30 * SEC);
    await a.stop();
  });

  it('a throwing observer method does not break the schedule; its error surfaces outside', async () => {
    const thrown = nextMicrotaskError();
    const t = new FakeTracker('http://a/announce', async () => ({ peers: [], droppedPeers: 0, interval: 1800 }));
    const observer: AnnouncerObserver = {
      stats: () => ({ uploaded: 0, downloaded: 0, left: 0, numPeers: 30 }),
      announce: (_r, info) => {
        if (info.event === 'started') throw new Error('observer bug');
      },
    };
    const { a, clock } = setup({ stats: undefined, observer }, [t]);
    a.start();
    await flush();
    expect(a.lastAnnounceAt).toBe(clock.now());
    expect(a.nextAnnounceAt).toBe(clock.now() + 300 * SEC);
    expect(await thrown).toEqual(new Error('observer bug'));
    jest.restoreAllMocks();
    await a.stop();
  });

  it('takes stats or an observer, not both, nor neither; a key out of uint32 range is refused', () => {
    const base = { infoHash, peerId, port: 1, announce: 'http://a/announce' };
    const stats = () => ({ uploaded: 0, downloaded: 0, left: 0, numPeers: 0 });
    expect(() => new Announcer({ ...base, stats, observer: { stats } })).toThrow(/not both/);
    expect(() => new Announcer(base)).toThrow(/stats must be a function/);
    expect(() => new Announcer({ ...base, stats, key: 2 ** 32 })).toThrow(/key must be an integer/);
    expect(new Announcer({ ...base, stats, key: 0xfedcba98 }).key).toBe(0xfedcba98);
  });
});
