import type { Clock, TimerHandle } from './clock.js';
import { heapTimerOf, TimerHeap, timerDelay } from './timer-heap.js';

/**
 * Many timers on one: a Clock whose timers wait in a heap, with a single timer of the underlying
 * clock armed for the earliest of them. Timers fire at their due time, in due order (then in the
 * order they were set), as on the underlying clock. A session gives one to every torrent's
 * announcer: 1,000 seeding torrents with trackers hold one timer between them, not one each.
 */
export class TimerQueue implements Clock {
  readonly #base: Clock;
  readonly #heap = new TimerHeap();
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;

  constructor(base: Clock) {
    this.#base = base;
  }

  now(): number {
    return this.#base.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer = this.#heap.add(fn, this.#base.now() + timerDelay(ms));
    this.#arm();
    return timer as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle): void {
    const timer = heapTimerOf(handle);
    if (timer && this.#heap.cancel(timer)) this.#arm();
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.#heap.size;
  }

  /** Cancels every timer, and the underlying one. */
  close(): void {
    this.#heap.clear();
    this.#arm();
  }

  /** Keeps the one underlying timer at the earliest due time (none while nothing waits). */
  #arm(): void {
    const next = this.#heap.peek()?.due ?? Infinity;
    if (next === this.#timerAt) return;
    if (this.#timer !== undefined) this.#base.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = next;
    if (next !== Infinity) this.#timer = this.#base.setTimeout(() => this.#fire(), Math.max(0, next - this.#base.now()));
  }

  #fire(): void {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    try {
      for (let due = this.#heap.takeDue(this.#base.now()); due; due = this.#heap.takeDue(this.#base.now())) due.fn();
    } finally {
      this.#arm();
    }
  }
}
