import { randomBytes } from 'node:crypto';
import type { ScrapeEntry, TrackerPeer } from '@mainline/metainfo';
import { systemClock, type Clock, type TimerHandle } from '@mainline/rate';
import { Emitter } from './emitter.js';
import { TrackerError, toTrackerError, type TrackerErrorCode } from './errors.js';
import { grown } from './grow.js';
import type { RequestGate } from './gate.js';
import type { HttpTrackerOptions } from './http.js';
import { TrackerTiers } from './tiers.js';
import { createTracker } from './tracker.js';
import { checkHash, hexOf, type AnnounceEvent, type AnnounceRequest, type AnnounceResponse, type RequestAttempt, type Tracker } from './types.js';
import type { UdpTrackerOptions } from './udp.js';

/** What the announcer asks the session for at each announce. Counts are bytes. */
export interface AnnouncerStats {
  uploaded: number;
  downloaded: number;
  left: number;
  /** Peer connections open now. */
  numPeers: number;
}

export interface AnnouncerOptions {
  infoHash: Uint8Array;
  peerId: Uint8Array;
  /** Our listening port. */
  port: number;
  /** The metainfo `announce` URL (ignored when `announceList` has URLs, BEP 12). */
  announce?: string;
  /** BEP 12 `announce-list` tiers. */
  announceList?: readonly (readonly string[])[];
  /** Read at each announce. May throw: that announce then fails with an error event. */
  stats: () => AnnouncerStats;
  clock?: Clock;
  /** RNG in [0, 1) for the tier shuffle. */
  random?: () => number;
  /** The per-session `key` (uint32); random by default. */
  key?: number;
  /** Address to report to trackers (`ip`). */
  ip?: string;
  /** `numwant` while we want peers (default 50). */
  numwant?: number;
  /** Fewer peers than this → re-announce every check period (mainline min_peers: 20). */
  minPeers?: number;
  /** At this many peers, ask for none (`numwant=0`; mainline max_initiate: 35). */
  maxPeers?: number;
  /** Check period when the tracker sends no `min interval` (mainline rerequest_interval: 300 s). */
  rerequestIntervalMs?: number;
  /** Re-announce period when the tracker sends no `interval` (mainline: 1800 s). */
  announceIntervalMs?: number;
  /**
   * Floor of the tracker's `interval` (default 300 s, libtorrent's min_announce_interval): a
   * tracker that asks for announces every second gets one every 5 minutes. Lower only in tests.
   */
  intervalFloorMs?: number;
  /**
   * Floor of the tracker's `min interval`, the shortest wait between two announces while short of
   * peers or after reannounce() (default 60 s). Lower only in tests.
   */
  minIntervalFloorMs?: number;
  /** First retry delay after a failed announce; doubles per failure (default 30 s). */
  retryBaseMs?: number;
  /** Longest retry delay (default 30 min). */
  retryMaxMs?: number;
  /** Deadline for the `stopped` announce on stop() (default 5 s). */
  stopTimeoutMs?: number;
  /** HTTP tracker options (timeout default 60 s as in mainline, size cap, redirects). */
  http?: HttpTrackerOptions;
  /** UDP tracker options (retransmission base and count). */
  udp?: UdpTrackerOptions;
  /** Makes the Tracker for a URL (default {@link createTracker}); for tests and custom transports. */
  createTracker?: (url: string) => Tracker;
  /**
   * Where every announce and scrape waits for a slot: a session gives all its announcers one
   * {@link RequestGate}, so that starting 900 torrents does not ask the tracker 900 times at once.
   * None: no limit.
   */
  gate?: RequestGate;
}

/** Information sent with every announce-related event. */
export interface AnnounceInfo {
  /** The tracker that answered (for errors: empty unless one tracker was tried). */
  url: string;
  event: AnnounceEvent;
}

export interface AnnouncerEvents {
  /** New peers from a tracker reply, handed over at once (our own peer id filtered out). */
  peers: (peers: TrackerPeer[], info: AnnounceInfo) => void;
  /** Every successful announce. */
  announce: (response: AnnounceResponse, info: AnnounceInfo) => void;
  /** A tracker's `warning message`. */
  warning: (message: string, info: AnnounceInfo) => void;
  /** A failed announce or scrape: never thrown, always reported here; `retryInMs` when one is scheduled. */
  error: (error: TrackerError, info: AnnounceInfo & { consecutiveFailures: number; retryInMs?: number }) => void;
}

export type AnnouncerState = 'idle' | 'running' | 'stopping' | 'stopped';

/** Default floor of a tracker's `interval`: libtorrent's min_announce_interval (5 minutes). */
export const DEFAULT_INTERVAL_FLOOR_MS = 300_000;
/** Default floor of a tracker's `min interval` (1 minute). */
export const DEFAULT_MIN_INTERVAL_FLOOR_MS = 60_000;

type Settings = Required<
  Pick<
    AnnouncerOptions,
    | 'numwant'
    | 'minPeers'
    | 'maxPeers'
    | 'rerequestIntervalMs'
    | 'announceIntervalMs'
    | 'intervalFloorMs'
    | 'minIntervalFloorMs'
    | 'retryBaseMs'
    | 'retryMaxMs'
    | 'stopTimeoutMs'
  >
>;

/** The defaults, one object for every announcer that changes none of them (most of a session's). */
const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  numwant: 50,
  minPeers: 20,
  maxPeers: 35,
  rerequestIntervalMs: 300_000,
  announceIntervalMs: 1_800_000,
  intervalFloorMs: DEFAULT_INTERVAL_FLOOR_MS,
  minIntervalFloorMs: DEFAULT_MIN_INTERVAL_FLOOR_MS,
  retryBaseMs: 30_000,
  retryMaxMs: 1_800_000,
  stopTimeoutMs: 5_000,
});
const SETTING_KEYS = Object.keys(DEFAULT_SETTINGS) as (keyof Settings)[];

/** The options' settings over the defaults; the shared defaults object when none is set. */
function settingsOf(options: AnnouncerOptions): Readonly<Settings> {
  if (SETTING_KEYS.every((k) => options[k] === undefined)) return DEFAULT_SETTINGS;
  const o = { ...DEFAULT_SETTINGS };
  for (const k of SETTING_KEYS) {
    const v = options[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new TrackerError('BAD_ARGUMENT', `${k} must be a number ≥ 0`);
    o[k] = v;
  }
  return o;
}

/** Where one tracker stands: `not-tried` yet, `announcing` now, last announce `working` or `failed`. */
export type TrackerStatusState = 'not-tried' | 'announcing' | 'working' | 'failed';

/** How a tracker's last scrape went. Times are clock ms. */
export interface ScrapeStatus {
  startAt: number;
  at: number;
  /** The counts, or why it failed. */
  result: { seeders: number; leechers: number; downloaded: number } | { error: string; timedOut: boolean };
}

/** One tracker as a UI shows it (see {@link Announcer.trackerStatus}). Times are clock ms. */
export interface TrackerStatus {
  url: string;
  /** Its tier (0 = first), in BEP 12 order. */
  tier: number;
  state: TrackerStatusState;
  /** Its last successful announce, and how many peers that reply had. */
  lastAnnounceAt: number | undefined;
  lastPeers: number | undefined;
  /** Its last failure, until a success clears it (`message` without the URL). */
  lastError: { code: TrackerErrorCode; message: string; at: number } | undefined;
  /** Failed announces to it in a row. */
  failures: number;
  /** When its last announce (the one in flight, or the last finished) started. */
  lastAnnounceStartAt: number | undefined;
  /** Seeders / leechers in its last announce reply, when it said. */
  seeders: number | undefined;
  leechers: number | undefined;
  /** Its last scrape (see {@link Announcer.scrapeEach}), if one was made. */
  lastScrape: ScrapeStatus | undefined;
  /**
   * While `announcing`: the try in flight (UDP resends on silence: 1 of 3, 2 of 3...), when the
   * request started and when this try stops waiting for an answer.
   */
  attempt: { number: number; max: number; since: number; deadline: number } | undefined;
}

/**
 * mainline's Rerequester for one torrent: announces `started` on start, re-announces every
 * `interval` (and every check period while short of peers, never faster than `min interval`),
 * `completed` once when the download finishes, and `stopped` on stop(), across BEP 12 tiers of
 * HTTP and UDP trackers. Failures are `error` events followed by an exponential back-off.
 */
export class Announcer extends Emitter<AnnouncerEvents> {
  // A session holds one announcer per torrent, most of them idle for hours: the fields below are
  // kept small (shared settings, arrays instead of Maps, nothing made before it is needed).
  readonly #o: Readonly<Settings>;
  readonly #infoHash: Uint8Array;
  readonly #peerId: Uint8Array;
  #port: number;
  readonly #ip: string | undefined;
  readonly #stats: () => AnnouncerStats;
  readonly #clock: Clock;
  readonly #tiers: TrackerTiers;
  /** The options trackers are made with (the caller's objects, often shared by a whole session). */
  readonly #http: HttpTrackerOptions | undefined;
  readonly #udp: UdpTrackerOptions | undefined;
  readonly #createTracker: ((url: string) => Tracker) | undefined;
  readonly #gate: RequestGate | undefined;
  /** The trackers made so far, by URL: url, tracker, url, tracker... (a torrent has a few). */
  #trackers: (string | Tracker)[] | undefined;
  /** Made at the first tracker that sends one (few do). */
  #trackerIds: Map<string, Uint8Array> | undefined;
  /** What trackerStatus() reports, for each tracker announced to so far. */
  #status: TrackerStatus[] | undefined;
  /** Events still to deliver: `started` first, then `completed`. */
  #startedPending = false;
  #completedPending = false;
  /** The scrapes in flight or waiting for a slot (stop() cancels them); none most of the time. */
  #scraping: Set<AbortController> | undefined;
  /** The per-session key sent with every announce. */
  readonly key: number;

  #state: AnnouncerState = 'idle';
  #timer: TimerHandle | undefined;
  #nextAt: number | undefined;
  #inFlight: Promise<void> | undefined;
  #inFlightAbort: AbortController | undefined;
  #again = false;
  /** reannounce() was asked for: the next timer announces whatever the peer count. */
  #forced = false;
  #stopPromise: Promise<void> | undefined;
  #completeAtStart = false;
  #completedQueued = false;
  #lastSuccessAt: number | undefined;
  #intervalMs: number | undefined;
  #minIntervalMs: number | undefined;
  #failures = 0;

  constructor(options: AnnouncerOptions) {
    super();
    checkHash('infoHash', options.infoHash);
    checkHash('peerId', options.peerId);
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
      throw new TrackerError('BAD_ARGUMENT', `port must be an integer in 0..65535, got ${String(options.port)}`);
    }
    if (typeof options.stats !== 'function') throw new TrackerError('BAD_ARGUMENT', 'stats must be a function');
    this.#infoHash = options.infoHash;
    this.#peerId = options.peerId;
    this.#port = options.port;
    this.#ip = options.ip;
    this.#stats = options.stats;
    this.#clock = options.clock ?? systemClock;
    this.#tiers = new TrackerTiers(options.announce, options.announceList, options.random);
    this.#http = options.http;
    this.#udp = options.udp;
    this.#createTracker = options.createTracker;
    this.#gate = options.gate;
    this.key = options.key ?? randomBytes(4).readUInt32BE(0);
    this.#o = settingsOf(options);
  }

  /** Tracker tiers in their current order. */
  get tiers(): string[][] {
    return this.#tiers.tiers;
  }

  /**
   * Every tracker, in the order they are tried: state, last answer or error, and the try in
   * flight. Together with {@link nextAnnounceAt} (the next check or retry), what a UI needs to
   * say what the client is trying, what failed and when it tries again.
   */
  trackerStatus(): TrackerStatus[] {
    return this.#tiers.tiers.flatMap((urls, tier) =>
      urls.map((url) => {
        const s = this.#statusIfAny(url);
        const attempt = s?.attempt ? { ...s.attempt } : undefined;
        const lastError = s?.lastError ? { ...s.lastError } : undefined;
        return {
          url,
          tier,
          state: s?.state ?? 'not-tried',
          lastAnnounceAt: s?.lastAnnounceAt,
          lastPeers: s?.lastPeers,
          lastError,
          failures: s?.failures ?? 0,
          attempt,
          lastAnnounceStartAt: s?.lastAnnounceStartAt,
          seeders: s?.seeders,
          leechers: s?.leechers,
          lastScrape: s?.lastScrape ? { ...s.lastScrape, result: { ...s.lastScrape.result } } : undefined,
        };
      }),
    );
  }

  #statusIfAny(url: string): TrackerStatus | undefined {
    return this.#status?.find((s) => s.url === url);
  }

  #statusOf(url: string): TrackerStatus {
    let s = this.#statusIfAny(url);
    if (!s) {
      s = { url, tier: 0, state: 'not-tried', lastAnnounceAt: undefined, lastPeers: undefined, lastError: undefined, failures: 0, attempt: undefined, lastAnnounceStartAt: undefined, seeders: undefined, leechers: undefined, lastScrape: undefined };
      this.#status = grown(this.#status, s);
    }
    return s;
  }

  /** Waits for the session's tracker slot (if there is a gate), runs `request` in it. */
  #gated<T>(request: () => Promise<T>, signal: AbortSignal | undefined, urgent = false): Promise<T> {
    return this.#gate ? this.#gate.run(request, signal, urgent) : request();
  }

  /** One announce to one tracker (in a slot of the gate), recorded in its status. */
  #announceTo(url: string, req: AnnounceRequest, signal: AbortSignal): Promise<AnnounceResponse> {
    return this.#gated(() => this.#announceNow(url, req, signal), signal, req.event === 'stopped');
  }

  async #announceNow(url: string, req: AnnounceRequest, signal: AbortSignal): Promise<AnnounceResponse> {
    if (signal.aborted) throw new TrackerError('ABORTED', 'request cancelled', url);
    const status = this.#statusOf(url);
    const before = status.state;
    status.state = 'announcing';
    const since = this.#clock.now();
    status.lastAnnounceStartAt = since;
    const onAttempt = (a: RequestAttempt): void => {
      status.attempt = { number: a.attempt, max: a.maxAttempts, since, deadline: this.#clock.now() + a.timeoutMs };
    };
    try {
      const response = await this.#tracker(url).announce(req, { signal, onAttempt });
      status.state = 'working';
      status.lastAnnounceAt = this.#clock.now();
      status.lastPeers = response.peers.length;
      status.seeders = response.complete;
      status.leechers = response.incomplete;
      status.lastError = undefined;
      status.failures = 0;
      return response;
    } catch (e) {
      if (signal.aborted) {
        status.state = before; // cancelled by stop(): not the tracker's failure
      } else {
        const err = toTrackerError(e, url);
        status.state = 'failed';
        status.lastError = { code: err.code, message: err.detail, at: this.#clock.now() };
        status.failures++;
      }
      throw e;
    } finally {
      status.attempt = undefined;
    }
  }

  /** When the next scheduled check runs (clock ms), if one is scheduled. */
  get nextAnnounceAt(): number | undefined {
    return this.#nextAt;
  }

  /** The re-announce period in use (tracker `interval` floored, or the default). */
  get intervalMs(): number {
    const interval = this.#intervalMs ?? this.#o.announceIntervalMs;
    return Math.max(interval, this.#minIntervalMs ?? 0);
  }

  /** The check period in use while short of peers (tracker `min interval` floored, or rerequestIntervalMs). */
  get checkPeriodMs(): number {
    return this.#minIntervalMs ?? this.#o.rerequestIntervalMs;
  }

  get consecutiveFailures(): number {
    return this.#failures;
  }

  /** Clock time of the last successful announce. */
  get lastAnnounceAt(): number | undefined {
    return this.#lastSuccessAt;
  }

  get state(): AnnouncerState {
    return this.#state;
  }

  /** Announces `started` now and begins the schedule. A second call does nothing. */
  start(): void {
    if (this.#state !== 'idle') return;
    this.#state = 'running';
    try {
      this.#completeAtStart = this.#stats().left === 0;
    } catch {
      this.#completeAtStart = false;
    }
    this.#startedPending = true;
    this.#kick();
  }

  /**
   * The download just finished: announce `completed` (once; never when the data was complete at
   * start). Queued behind a `started` not yet delivered.
   */
  completed(): void {
    if (this.#state !== 'running' || this.#completeAtStart || this.#completedQueued) return;
    this.#completedQueued = true;
    this.#completedPending = true;
    this.#kick();
  }

  /**
   * Announce as soon as the tracker allows (e.g. the user asked for more peers): now, or when the
   * tracker's `min interval` since the last announce has passed.
   */
  reannounce(): void {
    if (this.#state !== 'running') return;
    const wait = (this.#lastSuccessAt ?? -Infinity) + (this.#minIntervalMs ?? 0) - this.#clock.now();
    if (wait <= 0 || this.#inFlight) {
      this.#kick();
      return;
    }
    this.#forced = true;
    if (this.#nextAt === undefined || this.#nextAt > this.#clock.now() + wait) this.#schedule(wait);
  }

  /**
   * Our listening port changed (the user moved it while running): trackers hear the new one at
   * once, whatever their `min interval` (peers they hand out would dial a closed port otherwise),
   * as Transmission re-announces on a port change.
   * @throws TrackerError BAD_ARGUMENT for a port outside 0..65535
   */
  setPort(port: number): void {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TrackerError('BAD_ARGUMENT', `port must be an integer in 0..65535, got ${String(port)}`);
    if (port === this.#port) return;
    this.#port = port;
    this.#kick();
  }

  /**
   * Stops the schedule, cancels an announce in flight, and (if a tracker ever answered) announces
   * `stopped` within stopTimeoutMs. Never rejects; a failure is an `error` event.
   */
  stop(): Promise<void> {
    if (this.#stopPromise) return this.#stopPromise;
    const wasRunning = this.#state === 'running';
    this.#state = 'stopping';
    this.#clearTimer();
    this.#stopPromise = (async () => {
      // One deadline bounds everything: waiting for the cancelled announce and the stopped one.
      const ac = new AbortController();
      let expired!: () => void;
      const deadlinePassed = new Promise<void>((r) => (expired = r));
      const deadline = this.#clock.setTimeout(() => {
        ac.abort();
        expired();
      }, this.#o.stopTimeoutMs);
      try {
        this.#inFlightAbort?.abort();
        for (const scrape of this.#scraping ?? []) scrape.abort();
        this.#scraping = undefined;
        await Promise.race([this.#inFlight, deadlinePassed]);
        if (wasRunning && this.#lastSuccessAt !== undefined && !ac.signal.aborted) {
          await Promise.race([this.#announceOnce('stopped', ac.signal), deadlinePassed]);
        }
      } finally {
        this.#clock.clearTimeout(deadline);
        this.#state = 'stopped';
        for (const t of this.#trackers ?? []) if (typeof t !== 'string') t.close();
        this.#trackers = undefined;
      }
    })();
    return this.#stopPromise;
  }

  /**
   * Scrapes one tracker of each tier (the one that last answered an announce, else the first),
   * as Transmission does, and records each outcome in its status (`lastScrape`). A tracker with
   * no scrape URL (BEP 48 rule) is skipped. Never rejects.
   */
  async scrapeEach(): Promise<void> {
    const picks = this.#tiers.tiers.map((urls) => urls.find((u) => this.#statusIfAny(u)?.state === 'working') ?? urls[0]).filter((u): u is string => u !== undefined);
    await Promise.all(
      picks.map(async (url) => {
        let startAt = this.#clock.now();
        try {
          const entry = await this.#scrapeOne(url, () => (startAt = this.#clock.now()));
          this.#statusOf(url).lastScrape = { startAt, at: this.#clock.now(), result: { seeders: entry.complete, leechers: entry.incomplete, downloaded: entry.downloaded } };
        } catch (e) {
          const err = toTrackerError(e, url);
          if (err.code === 'UNSUPPORTED_PROTOCOL' || err.code === 'ABORTED') return;
          this.#statusOf(url).lastScrape = { startAt, at: this.#clock.now(), result: { error: err.detail, timedOut: err.code === 'TIMEOUT' } };
        }
      }),
    );
  }

  /** Scrapes our torrent on the first tracker that answers; resolves undefined (and emits `error`) on failure. */
  async scrape(): Promise<ScrapeEntry | undefined> {
    try {
      const { value } = await this.#tiers.run((url) => this.#scrapeOne(url));
      return value;
    } catch (e) {
      const err = toTrackerError(e, '');
      if (err.code !== 'ABORTED') this.emit('error', err, { url: err.url, event: 'none', consecutiveFailures: this.#failures });
      return undefined;
    }
  }

  /**
   * Our torrent's counts from `url`, asked in a slot of the gate (`onStart` is told when the
   * request goes out). stop() cancels it, waiting or in flight: TrackerError `ABORTED`.
   */
  async #scrapeOne(url: string, onStart?: () => void): Promise<ScrapeEntry> {
    const ac = new AbortController();
    const scraping = (this.#scraping ??= new Set());
    scraping.add(ac);
    const { signal } = ac;
    try {
      const files = await this.#gated(() => {
        if (signal.aborted) throw new TrackerError('ABORTED', 'request cancelled', url);
        onStart?.();
        return this.#tracker(url).scrape([this.#infoHash], { signal });
      }, signal);
      const entry = files.get(hexOf(this.#infoHash));
      if (!entry) throw new TrackerError('BAD_RESPONSE', 'scrape reply does not list our torrent', url);
      return entry;
    } catch (e) {
      if (signal.aborted) throw new TrackerError('ABORTED', 'scrape cancelled by stop()', url, { cause: e });
      throw e;
    } finally {
      scraping.delete(ac);
      if (scraping.size === 0 && this.#scraping === scraping) this.#scraping = undefined;
    }
  }

  #tracker(url: string): Tracker {
    const trackers = this.#trackers;
    const i = trackers?.indexOf(url) ?? -1;
    if (i >= 0) return trackers![i + 1] as Tracker;
    const t = this.#createTracker ? this.#createTracker(url) : createTracker(url, { http: { clock: this.#clock, ...this.#http }, udp: { clock: this.#clock, ...this.#udp } });
    this.#trackers = grown(trackers, url, t);
    return t;
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#nextAt = undefined;
  }

  #schedule(delayMs: number): void {
    this.#clearTimer();
    const delay = Math.max(0, delayMs);
    this.#nextAt = this.#clock.now() + delay;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#nextAt = undefined;
      this.#onTimer();
    }, delay);
  }

  #needMorePeers(): boolean {
    try {
      return this.#stats().numPeers < this.#o.minPeers;
    } catch {
      return true;
    }
  }

  #onTimer(): void {
    if (this.#state !== 'running') return;
    const last = this.#lastSuccessAt;
    const elapsed = last === undefined ? Infinity : this.#clock.now() - last;
    if (this.#forced || this.#pendingEvent !== 'none' || this.#failures > 0 || elapsed >= this.intervalMs || this.#needMorePeers()) {
      this.#kick();
    } else {
      this.#schedule(Math.min(this.checkPeriodMs, this.intervalMs - elapsed));
    }
  }

  /** Starts an announce now, or right after the one in flight. */
  #kick(): void {
    if (this.#state !== 'running') return;
    if (this.#inFlight) {
      this.#again = true;
      return;
    }
    this.#clearTimer();
    this.#forced = false;
    const ac = new AbortController();
    this.#inFlightAbort = ac;
    const event = this.#pendingEvent;
    this.#inFlight = this.#announceOnce(event, ac.signal).then((ok) => {
      this.#inFlight = undefined;
      this.#inFlightAbort = undefined;
      if (this.#state !== 'running') return;
      if (ok && (this.#pendingEvent !== 'none' || this.#again)) {
        this.#again = false;
        this.#kick();
      } else if (ok) {
        this.#schedule(Math.min(this.checkPeriodMs, this.intervalMs));
      } else {
        this.#again = false;
        this.#schedule(this.#retryDelay());
      }
    });
  }

  /** The oldest event not delivered yet (`started` before `completed`), or `none`. */
  get #pendingEvent(): AnnounceEvent {
    return this.#startedPending ? 'started' : this.#completedPending ? 'completed' : 'none';
  }

  #retryDelay(): number {
    const n = Math.max(0, this.#failures - 1);
    return Math.min(this.#o.retryBaseMs * 2 ** Math.min(n, 30), this.#o.retryMaxMs);
  }

  /** One announce across the tiers; resolves true on success, false on failure (never rejects). */
  async #announceOnce(event: AnnounceEvent, signal: AbortSignal): Promise<boolean> {
    let base: Omit<AnnounceRequest, 'trackerId'>;
    try {
      const s = this.#stats();
      base = {
        infoHash: this.#infoHash,
        peerId: this.#peerId,
        port: this.#port,
        uploaded: s.uploaded,
        downloaded: s.downloaded,
        left: s.left,
        event,
        numwant: event === 'stopped' || s.numPeers >= this.#o.maxPeers ? 0 : this.#o.numwant,
        key: this.key,
      };
      if (this.#ip !== undefined) base.ip = this.#ip;
    } catch (e) {
      return this.#failed(toTrackerError(e, '', 'BAD_ARGUMENT'), event);
    }
    try {
      const { url, value } = await this.#tiers.run(
        async (url) => {
          const trackerId = this.#trackerIds?.get(url);
          const req: AnnounceRequest = trackerId ? { ...base, trackerId } : base;
          return this.#announceTo(url, req, signal);
        },
        undefined,
        () => !signal.aborted,
      );
      this.#succeeded(url, event, value);
      return true;
    } catch (e) {
      if (signal.aborted && event !== 'stopped') return false; // cancelled by stop(): nothing to report
      if (signal.aborted) {
        const msg = `stopped announce got no reply within ${this.#o.stopTimeoutMs} ms`;
        return this.#failed(new TrackerError('TIMEOUT', msg, e instanceof TrackerError ? e.url : '', { cause: e }), event);
      }
      return this.#failed(toTrackerError(e, ''), event);
    }
  }

  #succeeded(url: string, event: AnnounceEvent, r: AnnounceResponse): void {
    this.#failures = 0;
    this.#lastSuccessAt = this.#clock.now();
    // A tracker does not get to make us hammer it (or it) with announces: its intervals are floored.
    if (r.interval !== undefined) this.#intervalMs = Math.max(r.interval * 1000, this.#o.intervalFloorMs);
    if (r.minInterval !== undefined) this.#minIntervalMs = Math.max(r.minInterval * 1000, this.#o.minIntervalFloorMs);
    if (r.trackerId !== undefined) (this.#trackerIds ??= new Map()).set(url, r.trackerId);
    if (event === 'started') this.#startedPending = false;
    else if (event === 'completed' && !this.#startedPending) this.#completedPending = false;
    const info: AnnounceInfo = { url, event };
    this.emit('announce', r, info);
    if (r.warningMessage !== undefined) this.emit('warning', r.warningMessage, info);
    const own = Buffer.from(this.#peerId.buffer, this.#peerId.byteOffset, this.#peerId.length);
    const peers = r.peers.filter((p) => !p.peerId || !own.equals(p.peerId));
    if (peers.length > 0 && event !== 'stopped') this.emit('peers', peers, info);
  }

  #failed(err: TrackerError, event: AnnounceEvent): false {
    this.#failures++;
    const info: AnnounceInfo & { consecutiveFailures: number; retryInMs?: number } = {
      url: err.url,
      event,
      consecutiveFailures: this.#failures,
    };
    if (this.#state === 'running') info.retryInMs = this.#retryDelay();
    this.emit('error', err, info);
    return false;
  }
}
