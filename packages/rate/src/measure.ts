import { type Clock, systemClock } from './clock.js';
import { checkNumber } from './errors.js';

export interface RateMeasureOptions {
  /** Time source; defaults to {@link systemClock}. */
  clock?: Clock;
  /** Length of the sliding window in ms (mainline `max_rate_period`, 20 s). */
  maxRatePeriodMs?: number;
  /**
   * Head start in ms given to a fresh measure so its first bytes do not read as a huge rate
   * (mainline: 1 s for download measures, `upload_rate_fudge` = 5 s for upload measures).
   */
  fudgeMs?: number;
}

/** mainline `max_rate_period`: 20 s. */
export const DEFAULT_MAX_RATE_PERIOD_MS = 20_000;
/** mainline's fudge for download measures: 1 s. */
export const DEFAULT_FUDGE_MS = 1_000;
/** mainline `upload_rate_fudge`: 5 s. */
export const UPLOAD_RATE_FUDGE_MS = 5_000;

/**
 * Bytes per second over a sliding window, O(1) per update: mainline's `CurrentRateMeasure.Measure`.
 *
 * State: `since` (window start), `last` (time of the last update), `rate` (B/s) and `total`.
 * A new measure starts with `since = last = now − fudge` and rate 0. Each update of `n` bytes at
 * time `t` (all in seconds) does
 *
 *     rate  = (rate · (last − since) + n) / (t − since)
 *     last  = t
 *     since = max(since, t − maxRatePeriod)
 *
 * i.e. the bytes seen since `since` are re-averaged over the whole window, and the window is then
 * clamped to the last `maxRatePeriod`. {@link rate} first applies a 0-byte update, so the
 * reading decays towards 0 while no data comes in. Used per peer (up and down) and globally.
 */
export class RateMeasure {
  private readonly clock: Clock;
  private readonly maxPeriod: number; // seconds
  private since: number; // seconds
  private last: number; // seconds
  private current = 0;
  private bytes = 0;
  private carry = 0; // bytes seen while no time had passed since `since` (fudge 0 only)

  constructor(options: RateMeasureOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.maxPeriod = checkNumber('maxRatePeriodMs', options.maxRatePeriodMs ?? DEFAULT_MAX_RATE_PERIOD_MS, 1) / 1000;
    const fudge = checkNumber('fudgeMs', options.fudgeMs ?? DEFAULT_FUDGE_MS) / 1000;
    this.since = this.clock.now() / 1000 - fudge;
    this.last = this.since;
  }

  /** Record `bytes` transferred now. */
  update(bytes: number): void {
    checkNumber('bytes', bytes);
    this.bytes += bytes;
    this.apply(bytes);
  }

  /** Current rate in bytes/s, decayed to now (mainline `get_rate`). */
  rate(): number {
    this.apply(0);
    return this.current;
  }

  /** The rate as of the last update, without decaying it to now (mainline `get_rate_noupdate`). */
  rateNoUpdate(): number {
    return this.current;
  }

  /** Total bytes ever recorded. */
  get total(): number {
    return this.bytes;
  }

  /**
   * How many ms of silence would bring the rate down to `bytesPerSec` (0 if it is already there):
   * with `w = now − since`, that is `rate·w / target − w`. Used to pause a connection that is
   * over an upload cap. A target of 0 while data is flowing gives `Infinity`.
   */
  timeUntilRate(bytesPerSec: number): number {
    checkNumber('bytesPerSec', bytesPerSec);
    if (this.current <= bytesPerSec) return 0;
    if (bytesPerSec === 0) return Infinity;
    const w = this.clock.now() / 1000 - this.since;
    return Math.max(0, ((this.current * w) / bytesPerSec - w) * 1000);
  }

  private apply(bytes: number): void {
    const t = this.clock.now() / 1000;
    const span = t - this.since;
    // mainline divides by (t − since), which is > 0 thanks to the fudge. With fudge 0 and no time
    // passed yet, hold the bytes back and fold them in once time has moved.
    if (span <= 0) {
      this.carry += bytes;
      return;
    }
    this.current = (this.current * (this.last - this.since) + bytes + this.carry) / span;
    this.carry = 0;
    this.last = t;
    if (this.since < t - this.maxPeriod) this.since = t - this.maxPeriod;
  }
}
