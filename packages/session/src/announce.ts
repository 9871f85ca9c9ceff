import type { TrackerPeer } from '@mainline/metainfo';
import type { Clock } from '@mainline/rate';
import {
  Announcer,
  type AnnounceResponse,
  type AnnouncerObserver,
  type AnnouncerOptions,
  type AnnouncerStats,
  type TrackerError,
  type TrackerErrorCode,
  type TrackerStatusState,
  type UdpTrackerOptions,
} from '@mainline/rerequester';
import type { AddressFilter } from './address-filter.js';

/** What the last tracker answers said: peers in the last reply, and the last error (cleared by a success). */
export interface TrackerState {
  peers: number;
  error: string | undefined;
}

/** One tracker as stats() shows it: what it is doing, what it last said, what failed. Times in seconds. */
export interface TrackerInfo {
  url: string;
  /** Its BEP 12 tier, 0 first. */
  tier: number;
  /** `not-tried` yet, `announcing` now, or how its last announce went: `working` / `failed`. */
  state: TrackerStatusState;
  /** Peers in its last answer, and how long ago that was. */
  peers: number | undefined;
  lastAnnounceAgo: number | undefined;
  /** Its last error, until an answer clears it; failed announces in a row. */
  error: string | undefined;
  /** The error's kind: `REJECTED` when the tracker itself answered with a failure reason. */
  errorCode: TrackerErrorCode | undefined;
  failures: number;
  /**
   * While announcing: the try in flight, the most tries (a UDP tracker is asked again on
   * silence: 1 of 3, 2 of 3, 3 of 3), and seconds until this try stops waiting.
   */
  attempt: { number: number; max: number; waitLeft: number } | undefined;
  /** Seconds since its last announce started (in flight or finished). */
  lastAnnounceStartAgo: number | undefined;
  /** Seeders / leechers its last announce reply gave, when it said. */
  seeders: number | undefined;
  leechers: number | undefined;
  /** Its last scrape (Torrent.scrape): seconds since it started and ended, and the counts or the error. */
  scrape:
    | { startAgo: number; ago: number; seeders: number; leechers: number; downloaded: number }
    | { startAgo: number; ago: number; error: string; timedOut: boolean }
    | undefined;
}

/** The tracker part of a torrent's or magnet's stats: each tracker, and when they are asked next. */
export interface TrackerReport {
  trackers: TrackerInfo[];
  /** Seconds until the next announce (or retry after a failure); undefined while one runs or without trackers. */
  nextAnnounceIn: number | undefined;
}

/** The report of `announcer` (none: no trackers, or not running) at the clock's now. */
export function trackerReport(announcer: Announcer | undefined, clock: Clock): TrackerReport {
  if (!announcer) return { trackers: [], nextAnnounceIn: undefined };
  const now = clock.now();
  const seconds = (ms: number): number => Math.max(0, ms) / 1000;
  const next = announcer.nextAnnounceAt;
  return {
    trackers: announcer.trackerStatus().map((t) => ({
      url: t.url,
      tier: t.tier,
      state: t.state,
      peers: t.lastPeers,
      lastAnnounceAgo: t.lastAnnounceAt === undefined ? undefined : seconds(now - t.lastAnnounceAt),
      error: t.lastError?.message,
      errorCode: t.lastError?.code,
      failures: t.failures,
      attempt: t.attempt ? { number: t.attempt.number, max: t.attempt.max, waitLeft: seconds(t.attempt.deadline - now) } : undefined,
      lastAnnounceStartAgo: t.lastAnnounceStartAt === undefined ? undefined : seconds(now - t.lastAnnounceStartAt),
      seeders: t.seeders,
      leechers: t.leechers,
      scrape: t.lastScrape ? { startAgo: seconds(now - t.lastScrape.startAt), ago: seconds(now - t.lastScrape.at), ...t.lastScrape.result } : undefined,
    })),
    nextAnnounceIn: next === undefined ? undefined : seconds(next - now),
  };
}

/**
 * BEP 15's full schedule (8 retries, ~2 h) would hold up the next tier behind one dead UDP
 * tracker; two retries (15 s + 30 s + 60 s) fail over in under two minutes. Each resend is
 * visible in trackerReport() (try 2 of 3, waiting 30 s), so a silent tracker is not a mystery.
 */
const FEW_RETRIES: UdpTrackerOptions = Object.freeze({ maxRetries: 2 });
/** The session's UDP options with FEW_RETRIES under them: one object per session's options, shared by all its announcers. */
const fewRetriesOf = new WeakMap<UdpTrackerOptions, UdpTrackerOptions>();

function withFewRetries(udp: UdpTrackerOptions | undefined): UdpTrackerOptions {
  if (!udp) return FEW_RETRIES;
  let o = fewRetriesOf.get(udp);
  if (!o) fewRetriesOf.set(udp, (o = { ...FEW_RETRIES, ...udp }));
  return o;
}

/** What a torrent or magnet download gives its announcer: its counts, and where peers and errors go. */
export interface AnnounceOwner {
  /** The counts for the next announce (may throw: that announce then fails). */
  announceStats(): AnnouncerStats;
  /** Peers a tracker gave. */
  trackerPeers(peers: TrackerPeer[]): void;
  /** A failed announce or scrape, as its message. */
  trackerError(message: string): void;
}

/**
 * An announcer's observer for one torrent: keeps its TrackerState up to date and tells the owner.
 * One small object (its methods on the prototype) where listeners were five closures per torrent.
 */
class TrackerWatch implements AnnouncerObserver {
  readonly #state: TrackerState;
  readonly #owner: AnnounceOwner;
  readonly #filter: AddressFilter | undefined;

  constructor(state: TrackerState, owner: AnnounceOwner, filter: AddressFilter | undefined) {
    this.#state = state;
    this.#owner = owner;
    this.#filter = filter;
  }

  stats(): AnnouncerStats {
    return this.#owner.announceStats();
  }

  peers(peers: TrackerPeer[]): void {
    this.#state.peers = peers.length;
    this.#owner.trackerPeers(peers);
  }

  announce(r: AnnounceResponse): void {
    this.#state.error = undefined;
    if (r.externalIp !== undefined) this.#filter?.addOwnAddress(r.externalIp);
  }

  error(e: TrackerError): void {
    this.#state.error = e.message;
    this.#owner.trackerError(e.message);
  }
}

/**
 * Starts an announcer with the session's defaults and keeps `state` up to date; the owner (a
 * torrent or magnet download) gives the counts, takes the peers and hears the errors. The address
 * a tracker says it sees us at (BEP 24) is one of ours for `filter`: never dialled.
 */
export function startAnnouncer(options: Omit<AnnouncerOptions, 'stats' | 'observer'>, state: TrackerState, owner: AnnounceOwner, filter?: AddressFilter): Announcer {
  // The owner's counts, not a `stats` that came in with the session's announcer options.
  const announcer = new Announcer({ ...options, udp: withFewRetries(options.udp), stats: undefined, observer: new TrackerWatch(state, owner, filter) });
  announcer.start();
  return announcer;
}
