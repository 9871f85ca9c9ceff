import { systemClock, type Clock, type TimerHandle } from '@mainline/rate';
import { TrackerError } from './errors.js';

/** Most tracker requests in flight at once by default (Transmission starts at most 20 announces per upkeep). */
export const DEFAULT_TRACKER_REQUESTS = 20;
/** How long a request keeps its slot by default before it stops counting (see {@link RequestGateOptions.maxHoldMs}). */
export const DEFAULT_MAX_HOLD_MS = 5_000;

export interface RequestGateOptions {
  /** Most requests holding a slot at once (default {@link DEFAULT_TRACKER_REQUESTS}). */
  limit?: number;
  /**
   * Longest a request keeps its slot (default 5 s). One that takes longer (a dead tracker that
   * lets HTTP run to its 60 s deadline, a UDP tracker being asked again) goes on but no longer
   * counts, so one dead tracker cannot hold every other torrent's announce up for a minute.
   */
  maxHoldMs?: number;
  clock?: Clock;
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
 * A session-wide limit on tracker requests in flight: the rest wait their turn, first come first
 * served. 900 torrents starting together then open ~20 sockets to their tracker at a time, not 900
 * (each with an HTTP parser node keeps afterwards, and a start-up memory peak that leaves the heap
 * fragmented). Every announcer of a session is given the same gate (`AnnouncerOptions.gate`).
 */
export class RequestGate {
  readonly #limit: number;
  readonly #maxHoldMs: number;
  readonly #clock: Clock;
  #holding = 0;
  /** FIFO: a Set keeps insertion order, and a waiter whose signal aborts leaves it in O(1). */
  readonly #waiting = new Set<Waiter>();

  constructor(options: RequestGateOptions = {}) {
    const limit = options.limit ?? DEFAULT_TRACKER_REQUESTS;
    if (!Number.isInteger(limit) || limit < 1) throw new TrackerError('BAD_ARGUMENT', `the tracker request limit must be an integer ≥ 1, got ${String(limit)}`);
    const hold = options.maxHoldMs ?? DEFAULT_MAX_HOLD_MS;
    if (typeof hold !== 'number' || Number.isNaN(hold) || hold <= 0) throw new TrackerError('BAD_ARGUMENT', `maxHoldMs must be a number > 0, got ${String(hold)}`);
    this.#limit = limit;
    this.#maxHoldMs = hold;
    this.#clock = options.clock ?? systemClock;
  }

  get limit(): number {
    return this.#limit;
  }

  /** Requests holding a slot now. */
  get holding(): number {
    return this.#holding;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * Resolves with the slot's release once one is free, in the order asked. `urgent` (a `stopped`
   * announce, sent once as a torrent goes) takes one at once, over the limit if need be: it has its
   * own short deadline and must not be lost behind a queue. A `signal` that aborts while waiting
   * takes the request out of the queue and rejects with TrackerError `ABORTED`.
   */
  acquire(signal?: AbortSignal, urgent = false): Promise<ReleaseSlot> {
    if (signal?.aborted) return Promise.reject(aborted());
    if (urgent || (this.#holding < this.#limit && this.#waiting.size === 0)) return Promise.resolve(this.#take());
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const waiter: Waiter = { grant: resolve, reject, signal, onAbort: undefined };
      if (signal) {
        waiter.onAbort = () => {
          this.#waiting.delete(waiter);
          reject(aborted());
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#waiting.add(waiter);
    });
  }

  /** Runs `request` in a slot (see {@link acquire}); the slot is given back when it settles. */
  async run<T>(request: () => Promise<T>, signal?: AbortSignal, urgent = false): Promise<T> {
    const release = await this.acquire(signal, urgent);
    try {
      return await request();
    } finally {
      release();
    }
  }

  #take(): ReleaseSlot {
    this.#holding++;
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      this.#clock.clearTimeout(timer);
      this.#holding--;
      this.#next();
    };
    const timer: TimerHandle = this.#clock.setTimeout(release, this.#maxHoldMs);
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

function aborted(): TrackerError {
  return new TrackerError('ABORTED', 'request cancelled while waiting for a tracker slot');
}
