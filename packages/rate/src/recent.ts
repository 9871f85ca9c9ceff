import { type Clock, systemClock } from './clock.js';
import { RateError, checkNumber } from './errors.js';

export interface RecentRateOptions {
  /** Time source; defaults to {@link systemClock}. */
  clock?: Clock;
  /** How far back the rate looks, in ms (default 2 s). */
  windowMs?: number;
}

/** The default window: a display that follows a change of speed within ~2 s. */
export const DEFAULT_RECENT_WINDOW_MS = 2_000;
/** Reference points kept per window: the window is measured to within 1/8 of its length. */
const SLOTS_PER_WINDOW = 8;

interface Sample {
  at: number;
  total: number;
}

/**
 * Bytes/s over the last few seconds, for what people read: a progress line, an ETA. Unlike
 * {@link RateMeasure} (a 20 s window with a head start, whose history the choker wants), it has
 * no memory beyond its window and no head start, so a steady 2.9 MiB/s reads 2.9 MiB/s after
 * half a second, and a stall reads 0 one window later.
 *
 * Fed either with {@link update} as bytes move, or with {@link observe} from a running counter
 * kept elsewhere and read now and then (e.g. on each redraw): the rate is the growth of the total
 * since a reference point one window (at most 1/8 more) ago, or since the start while younger.
 * A reading right after a long silence is the average over that silence, never a spike.
 * Memory is bounded: about 9 reference points whatever the traffic, and none while nothing
 * moves (most torrents of a big session): the points are made at the first traffic and dropped
 * again once a reading finds no bytes since the reference point (one window after the last).
 */
export class RecentRate {
  readonly #clock: Clock;
  readonly #windowMs: number;
  readonly #slotMs: number;
  /**
   * Reference points, oldest first; the first is at or before now − window once that old.
   * Undefined while nothing moved since #quietFrom: the total was #quietTotal all through
   * [#quietFrom, #quietTo] (a counter only grows between resets), so any time in there is an exact
   * reference point and none needs keeping.
   */
  #samples: Sample[] | undefined;
  #quietFrom: number;
  #quietTo: number;
  #quietTotal = 0;
  #total = 0;

  constructor(options: RecentRateOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#windowMs = checkNumber('windowMs', options.windowMs ?? DEFAULT_RECENT_WINDOW_MS, 1);
    this.#slotMs = this.#windowMs / SLOTS_PER_WINDOW;
    this.#quietFrom = this.#quietTo = this.#clock.now();
  }

  /** Record `bytes` transferred now. */
  update(bytes: number): void {
    checkNumber('bytes', bytes);
    this.#total += bytes;
    this.#sample();
  }

  /**
   * The running total is `total` bytes now (a counter kept elsewhere). A total below the last one
   * means the counter was reset: the measure starts over from it.
   */
  observe(total: number): void {
    checkNumber('total', total);
    if (total < this.#total) {
      this.restartAt(total);
      return;
    }
    this.#total = total;
    this.#sample();
  }

  /**
   * The measure starts over at `total` now, counting nothing before it: for a counter that
   * resumes from a saved value (lifetime totals read back after a restart), which would
   * otherwise read as all of it moved in the first instant.
   */
  restartAt(total: number): void {
    checkNumber('total', total);
    this.#total = total;
    this.#samples = undefined;
    this.#quietTotal = total;
    this.#quietFrom = this.#quietTo = this.#clock.now();
  }

  /** Bytes recorded so far (or the last observed total). */
  get total(): number {
    return this.#total;
  }

  /** Bytes/s over the last window (over the time since creation while younger than that). */
  rate(): number {
    this.#sample();
    const now = this.#clock.now();
    const ref = this.#samples?.[0];
    if (!ref) return 0; // nothing moved within the window
    const bytes = this.#total - ref.total;
    if (bytes === 0) return 0;
    // A burst in the first instant is not a rate: count at least one slot of time.
    return (bytes * 1000) / Math.max(now - ref.at, this.#slotMs);
  }

  /** Adds a reference point now (at most one per slot) and drops those no longer needed. */
  #sample(): void {
    const now = this.#clock.now();
    let samples = this.#samples;
    if (!samples) {
      if (now < this.#quietTo) throw new RateError('BAD_ARGUMENT', 'the clock went backwards');
      if (this.#total === this.#quietTotal) {
        this.#quietTo = now;
        return;
      }
      // The first bytes after a quiet spell: the reference is the total as it stood one window
      // ago (or at the start of the quiet spell, or its end when the bytes came after it).
      const at = Math.max(this.#quietFrom, Math.min(now - this.#windowMs, this.#quietTo));
      samples = this.#samples = [{ at, total: this.#quietTotal }];
    }
    const last = samples[samples.length - 1] as Sample;
    if (now < last.at) throw new RateError('BAD_ARGUMENT', 'the clock went backwards');
    if (now - last.at >= this.#slotMs) samples.push({ at: now, total: this.#total });
    // Keep the newest point at or before now − window as the reference, drop the older ones.
    const start = now - this.#windowMs;
    let drop = 0;
    while (drop + 1 < samples.length && (samples[drop + 1] as Sample).at <= start) drop++;
    if (drop > 0) samples.splice(0, drop);
    // Quiet again since the reference: every point left holds the current total.
    const ref = samples[0] as Sample;
    if (ref.total === this.#total) {
      this.#samples = undefined;
      this.#quietTotal = ref.total;
      this.#quietFrom = ref.at;
      this.#quietTo = now;
    }
  }
}
