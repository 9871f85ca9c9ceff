import { checkNumber, RateError } from './errors.js';

declare const timerHandleBrand: unique symbol;

/** An opaque timer handle: only ever hand it back to the `clearTimeout` of the clock that made it. */
export interface TimerHandle {
  readonly [timerHandleBrand]: true;
}

/**
 * Where time comes from. All durations are milliseconds. `now()` must never go backwards.
 * Every time-dependent package takes one of these so tests can drive time with {@link ManualClock}.
 */
export interface Clock {
  /** Current time in ms (monotonic; origin is arbitrary but ~ the Unix epoch for {@link systemClock}). */
  now(): number;
  /** Run `fn` once, `ms` from now. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancel a timer; harmless if it already fired or was cancelled. */
  clearTimeout(handle: TimerHandle): void;
}

const origin = performance.timeOrigin;

/**
 * The real clock: monotonic time from `performance.now()` (offset by `performance.timeOrigin`, so it
 * reads close to `Date.now()` but does not jump when the wall clock is set) and Node's timers.
 */
export const systemClock: Clock = {
  now: () => origin + performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as TimerHandle,
  clearTimeout: (handle) => clearTimeout(handle as unknown as NodeJS.Timeout),
};

interface ManualTimer {
  due: number;
  seq: number;
  fn: (() => void) | null; // null once fired or cancelled
}

/**
 * A clock for tests: time stands still until {@link advance} moves it, firing due timers in order
 * (by due time, then by the order they were set). A timer fires with `now()` equal to its due time,
 * and timers it schedules fire within the same `advance` call if they fall inside the window.
 */
export class ManualClock implements Clock {
  private time: number;
  private seq = 0;
  private readonly heap: ManualTimer[] = [];
  private dead = 0; // cancelled timers still in the heap

  constructor(startMs = 0) {
    this.time = checkNumber('ManualClock start', startMs, -Infinity);
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    if (typeof fn !== 'function') throw new RateError('BAD_ARGUMENT', 'setTimeout needs a function');
    // Like Node: a bad or negative delay means "as soon as possible".
    const delay = typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? ms : 0;
    const timer: ManualTimer = { due: this.time + delay, seq: this.seq++, fn };
    this.push(timer);
    return timer as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    const timer = handle as unknown as ManualTimer | undefined;
    if (!timer || typeof timer !== 'object' || !('fn' in timer) || timer.fn === null) return;
    timer.fn = null;
    // Cancelled timers stay in the heap until they reach the top; compact when they pile up.
    if (++this.dead > 64 && this.dead * 2 > this.heap.length) {
      const live = this.heap.filter((t) => t.fn !== null);
      this.heap.length = 0;
      this.dead = 0;
      for (const t of live) this.push(t);
    }
  }

  /** Number of timers still waiting to fire. */
  get pendingTimers(): number {
    return this.heap.length - this.dead;
  }

  /** Due time of the next live timer, or `undefined` when none is pending. */
  nextTimerAt(): number | undefined {
    this.dropDead();
    return this.heap[0]?.due;
  }

  /** Move time forward by `ms`, firing every timer that falls due on the way (inclusive). */
  advance(ms: number): void {
    this.advanceTo(this.time + checkNumber('advance(ms)', ms));
  }

  /** Move time forward to the absolute time `t` (never backwards), firing due timers in order. */
  advanceTo(t: number): void {
    checkNumber('advanceTo(t)', t, -Infinity);
    if (t < this.time) throw new RateError('BAD_ARGUMENT', `time cannot go backwards (${t} < ${this.time})`);
    while (this.fireNext(t));
    this.time = t;
  }

  /**
   * Fire timers one after another, jumping time to each, until none is left. Returns how many fired;
   * throws after `limit` so a timer that keeps rescheduling itself cannot hang a test.
   */
  runAll(limit = 100_000): number {
    let fired = 0;
    while (this.nextTimerAt() !== undefined) {
      if (fired >= limit) throw new RateError('BAD_ARGUMENT', `runAll: ${limit} timers fired and more remain`);
      this.fireNext(Infinity);
      fired++;
    }
    return fired;
  }

  /** Fire the earliest live timer if it is due at or before `t`. */
  private fireNext(t: number): boolean {
    this.dropDead();
    const next = this.heap[0];
    if (!next || next.due > t) return false;
    this.pop();
    const fn = next.fn!;
    next.fn = null;
    if (next.due > this.time) this.time = next.due;
    fn();
    return true;
  }

  private dropDead(): void {
    while (this.heap.length > 0 && this.heap[0]!.fn === null) {
      this.pop();
      this.dead--;
    }
  }

  private less(a: ManualTimer, b: ManualTimer): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  private push(timer: ManualTimer): void {
    const h = this.heap;
    h.push(timer);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
