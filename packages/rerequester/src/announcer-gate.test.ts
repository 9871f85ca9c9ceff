// Announcers of one session share a RequestGate: a few tracker requests at a time, in turn.
import type { ScrapeEntry } from '@mainline/metainfo';
import { ManualClock } from '@mainline/rate';
import { Announcer } from './announcer.js';
import { TrackerError } from './errors.js';
import { RequestGate } from './gate.js';
import { hexOf, type AnnounceRequest, type AnnounceResponse, type RequestOptions, type Tracker } from './types.js';

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};
const SEC = 1000;
const peerId = new Uint8Array(20).fill(2);

/** One tracker for every announcer: answers each request `delayMs` later on the clock (or when told), counting those open at once. */
class SlowTracker implements Tracker {
  readonly url = 'http://tracker/announce';
  open = 0;
  mostOpen = 0;
  /** info-hash byte 0 and event of every request, in the order they arrived. */
  heard: string[] = [];
  delayMs = SEC;
  constructor(readonly clock: ManualClock) {}

  #answer<T>(what: string, value: T, signal: AbortSignal | undefined): Promise<T> {
    this.heard.push(what);
    this.open++;
    this.mostOpen = Math.max(this.mostOpen, this.open);
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.open--;
        resolve(value);
      }, this.delayMs);
      signal?.addEventListener('abort', () => {
        this.clock.clearTimeout(timer);
        this.open--;
        reject(new TrackerError('ABORTED', 'request cancelled', this.url));
      });
    });
  }

  announce(req: AnnounceRequest, opts: RequestOptions = {}): Promise<AnnounceResponse> {
    return this.#answer(`${req.infoHash[0]}:${req.event ?? 'none'}`, { peers: [], droppedPeers: 0, interval: 1800 }, opts.signal);
  }

  scrape(hashes: readonly Uint8Array[], opts: RequestOptions = {}): Promise<Map<string, ScrapeEntry>> {
    const h = hashes[0]!;
    return this.#answer(`${h[0]}:scrape`, new Map([[hexOf(h), { infoHash: h, complete: 1, incomplete: 2, downloaded: 3 }]]), opts.signal);
  }

  close(): void {}
}

/** Stops them all, moving the clock on while their stopped announces are answered. */
async function stopAll(clock: ManualClock, announcers: Announcer[]): Promise<void> {
  let done = false;
  const all = Promise.all(announcers.map((a) => a.stop())).then(() => (done = true));
  for (let i = 0; i < 10 && !done; i++) {
    await flush();
    clock.advance(SEC);
  }
  await all;
}

function world(limit: number, count: number) {
  const clock = new ManualClock(1_000_000);
  const gate = new RequestGate({ limit, clock, maxHoldMs: 60 * SEC });
  const tracker = new SlowTracker(clock);
  const announcers = Array.from(
    { length: count },
    (_, i) =>
      new Announcer({
        infoHash: new Uint8Array(20).fill(i),
        peerId,
        port: 6881,
        announce: tracker.url,
        stats: () => ({ uploaded: 0, downloaded: 0, left: 0, numPeers: 30 }),
        clock,
        gate,
        createTracker: () => tracker,
      }),
  );
  return { clock, gate, tracker, announcers };
}

describe('Announcers sharing a RequestGate', () => {
  it('ten started together: never more than the limit asked at once, all announced, in the order they started', async () => {
    const { clock, gate, tracker, announcers } = world(3, 10);
    for (const a of announcers) a.start();
    await flush();
    expect([tracker.open, gate.waiting]).toEqual([3, 7]);
    // The ones waiting are not "announcing" yet: their tracker is not being asked.
    expect(announcers[9]!.trackerStatus()[0]!.state).toBe('not-tried');
    for (let s = 0; s < 4 && announcers.some((a) => a.lastAnnounceAt === undefined); s++) {
      clock.advance(SEC);
      await flush();
    }
    expect(announcers.every((a) => a.lastAnnounceAt !== undefined)).toBe(true);
    expect(tracker.mostOpen).toBe(3);
    expect(tracker.heard).toEqual(announcers.map((_, i) => `${i}:started`));
    await stopAll(clock, announcers);
  });

  it('without a gate the same ten ask all at once (what the gate is for)', async () => {
    const clock = new ManualClock(1_000_000);
    const tracker = new SlowTracker(clock);
    const announcers = Array.from({ length: 10 }, (_, i) => new Announcer({ infoHash: new Uint8Array(20).fill(i), peerId, port: 6881, announce: tracker.url, stats: () => ({ uploaded: 0, downloaded: 0, left: 0, numPeers: 30 }), clock, createTracker: () => tracker }));
    for (const a of announcers) a.start();
    await flush();
    expect(tracker.open).toBe(10);
    clock.advance(SEC);
    await flush();
    await stopAll(clock, announcers);
  });

  it('a torrent stopped while it waits leaves the queue: its started is never sent, nor a stopped', async () => {
    const { clock, gate, tracker, announcers } = world(1, 3);
    for (const a of announcers) a.start();
    await flush();
    expect(gate.waiting).toBe(2);
    await announcers[1]!.stop(); // resolves at once: nothing in flight, nothing to say
    expect(gate.waiting).toBe(1);
    clock.advance(SEC);
    await flush();
    clock.advance(SEC);
    await flush();
    expect(tracker.heard).toEqual(['0:started', '2:started']);
    expect(announcers[1]!.trackerStatus()[0]!.state).toBe('not-tried');
    expect(announcers[1]!.consecutiveFailures).toBe(0);
    await stopAll(clock, announcers);
  });

  it('a stopped announce goes out at once, past a full gate and its queue', async () => {
    const { clock, gate, tracker, announcers } = world(1, 3);
    const [first, second, third] = announcers as [Announcer, Announcer, Announcer];
    first.start();
    await flush();
    clock.advance(SEC); // first has announced
    await flush();
    tracker.delayMs = 60 * SEC; // the tracker slows down: the gate fills and a queue forms
    second.start();
    third.start();
    await flush();
    expect([gate.holding, gate.waiting]).toEqual([1, 1]);
    tracker.delayMs = 100;
    const stopped = first.stop();
    await flush();
    expect(tracker.heard).toEqual(['0:started', '1:started', '0:stopped']);
    clock.advance(100);
    await stopped;
    expect(first.state).toBe('stopped');
    await stopAll(clock, announcers);
  });

  it('scrapes wait their turn too, and stop() takes a waiting scrape out of the queue', async () => {
    const { clock, gate, tracker, announcers } = world(1, 3);
    const scrapes = announcers.map((a) => a.scrapeEach());
    await flush();
    expect([tracker.open, gate.waiting]).toEqual([1, 2]);
    await announcers[1]!.stop();
    expect(gate.waiting).toBe(1);
    clock.advance(SEC);
    await flush();
    clock.advance(SEC);
    await Promise.all(scrapes);
    expect(tracker.heard).toEqual(['0:scrape', '2:scrape']);
    expect(announcers[0]!.trackerStatus()[0]!.lastScrape?.result).toEqual({ seeders: 1, leechers: 2, downloaded: 3 });
    // The scrape stop() cancelled is no failure of the tracker's.
    expect(announcers[1]!.trackerStatus()[0]!.lastScrape).toBeUndefined();
    // Its start time is when it went out, not when it was asked for.
    expect(announcers[2]!.trackerStatus()[0]!.lastScrape).toMatchObject({ startAt: 1_000_000 + SEC, at: 1_000_000 + 2 * SEC });
  });
});
