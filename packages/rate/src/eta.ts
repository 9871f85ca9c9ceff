import { type Clock, systemClock } from './clock.js';
import { checkNumber } from './errors.js';

export interface EtaEstimatorOptions {
  /** Time source; defaults to {@link systemClock}. */
  clock?: Clock;
  /** Bytes still to download when the estimator is created. */
  left: number;
  /** The first data is treated as if the download started this long ago (mainline: 2 s). */
  startOffsetMs?: number;
  /** {@link EtaEstimator.timeLeft} decays the rate after this long without data (mainline: 15 s). */
  staleMs?: number;
  /** Once the averaging window has been longer than this, it never shrinks below it (mainline: 20 s). */
  windowMs?: number;
}

/**
 * Time left and bytes left for a download: mainline's `RateMeasure`.
 *
 * The first data only starts the clock (as if the download began `startOffset` ago) and gives no
 * estimate yet. Each later update of `n` bytes at time `t` (seconds) does
 *
 *     left     -= n
 *     rate      = (rate · (last − start) + n) / (t − start)      // average since `start`
 *     last      = t
 *     remaining = left / rate
 *     start     = max(start, last − remaining)                   // window ≤ the time still to go
 *     if the window once exceeded `window`: start = min(start, last − window)
 *
 * so the estimate reacts quickly near the end but does not swing with every burst once running.
 * {@link timeLeft} applies a 0-byte update after `stale` without data, so a stalled download's
 * estimate grows. Hash failures give their bytes back via {@link dataRejected}.
 *
 * Differences from mainline: times are ms, and `left` never drives the estimate negative
 * (mainline would compute a negative remaining time when more arrived than was expected).
 */
export class EtaEstimator {
  private readonly clock: Clock;
  private readonly startOffset: number; // seconds, like every field below
  private readonly stale: number;
  private readonly window: number;
  private left: number;
  private start = 0;
  private last = 0;
  private rate = 0;
  private remaining: number | null = null;
  private gotAnything = false;
  private broke = false;

  constructor(options: EtaEstimatorOptions) {
    this.clock = options.clock ?? systemClock;
    this.left = checkNumber('left', options.left);
    this.startOffset = checkNumber('startOffsetMs', options.startOffsetMs ?? 2_000) / 1000;
    this.stale = checkNumber('staleMs', options.staleMs ?? 15_000) / 1000;
    this.window = checkNumber('windowMs', options.windowMs ?? 20_000) / 1000;
  }

  /** Record `bytes` of good data received (mainline `data_came_in`). */
  dataCameIn(bytes: number): void {
    checkNumber('bytes', bytes);
    if (!this.gotAnything) {
      this.gotAnything = true;
      this.start = this.clock.now() / 1000 - this.startOffset;
      this.last = this.start;
      this.left -= bytes;
      return;
    }
    this.update(this.clock.now() / 1000, bytes);
  }

  /** Give back `bytes` that failed their hash check and must be fetched again (mainline `data_rejected`). */
  dataRejected(bytes: number): void {
    this.left += checkNumber('bytes', bytes);
  }

  /** Estimated ms until done, or `null` before any data arrived or while the rate is 0. */
  timeLeft(): number | null {
    if (!this.gotAnything) return null;
    const t = this.clock.now() / 1000;
    if (t - this.last > this.stale) this.update(t, 0);
    return this.remaining === null ? null : this.remaining * 1000;
  }

  /** Bytes still to download (mainline `get_size_left`). */
  get bytesLeft(): number {
    return Math.max(0, this.left);
  }

  /** The averaged download rate (bytes/s) behind the estimate. */
  get currentRate(): number {
    return this.rate;
  }

  private update(t: number, bytes: number): void {
    this.left -= bytes;
    const span = t - this.start;
    if (span > 0) {
      this.rate = (this.rate * (this.last - this.start) + bytes) / span;
      this.last = t;
    }
    if (span > 0 && this.rate > 0) {
      const remaining = Math.max(0, this.left) / this.rate;
      this.remaining = remaining;
      if (this.start < this.last - remaining) this.start = this.last - remaining;
    } else {
      this.remaining = null; // mainline: ZeroDivisionError
    }
    if (this.broke && this.last - this.start < this.window) this.start = this.last - this.window;
    if (this.last - this.start > this.window) this.broke = true;
  }
}
