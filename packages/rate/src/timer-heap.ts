/** One timer in a TimerHeap: when it is due, the order it was set in, what it runs. */
export interface HeapTimer {
  readonly due: number;
  readonly seq: number;
  fn: (() => void) | null; // null once fired or cancelled
}

/** Cancelled timers stay in the heap until they reach the top; compact past this many. */
const COMPACT_AFTER = 64;

/**
 * Timers by due time, then by the order they were set: the heap behind ManualClock and TimerQueue.
 * Cancelling is O(1) (the timer is marked, and dropped when it reaches the top or on compaction).
 */
export class TimerHeap {
  readonly #heap: HeapTimer[] = [];
  #seq = 0;
  #dead = 0;

  /** Adds `fn`, due at `due`. */
  add(fn: () => void, due: number): HeapTimer {
    const timer: HeapTimer = { due, seq: this.#seq++, fn };
    this.#push(timer);
    return timer;
  }

  /** Cancels a timer of this heap; false when it had fired or was cancelled already. */
  cancel(timer: HeapTimer): boolean {
    if (timer.fn === null) return false;
    timer.fn = null;
    if (++this.#dead > COMPACT_AFTER && this.#dead * 2 > this.#heap.length) {
      const live = this.#heap.filter((t) => t.fn !== null);
      this.#heap.length = 0;
      this.#dead = 0;
      for (const t of live) this.#push(t);
    }
    return true;
  }

  /** Timers still waiting. */
  get size(): number {
    return this.#heap.length - this.#dead;
  }

  /** The earliest live timer, left in place. */
  peek(): HeapTimer | undefined {
    while (this.#heap.length > 0 && this.#heap[0]!.fn === null) {
      this.#pop();
      this.#dead--;
    }
    return this.#heap[0];
  }

  /** Removes the earliest live timer if it is due at or before `t` and returns its function (it counts as fired). */
  takeDue(t: number): { due: number; fn: () => void } | undefined {
    const next = this.peek();
    if (!next || next.due > t) return undefined;
    this.#pop();
    const fn = next.fn!;
    next.fn = null;
    return { due: next.due, fn };
  }

  /** Cancels every timer. */
  clear(): void {
    for (const t of this.#heap) t.fn = null;
    this.#heap.length = 0;
    this.#dead = 0;
  }

  #less(a: HeapTimer, b: HeapTimer): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  #push(timer: HeapTimer): void {
    const h = this.#heap;
    h.push(timer);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.#less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.#less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

/** A delay as Node takes it: a bad or negative one means "as soon as possible". */
export function timerDelay(ms: number): number {
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? ms : 0;
}

/** The heap timer behind a handle made by a clock of this package, or undefined for anything else. */
export function heapTimerOf(handle: unknown): HeapTimer | undefined {
  return handle !== null && typeof handle === 'object' && 'fn' in handle && 'due' in handle ? (handle as HeapTimer) : undefined;
}
