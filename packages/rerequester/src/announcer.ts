import { randomBytes } from 'node:crypto';
import type { ScrapeEntry, TrackerPeer } from '@mainline/metainfo';
import { systemClock, type Clock, type TimerHandle } from '@mainline/rate';
import { Emitter, safely } from './emitter.js';
import { TrackerError, toTrackerError } from './errors.js';
import { grown } from './grow.js';
import type { RequestGate } from './gate.js';
import type { HttpTrackerOptions } from './http.js';
import { keptError, TrackerRecord, untriedStatus, type TrackerStatus } from './record.js';
import { TrackerTiers } from './tiers.js';
import { createTracker, type TrackerOptions } from './tracker.js';
import { checkHash, hexOf, type AnnounceEvent, type AnnounceRequest, type AnnounceResponse, type RequestAttempt, type Tracker } from './types.js';
import type { UdpTrackerOptions } from './udp.js';

export type { ScrapeStatus, TrackerStatus, TrackerStatusState } from './record.js';

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
  /**
   * Read at each announce. May throw: that announce then fails with an error event. Required
   * unless an `observer` gives them (its `stats()`); not both.
   */
  stats?: () => AnnouncerStats;
  /**
   * Who runs this announcer: asked for the stats, told of peers, announces, warnings and errors
   * (before the `on()` listeners are). One object with its methods on its prototype, where three
   * listeners and a stats function are five closures per torrent; a session passes one per torrent.
   */
  observer?: AnnouncerObserver;
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
  /**
   * Makes the Tracker for a URL (default {@link createTracker}); for tests and custom transports.
   * A tracker is made for the requests of a busy spell and closed when none is left (an idle
   * announcer keeps none), so this is called again at the next announce.
   */
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
  error: (error: TrackerError, info: AnnounceErrorInfo) => void;
}

/** What an `error` event says besides the error. */
export type AnnounceErrorInfo = AnnounceInfo & { consecutiveFailures: number; retryInMs?: number };

/**
 * The one an announcer works for (AnnouncerOptions.observer): its counts at each announce, and the
 * same news as the {@link AnnouncerEvents}, each by the event's name (a method that throws is
 * reported like a listener that does).
 */
export interface AnnouncerObserver extends Partial<AnnouncerEvents> {
  stats(): AnnouncerStats;
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

/**
 * What all the announcers of a session share (settings, peer id, clock, gate, tracker options):
 * one object for all of them, found again by {@link configOf}, where each announcer kept eight fields.
 */
interface Config {
  readonly o: Readonly<Settings>;
  readonly peerId: Uint8Array;
  readonly clock: Clock;
  readonly ip: string | undefined;
  readonly gate: RequestGate | undefined;
  readonly http: HttpTrackerOptions | undefined;
  readonly udp: UdpTrackerOptions | undefined;
  readonly createTracker: ((url: string) => Tracker) | undefined;
  /** The options trackers are made with (with the clock), made at the first tracker. */
  trackerOptions: TrackerOptions | undefined;
}

/** The configs made lately, by peer id (a session's announcers share theirs); a few per peer id. */
const configs = new WeakMap<Uint8Array, Config[]>();
const CONFIGS_PER_PEER_ID = 8;

function sameSettings(a: Readonly<Settings>, b: Readonly<Settings>): boolean {
  return a === b || SETTING_KEYS.every((k) => a[k] === b[k]);
}

/** The shared config for these options: an earlier announcer's when it had the same, else a new one. */
function configOf(options: AnnouncerOptions): Config {
  const o = settingsOf(options);
  const want = { o, peerId: options.peerId, clock: options.clock ?? systemClock, ip: options.ip, gate: options.gate, http: options.http, udp: options.udp, createTracker: options.createTracker };
  const list = configs.get(options.peerId) ?? [];
  const found = list.find((c) => c.clock === want.clock && c.ip === want.ip && c.gate === want.gate && c.http === want.http && c.udp === want.udp && c.createTracker === want.createTracker && sameSettings(c.o, o));
  if (found) return found;
  const c: Config = { ...want, trackerOptions: undefined };
  configs.set(options.peerId, [c, ...list.slice(0, CONFIGS_PER_PEER_ID - 1)]);
  return c;
}

/**
 * What exists only while requests run: the announce in flight, the scrapes, the trackers they use
 * (closed when the spell ends), and from stop() on, its promise. An idle announcer has none.
 */
interface Busy {
  inFlight: Promise<void> | undefined;
  inFlightAbort: AbortController | undefined;
  /** The scrapes in flight or waiting for a slot (stop() cancels them). */
  scraping: Set<AbortController> | undefined;
  /** url, tracker, url, tracker... */
  trackers: (string | Tracker)[] | undefined;
  stop: Promise<void> | undefined;
}

/** The bits of Announcer's #flags. */
const STARTED_PENDING = 1, // `started` still to deliver (first)
  COMPLETED_PENDING = 2, // `completed` still to deliver
  COMPLETE_AT_START = 4, // the data was complete at start: `completed` is never sent
  COMPLETED_QUEUED = 8, // completed() was called (once is enough)
  AGAIN = 16, // another announce right after the one in flight
  FORCED = 32; // reannounce() was asked for: the next timer announces whatever the peer count

/**
 * mainline's Rerequester for one torrent: announces `started` on start, re-announces every
 * `interval` (and every check period while short of peers, never faster than `min interval`),
 * `completed` once when the download finishes, and `stopped` on stop(), across BEP 12 tiers of
 * HTTP and UDP trackers. Failures are `error` events followed by an exponential back-off.
 */
export class Announcer extends Emitter<AnnouncerEvents> {
  // A session holds one announcer per torrent, most of them idle for hours, and each field is 8 B
  // of every one: what a session's announcers share is one Config, what only a busy one needs is
  // in #busy, flags are bits, and a torrent with one tracker keeps its record without an array.
  readonly #c: Config;
  readonly #infoHash: Uint8Array;
  #port: number;
  /** The observer, or the stats function. */
  readonly #host: AnnouncerObserver | (() => AnnouncerStats);
  /**
   * The tiers; a torrent with one tracker (most) keeps only its URL (the tiers' object and arrays
   * cost ~150 B per torrent), and makes the tiers for the moment it uses them.
   */
  readonly #tiers: TrackerTiers | string;
  /** What trackerStatus() reports, for each tracker announced to (or scraped) so far. */
  #records: TrackerRecord | TrackerRecord[] | undefined;
  #busy: Busy | undefined;
  #flags = 0;
  /** The per-session key as a signed 32-bit integer (a uint32 above 2^31 would be a boxed number). */
  readonly #key: number;
  #state: AnnouncerState = 'idle';
  #timer: TimerHandle | undefined;
  #nextAt: number | undefined;
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
    const { stats, observer } = options;
    if (observer !== undefined && stats !== undefined) throw new TrackerError('BAD_ARGUMENT', 'give stats or an observer with stats(), not both');
    if (observer !== undefined ? typeof observer.stats !== 'function' : typeof stats !== 'function') throw new TrackerError('BAD_ARGUMENT', 'stats must be a function');
    this.#infoHash = options.infoHash;
    this.#port = options.port;
    this.#host = observer ?? stats!;
    const tiers = new TrackerTiers(options.announce, options.announceList, options.random);
    const urls = tiers.urls;
    this.#tiers = urls.length === 1 ? urls[0]! : tiers;
    const key = options.key ?? randomBytes(4).readUInt32BE(0);
    if (!Number.isInteger(key) || key < 0 || key > 0xffffffff) throw new TrackerError('BAD_ARGUMENT', `key must be an integer in 0..4294967295, got ${String(key)}`);
    this.#key = key | 0;
    this.#c = configOf(options);
  }

  /** The per-session key sent with every announce (uint32). */
  get key(): number {
    return this.#key >>> 0;
  }

  get #clock(): Clock {
    return this.#c.clock;
  }

  #stats(): AnnouncerStats {
    const h = this.#host;
    return typeof h === 'function' ? h() : h.stats();
  }

  /** Tracker tiers in their current order. */
  get tiers(): string[][] {
    return this.#tierList.tiers;
  }

  get #tierList(): TrackerTiers {
    const t = this.#tiers;
    return typeof t === 'string' ? new TrackerTiers(t) : t;
  }

  /**
   * Every tracker, in the order they are tried: state, last answer or error, and the try in
   * flight. Together with {@link nextAnnounceAt} (the next check or retry), what a UI needs to
   * say what the client is trying, what failed and when it tries again.
   */
  trackerStatus(): TrackerStatus[] {
    return this.#tierList.tiers.flatMap((urls, tier) => urls.map((url) => this.#recordIfAny(url)?.status(tier) ?? untriedStatus(url, tier)));
  }

  #recordIfAny(url: string): TrackerRecord | undefined {
    const r = this.#records;
    return r === undefined ? undefined : Array.isArray(r) ? r.find((s) => s.url === url) : r.url === url ? r : undefined;
  }

  #recordOf(url: string): TrackerRecord {
    let s = this.#recordIfAny(url);
    if (!s) {
      s = new TrackerRecord(url);
      const r = this.#records;
      this.#records = r === undefined ? s : Array.isArray(r) ? grown(r, s) : [r, s];
    }
    return s;
  }

  #allRecords(): readonly TrackerRecord[] {
    const r = this.#records;
    return r === undefined ? [] : Array.isArray(r) ? r : [r];
  }

  #has(flag: number): boolean {
    return (this.#flags & flag) !== 0;
  }

  #set(flag: number, on: boolean): void {
    this.#flags = on ? this.#flags | flag : this.#flags & ~flag;
  }

  #busyNow(): Busy {
    return (this.#busy ??= { inFlight: undefined, inFlightAbort: undefined, scraping: undefined, trackers: undefined, stop: undefined });
  }

  /** No request left (and not stopping): close the trackers and forget the busy state. */
  #idleIfDone(): void {
    const b = this.#busy;
    if (!b || b.inFlight || b.scraping || b.stop) return;
    this.#busy = undefined;
    for (const t of b.trackers ?? []) if (typeof t !== 'string') t.close();
  }

  /** Waits for the session's tracker slot (if there is a gate), runs `request` in it. */
  #gated<T>(request: () => Promise<T>, signal: AbortSignal | undefined, urgent = false): Promise<T> {
    const gate = this.#c.gate;
    return gate ? gate.run(request, signal, urgent) : request();
  }

  /** One announce to one tracker (in a slot of the gate), recorded in its status. */
  #announceTo(url: string, req: AnnounceRequest, signal: AbortSignal): Promise<AnnounceResponse> {
    return this.#gated(() => this.#announceNow(url, req, signal), signal, req.event === 'stopped');
  }

  async #announceNow(url: string, req: AnnounceRequest, signal: AbortSignal): Promise<AnnounceResponse> {
    if (signal.aborted) throw new TrackerError('ABORTED', 'request cancelled', url);
    const status = this.#recordOf(url);
    const before = status.state;
    status.state = 'announcing';
    const since = this.#clock.now();
    status.started(since);
    const onAttempt = (a: RequestAttempt): void => {
      status.attempt = { number: a.attempt, max: a.maxAttempts, since, deadline: this.#clock.now() + a.timeoutMs };
    };
    try {
      const response = await this.#tracker(url).announce(req, { signal, onAttempt });
      status.succeeded(this.#clock.now(), response.peers.length, response.complete, response.incomplete);
      return response;
    } catch (e) {
      if (signal.aborted) {
        status.state = before; // cancelled by stop(): not the tracker's failure
      } else {
        const err = toTrackerError(e, url);
        status.failed(this.#clock.now(), keptError(err.code, err.detail));
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
    const interval = this.#intervalMs ?? this.#c.o.announceIntervalMs;
    return Math.max(interval, this.#minIntervalMs ?? 0);
  }

  /** The check period in use while short of peers (tracker `min interval` floored, or rerequestIntervalMs). */
  get checkPeriodMs(): number {
    return this.#minIntervalMs ?? this.#c.o.rerequestIntervalMs;
  }

  get consecutiveFailures(): number {
    return this.#failures;
  }

  /** Clock time of the last successful announce. */
  get lastAnnounceAt(): number | undefined {
    let last: number | undefined;
    for (const r of this.#allRecords()) {
      const at = r.lastAnnounceAt;
      if (at !== undefined && (last === undefined || at > last)) last = at;
    }
    return last;
  }

  get state(): AnnouncerState {
    return this.#state;
  }

  /** Announces `started` now and begins the schedule. A second call does nothing. */
  start(): void {
    if (this.#state !== 'idle') return;
    this.#state = 'running';
    let complete: boolean;
    try {
      complete = this.#stats().left === 0;
    } catch {
      complete = false;
    }
    this.#set(COMPLETE_AT_START, complete);
    this.#set(STARTED_PENDING, true);
    this.#kick();
  }

  /**
   * The download just finished: announce `completed` (once; never when the data was complete at
   * start). Queued behind a `started` not yet delivered.
   */
  completed(): void {
    if (this.#state !== 'running' || this.#has(COMPLETE_AT_START) || this.#has(COMPLETED_QUEUED)) return;
    this.#set(COMPLETED_QUEUED | COMPLETED_PENDING, true);
    this.#kick();
  }

  /**
   * Announce as soon as the tracker allows (e.g. the user asked for more peers): now, or when the
   * tracker's `min interval` since the last announce has passed.
   */
  reannounce(): void {
    if (this.#state !== 'running') return;
    const wait = (this.lastAnnounceAt ?? -Infinity) + (this.#minIntervalMs ?? 0) - this.#clock.now();
    if (wait <= 0 || this.#busy?.inFlight) {
      this.#kick();
      return;
    }
    this.#set(FORCED, true);
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
    const busy = this.#busyNow();
    if (busy.stop) return busy.stop;
    const wasRunning = this.#state === 'running';
    this.#state = 'stopping';
    this.#clearTimer();
    busy.stop = (async () => {
      // One deadline bounds everything: waiting for the cancelled announce and the stopped one.
      const ac = new AbortController();
      let expired!: () => void;
      const deadlinePassed = new Promise<void>((r) => (expired = r));
      const deadline = this.#clock.setTimeout(() => {
        ac.abort();
        expired();
      }, this.#c.o.stopTimeoutMs);
      try {
        busy.inFlightAbort?.abort();
        for (const scrape of busy.scraping ?? []) scrape.abort();
        busy.scraping = undefined;
        await Promise.race([busy.inFlight, deadlinePassed]);
        if (wasRunning && this.lastAnnounceAt !== undefined && !ac.signal.aborted) {
          await Promise.race([this.#announceOnce('stopped', ac.signal), deadlinePassed]);
        }
      } finally {
        this.#clock.clearTimeout(deadline);
        this.#state = 'stopped';
        for (const t of busy.trackers ?? []) if (typeof t !== 'string') t.close();
        busy.trackers = undefined;
      }
    })();
    return busy.stop;
  }

  /**
   * Scrapes one tracker of each tier (the one that last answered an announce, else the first),
   * as Transmission does, and records each outcome in its status (`lastScrape`). A tracker with
   * no scrape URL (BEP 48 rule) is skipped. Never rejects.
   */
  async scrapeEach(): Promise<void> {
    const picks = this.#tierList.tiers.map((urls) => urls.find((u) => this.#recordIfAny(u)?.state === 'working') ?? urls[0]).filter((u): u is string => u !== undefined);
    await Promise.all(
      picks.map(async (url) => {
        let startAt = this.#clock.now();
        try {
          const entry = await this.#scrapeOne(url, () => (startAt = this.#clock.now()));
          this.#recordOf(url).scraped(startAt, this.#clock.now(), { seeders: entry.complete, leechers: entry.incomplete, downloaded: entry.downloaded });
        } catch (e) {
          const err = toTrackerError(e, url);
          if (err.code === 'UNSUPPORTED_PROTOCOL' || err.code === 'ABORTED') return;
          this.#recordOf(url).scraped(startAt, this.#clock.now(), keptError(err.code, err.detail));
        }
      }),
    );
  }

  /** Scrapes our torrent on the first tracker that answers; resolves undefined (and emits `error`) on failure. */
  async scrape(): Promise<ScrapeEntry | undefined> {
    try {
      const { value } = await this.#tierList.run((url) => this.#scrapeOne(url));
      return value;
    } catch (e) {
      const err = toTrackerError(e, '');
      if (err.code !== 'ABORTED') this.#tell('error', err, { url: err.url, event: 'none', consecutiveFailures: this.#failures });
      return undefined;
    }
  }

  /**
   * Our torrent's counts from `url`, asked in a slot of the gate (`onStart` is told when the
   * request goes out). stop() cancels it, waiting or in flight: TrackerError `ABORTED`.
   */
  async #scrapeOne(url: string, onStart?: () => void): Promise<ScrapeEntry> {
    const ac = new AbortController();
    const busy = this.#busyNow();
    const scraping = (busy.scraping ??= new Set());
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
      if (scraping.size === 0 && busy.scraping === scraping) busy.scraping = undefined;
      if (this.#busy === busy) this.#idleIfDone();
    }
  }

  /** The tracker for `url` in this busy spell (made at its first request). */
  #tracker(url: string): Tracker {
    const busy = this.#busyNow();
    const trackers = busy.trackers;
    const i = trackers?.indexOf(url) ?? -1;
    if (i >= 0) return trackers![i + 1] as Tracker;
    const c = this.#c;
    const t = c.createTracker ? c.createTracker(url) : createTracker(url, (c.trackerOptions ??= { http: { clock: c.clock, ...c.http }, udp: { clock: c.clock, ...c.udp } }));
    busy.trackers = grown(trackers, url, t);
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
    // A bound method (~48 B) rather than an arrow function and the context it keeps (~96 B): one
    // waits for every idle announcer of a session.
    this.#timer = this.#clock.setTimeout(this.#fired.bind(this), delay);
  }

  #fired(): void {
    this.#timer = undefined;
    this.#nextAt = undefined;
    this.#onTimer();
  }

  #needMorePeers(): boolean {
    try {
      return this.#stats().numPeers < this.#c.o.minPeers;
    } catch {
      return true;
    }
  }

  #onTimer(): void {
    if (this.#state !== 'running') return;
    const last = this.lastAnnounceAt;
    const elapsed = last === undefined ? Infinity : this.#clock.now() - last;
    if (this.#has(FORCED) || this.#pendingEvent !== 'none' || this.#failures > 0 || elapsed >= this.intervalMs || this.#needMorePeers()) {
      this.#kick();
    } else {
      this.#schedule(Math.min(this.checkPeriodMs, this.intervalMs - elapsed));
    }
  }

  /** Starts an announce now, or right after the one in flight. */
  #kick(): void {
    if (this.#state !== 'running') return;
    if (this.#busy?.inFlight) {
      this.#set(AGAIN, true);
      return;
    }
    this.#clearTimer();
    this.#set(FORCED, false);
    const ac = new AbortController();
    const busy = this.#busyNow();
    busy.inFlightAbort = ac;
    const event = this.#pendingEvent;
    busy.inFlight = this.#announceOnce(event, ac.signal).then((ok) => {
      busy.inFlight = undefined;
      busy.inFlightAbort = undefined;
      if (this.#state !== 'running') return;
      if (ok && (this.#pendingEvent !== 'none' || this.#has(AGAIN))) {
        this.#set(AGAIN, false);
        this.#kick();
        return;
      }
      if (ok) {
        this.#schedule(Math.min(this.checkPeriodMs, this.intervalMs));
      } else {
        this.#set(AGAIN, false);
        this.#schedule(this.#retryDelay());
      }
      if (this.#busy === busy) this.#idleIfDone();
    });
  }

  /** The oldest event not delivered yet (`started` before `completed`), or `none`. */
  get #pendingEvent(): AnnounceEvent {
    return this.#has(STARTED_PENDING) ? 'started' : this.#has(COMPLETED_PENDING) ? 'completed' : 'none';
  }

  #retryDelay(): number {
    const n = Math.max(0, this.#failures - 1);
    return Math.min(this.#c.o.retryBaseMs * 2 ** Math.min(n, 30), this.#c.o.retryMaxMs);
  }

  /** One announce across the tiers; resolves true on success, false on failure (never rejects). */
  async #announceOnce(event: AnnounceEvent, signal: AbortSignal): Promise<boolean> {
    let base: Omit<AnnounceRequest, 'trackerId'>;
    const c = this.#c;
    try {
      const s = this.#stats();
      base = {
        infoHash: this.#infoHash,
        peerId: c.peerId,
        port: this.#port,
        uploaded: s.uploaded,
        downloaded: s.downloaded,
        left: s.left,
        event,
        numwant: event === 'stopped' || s.numPeers >= c.o.maxPeers ? 0 : c.o.numwant,
        key: this.key,
      };
      if (c.ip !== undefined) base.ip = c.ip;
    } catch (e) {
      return this.#failed(toTrackerError(e, '', 'BAD_ARGUMENT'), event);
    }
    try {
      const { url, value } = await this.#tierList.run(
        async (url) => {
          const trackerId = this.#recordIfAny(url)?.trackerId;
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
        const msg = `stopped announce got no reply within ${c.o.stopTimeoutMs} ms`;
        return this.#failed(new TrackerError('TIMEOUT', msg, e instanceof TrackerError ? e.url : '', { cause: e }), event);
      }
      return this.#failed(toTrackerError(e, ''), event);
    }
  }

  #succeeded(url: string, event: AnnounceEvent, r: AnnounceResponse): void {
    this.#failures = 0;
    const o = this.#c.o;
    // A tracker does not get to make us hammer it (or it) with announces: its intervals are floored.
    if (r.interval !== undefined) this.#intervalMs = Math.max(r.interval * 1000, o.intervalFloorMs);
    if (r.minInterval !== undefined) this.#minIntervalMs = Math.max(r.minInterval * 1000, o.minIntervalFloorMs);
    if (r.trackerId !== undefined) this.#recordOf(url).trackerId = r.trackerId;
    if (event === 'started') this.#set(STARTED_PENDING, false);
    else if (event === 'completed' && !this.#has(STARTED_PENDING)) this.#set(COMPLETED_PENDING, false);
    const info: AnnounceInfo = { url, event };
    this.#tell('announce', r, info);
    if (r.warningMessage !== undefined) this.#tell('warning', r.warningMessage, info);
    const peerId = this.#c.peerId;
    const own = Buffer.from(peerId.buffer, peerId.byteOffset, peerId.length);
    const peers = r.peers.filter((p) => !p.peerId || !own.equals(p.peerId));
    if (peers.length > 0 && event !== 'stopped') this.#tell('peers', peers, info);
  }

  /** Tells the observer (its method of the event's name, if it has one), then the listeners. */
  #tell<K extends keyof AnnouncerEvents>(event: K, ...args: Parameters<AnnouncerEvents[K]>): void {
    const h = this.#host;
    const method = typeof h === 'function' ? undefined : (h[event] as ((...a: Parameters<AnnouncerEvents[K]>) => void) | undefined);
    if (method) safely(() => method.apply(h, args));
    this.emit(event, ...args);
  }

  #failed(err: TrackerError, event: AnnounceEvent): false {
    this.#failures++;
    const info: AnnounceErrorInfo = { url: err.url, event, consecutiveFailures: this.#failures };
    if (this.#state === 'running') info.retryInMs = this.#retryDelay();
    this.#tell('error', err, info);
    return false;
  }
}
