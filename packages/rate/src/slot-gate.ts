import { systemClock, type Clock, type TimerHandle } from './clock.js';
import { RateError } from './errors.js';

export interface SlotGateOptions {
  /** Most holders of a slot at once (an integer ≥ 1). */
  limit: number;
  /**
   * Longest a holder keeps its slot before it stops counting (it goes on, the next waiter gets
   * in); default: as long as it holds it.
   */
  maxHoldMs?: number;
  /** For maxHoldMs. */
  clock?: Clock;
  /** What a waiter whose signal aborts is rejected with (default RateError `CANCELLED`). */
  aborted?: () => Error;
}

/** Gives a slot back; calling it again does nothing. */
export type ReleaseSlot = () => void;

interface Waiter {
  grant: (release: ReleaseSlot) => void;
  reject: (e: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * At most `limit` holders at once; the others wait their turn, first come first served. For work
 * that costs the same done together or in turn but holds memory while half done (a session's
 * tracker requests, a daemon's torrent starts).
 */
export class SlotGate {
  readonly #limit: number;
  readonly #maxHoldMs: number | undefined;
  readonly #clock: Clock;
  readonly #aborted: () => Error;
  #holding = 0;
  /** FIFO: a Set keeps insertion order, and a waiter whose signal aborts leaves it in O(1). */
  readonly #waiting = new Set<Waiter>();

  constructor(options: SlotGateOptions) {
    const { limit, maxHoldMs } = options;
    if (!Number.isInteger(limit) || limit < 1) throw new RateError('BAD_ARGUMENT', `a slot gate's limit must be an integer ≥ 1, got ${String(limit)}`);
    if (maxHoldMs !== undefined && (typeof maxHoldMs !== 'number' || Number.isNaN(maxHoldMs) || maxHoldMs <= 0)) {
      throw new RateError('BAD_ARGUMENT', `maxHoldMs must be a number > 0, got ${String(maxHoldMs)}`);
    }
    this.#limit = limit;
    this.#maxHoldMs = maxHoldMs;
    this.#clock = options.clock ?? systemClock;
    this.#aborted = options.aborted ?? (() => new RateError('CANCELLED', 'cancelled while waiting for a slot'));
  }

  get limit(): number {
    return this.#limit;
  }

  /** Slots held now. */
  get holding(): number {
    return this.#holding;
  }

  /** Waiters for a slot. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * Resolves with the slot's release once one is free, in the order asked. `urgent` takes one at
   * once, over the limit if need be. A `signal` that aborts while waiting takes the waiter out of
   * the queue and rejects (with the `aborted` option's error).
   */
  acquire(signal?: AbortSignal, urgent = false): Promise<ReleaseSlot> {
    if (signal?.aborted) return Promise.reject(this.#aborted());
    if (urgent || (this.#holding < this.#limit && this.#waiting.size === 0)) return Promise.resolve(this.#take());
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const waiter: Waiter = { grant: resolve, reject, signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => {
          this.#waiting.delete(waiter);
          reject(this.#aborted());
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiting.add(waiter);
    });
  }

  /** Runs `work` in a slot (see {@link acquire}); the slot is given back when it settles. */
  async run<T>(work: () => Promise<T>, signal?: AbortSignal, urgent = false): Promise<T> {
    const release = await this.acquire(signal, urgent);
    try {
      return await work();
    } finally {
      release();
    }
  }

  #take(): ReleaseSlot {
    this.#holding++;
    let held = true;
    let timer: TimerHandle | undefined;
    const release = (): void => {
      if (!held) return;
      held = false;
      if (timer !== undefined) this.#clock.clearTimeout(timer);
      this.#holding--;
      this.#next();
    };
    if (this.#maxHoldMs !== undefined) timer = this.#clock.setTimeout(release, this.#maxHoldMs);
    return release;
  }

  #next(): void {
    while (this.#holding < this.#limit) {
      const first = this.#waiting.values().next();
      if (first.done) return;
      const w = first.value;
      this.#waiting.delete(w);
      if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
      w.grant(this.#take());
    }
  }
}
