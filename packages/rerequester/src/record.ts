import { remembered, sharedText, type TrackerErrorCode } from './errors.js';

/** Where one tracker stands: `not-tried` yet, `announcing` now, last announce `working` or `failed`. */
export type TrackerStatusState = 'not-tried' | 'announcing' | 'working' | 'failed';

/** How a tracker's last scrape went. Times are clock ms. */
export interface ScrapeStatus {
  startAt: number;
  at: number;
  /** The counts, or why it failed. */
  result: { seeders: number; leechers: number; downloaded: number } | { error: string; timedOut: boolean };
}

/** One tracker as a UI shows it (see Announcer.trackerStatus). Times are clock ms. */
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
  /** Its last scrape (see Announcer.scrapeEach), if one was made. */
  lastScrape: ScrapeStatus | undefined;
  /**
   * While `announcing`: the try in flight (UDP resends on silence: 1 of 3, 2 of 3...), when the
   * request started and when this try stops waiting for an answer.
   */
  attempt: { number: number; max: number; since: number; deadline: number } | undefined;
}

/** A failure as kept: one frozen object per distinct code and text, shared by every tracker that has it. */
export interface KeptError {
  readonly code: TrackerErrorCode;
  readonly message: string;
}

const KEPT_ERRORS = 64;
const keptErrors = new Map<string, KeptError>();

/**
 * The shared record of a failure: when a tracker is down, every torrent on it fails with the same
 * code and text, and keeps one field for both. The last {@link KEPT_ERRORS} distinct ones are remembered.
 */
export function keptError(code: TrackerErrorCode, message: string): KeptError {
  return remembered(keptErrors, KEPT_ERRORS, `${code} ${message}`, () => Object.freeze({ code, message: sharedText(message) }));
}

/**
 * An offset between two clock times, to the ms, as a small integer (an inline value) when it fits
 * one: a difference of two clock times is a boxed 16-byte double even when it is 0 (and the system
 * clock's times have fractions of a ms), and a field that held one boxes every value after it.
 */
function small(x: number): number {
  const ms = Math.round(x);
  return ms === (ms | 0) ? ms | 0 : ms;
}

/**
 * One tracker's status, in flat fields: a session keeps one per tracker of every torrent, idle for
 * hours, so nothing is nested at rest (the try in flight is dropped once it ends) and times are
 * offsets from the start of the last announce, to the ms: small integers, where whole clock times
 * (ms since 1970) would each be a boxed 16-byte number. trackerStatus() builds the public shape
 * on demand.
 */
export class TrackerRecord {
  state: TrackerStatusState = 'not-tried';
  failures = 0;
  peers: number | undefined = undefined;
  seeders: number | undefined = undefined;
  leechers: number | undefined = undefined;
  /** The last failure, until a success clears it. */
  error: KeptError | undefined = undefined;
  /** The tracker's `tracker id`, echoed in later announces (few trackers send one). */
  trackerId: Uint8Array | undefined = undefined;
  /** The try in flight (while announcing only). */
  attempt: { number: number; max: number; since: number; deadline: number } | undefined = undefined;
  /** The last scrape's counts, or its failure (code TIMEOUT: it timed out). */
  scrapeSeeders: number | undefined = undefined;
  scrapeLeechers: number | undefined = undefined;
  scrapeDownloaded: number | undefined = undefined;
  scrapeError: KeptError | undefined = undefined;
  /** The clock time the offsets count from: when the last announce started (none before the first). */
  #base: number | undefined = undefined;
  #okAt: number | undefined = undefined;
  #errorAt: number | undefined = undefined;
  /** Absolute while there is no #base yet. */
  #scrapeAt: number | undefined = undefined;
  #scrapeTook = 0;

  constructor(readonly url: string) {}

  #offset(t: number): number {
    return this.#base === undefined ? t : small(t - this.#base);
  }

  #time(offset: number | undefined): number | undefined {
    return offset === undefined || this.#base === undefined ? offset : this.#base + offset;
  }

  /** An announce starts at `now`: the new base of every offset (a whole ms, so that moving them loses nothing). */
  started(now: number): void {
    const base = Math.round(now);
    const shift = (this.#base ?? 0) - base;
    if (this.#okAt !== undefined) this.#okAt = small(this.#okAt + shift);
    if (this.#errorAt !== undefined) this.#errorAt = small(this.#errorAt + shift);
    if (this.#scrapeAt !== undefined) this.#scrapeAt = small(this.#scrapeAt + shift);
    this.#base = base;
  }

  succeeded(now: number, peers: number, seeders: number | undefined, leechers: number | undefined): void {
    this.state = 'working';
    this.#okAt = this.#offset(now);
    this.peers = peers;
    this.seeders = seeders;
    this.leechers = leechers;
    this.error = undefined;
    this.#errorAt = undefined;
    this.failures = 0;
  }

  failed(now: number, error: KeptError): void {
    this.state = 'failed';
    this.error = error;
    this.#errorAt = this.#offset(now);
    this.failures++;
  }

  get lastAnnounceAt(): number | undefined {
    return this.#time(this.#okAt);
  }

  scraped(startAt: number, now: number, counts: { seeders: number; leechers: number; downloaded: number } | KeptError): void {
    this.#scrapeAt = this.#offset(now);
    this.#scrapeTook = small(now - startAt);
    if ('code' in counts) {
      this.scrapeError = counts;
      this.scrapeSeeders = this.scrapeLeechers = this.scrapeDownloaded = undefined;
    } else {
      this.scrapeError = undefined;
      this.scrapeSeeders = counts.seeders;
      this.scrapeLeechers = counts.leechers;
      this.scrapeDownloaded = counts.downloaded;
    }
  }

  /** The public shape, made now (copies: the caller may keep or change it). */
  status(tier: number): TrackerStatus {
    const errorAt = this.#time(this.#errorAt);
    const scrapeAt = this.#time(this.#scrapeAt);
    const e = this.error;
    const se = this.scrapeError;
    return {
      url: this.url,
      tier,
      state: this.state,
      lastAnnounceAt: this.lastAnnounceAt,
      lastPeers: this.peers,
      lastError: e && errorAt !== undefined ? { code: e.code, message: e.message, at: errorAt } : undefined,
      failures: this.failures,
      attempt: this.attempt ? { ...this.attempt } : undefined,
      lastAnnounceStartAt: this.#base,
      seeders: this.seeders,
      leechers: this.leechers,
      lastScrape:
        scrapeAt === undefined
          ? undefined
          : {
              startAt: scrapeAt - this.#scrapeTook,
              at: scrapeAt,
              result: se ? { error: se.message, timedOut: se.code === 'TIMEOUT' } : { seeders: this.scrapeSeeders!, leechers: this.scrapeLeechers!, downloaded: this.scrapeDownloaded! },
            },
    };
  }
}

/** The status of a tracker never announced to nor scraped. */
export function untriedStatus(url: string, tier: number): TrackerStatus {
  return { url, tier, state: 'not-tried', lastAnnounceAt: undefined, lastPeers: undefined, lastError: undefined, failures: 0, attempt: undefined, lastAnnounceStartAt: undefined, seeders: undefined, leechers: undefined, lastScrape: undefined };
}
