// Our outstanding queries: 2-byte transaction ids, matched against the address we sent to, each
// with a deadline, and a cap on how many are in flight.
import type { Clock, TimerHandle } from '@mainline/rate';
import { addressKey, type Address } from './compact.js';
import type { ErrorMessage, Response } from './krpc.js';

export type QueryOutcome =
  | { readonly ok: true; readonly response: Response }
  | { readonly ok: false; readonly reason: 'timeout' | 'closed' | 'overloaded' | 'unsendable' }
  | { readonly ok: false; readonly reason: 'error'; readonly error: ErrorMessage };

interface Pending {
  readonly key: string;
  readonly timer: TimerHandle;
  readonly done: (outcome: QueryOutcome) => void;
}

export class Transactions {
  readonly #clock: Clock;
  readonly #pending = new Map<number, Pending>();
  readonly maxPending: number;
  #next: number;

  constructor(clock: Clock, maxPending: number) {
    this.#clock = clock;
    this.maxPending = Math.min(maxPending, 60_000);
    this.#next = Math.floor(Math.random() * 0x10000);
  }

  get size(): number {
    return this.#pending.size;
  }

  /**
   * Opens a transaction to `to`; `done` runs exactly once (answer, error, timeout or close).
   * Returns the transaction id, or undefined (after calling `done` with `overloaded`) when too many are open.
   */
  open(to: Address, timeoutMs: number, done: (outcome: QueryOutcome) => void): Uint8Array | undefined {
    if (this.#pending.size >= this.maxPending) {
      done({ ok: false, reason: 'overloaded' });
      return undefined;
    }
    while (this.#pending.has(this.#next)) this.#next = (this.#next + 1) & 0xffff;
    const t = this.#next;
    this.#next = (this.#next + 1) & 0xffff;
    const timer = this.#clock.setTimeout(() => this.#settle(t, { ok: false, reason: 'timeout' }), timeoutMs);
    this.#pending.set(t, { key: addressKey(to), timer, done });
    return Uint8Array.of(t >> 8, t & 0xff);
  }

  /** Settles the transaction `t` with what `from` sent; false if no such transaction is open for `from`. */
  answer(t: Uint8Array, from: Address, outcome: QueryOutcome): boolean {
    if (t.length !== 2) return false;
    const n = (t[0]! << 8) | t[1]!;
    const p = this.#pending.get(n);
    // A reply from another address than we asked is not an answer (it may be spoofed).
    if (!p || p.key !== addressKey(from)) return false;
    this.#settle(n, outcome);
    return true;
  }

  /** Fails a just-opened transaction (e.g. the datagram could not be sent). */
  cancel(t: Uint8Array, reason: 'unsendable' | 'closed'): void {
    if (t.length === 2) this.#settle((t[0]! << 8) | t[1]!, { ok: false, reason });
  }

  closeAll(): void {
    for (const t of [...this.#pending.keys()]) this.#settle(t, { ok: false, reason: 'closed' });
  }

  #settle(t: number, outcome: QueryOutcome): void {
    const p = this.#pending.get(t);
    if (!p) return;
    this.#pending.delete(t);
    this.#clock.clearTimeout(p.timer);
    p.done(outcome);
  }
}
