import { checkNumber, RateError } from './errors.js';
import { heapTimerOf, TimerHeap, timerDelay } from './timer-heap.js';

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

/** Monotonic ms from an arbitrary point: process.hrtime (`performance` would load perf_hooks, ~1 MiB resident). */
const monotonicMs = (): number => {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
};
const origin = Date.now() - monotonicMs();

/**
 * The real clock: monotonic time (offset to read close to `Date.now()` at start, but it does not
 * jump when the wall clock is set) and Node's timers.
 */
export const systemClock: Clock = {
  now: () => origin + monotonicMs(),
  setTimeout: (fn, ms) => setTimeout(fn, ms) as unknown as TimerHandle,
  clearTimeout: (handle) => clearTimeout(handle as unknown as NodeJS.Timeout),
};

/**
 * A clock for tests: time stands still until {@link advance} moves it, firing due timers in order
 * (by due time, then by the order they were set). A timer fires with `now()` equal to its due time,
 * and timers it schedules fire within the same `advance` call if they fall inside the window.
 */
export class ManualClock implements Clock {
  private time: number;
  private readonly heap = new TimerHeap();

  constructor(startMs = 0) {
    this.time = checkNumber('ManualClock start', startMs, -Infinity);
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    if (typeof fn !== 'function') throw new RateError('BAD_ARGUMENT', 'setTimeout needs a function');
    return this.heap.add(fn, this.time + timerDelay(ms)) as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    const timer = heapTimerOf(handle);
    if (timer) this.heap.cancel(timer);
  }

  /** Number of timers still waiting to fire. */
  get pendingTimers(): number {
    return this.heap.size;
  }

  /** Due time of the next live timer, or `undefined` when none is pending. */
  nextTimerAt(): number | undefined {
    return this.heap.peek()?.due;
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
    const next = this.heap.takeDue(t);
    if (!next) return false;
    if (next.due > this.time) this.time = next.due;
    next.fn();
    return true;
  }
}
