import { isIPv6 } from 'node:net';
import { systemClock, type Clock } from '@mainline/rate';

export interface AuthLimiterOptions {
  clock?: Pick<Clock, 'now'>;
  /** Wrong passwords an address may send before it has to wait (default 5). */
  freeFailures?: number;
  /** The first wait; each further failure doubles it (default 1 s). */
  baseDelayMs?: number;
  /** The longest wait, i.e. the lockout (default 15 min). */
  maxDelayMs?: number;
  /** An address that failed nothing for this long starts afresh (default 1 h). */
  forgetAfterMs?: number;
  /** Most addresses remembered; the least recently failed go first (default 4096). */
  maxTracked?: number;
}

interface Entry {
  failures: number;
  lastFailure: number;
  /** Until when the address gets 429 (clock ms). */
  until: number;
}

/**
 * Rate limit for HTTP basic auth, per client address: a few wrong passwords are free, then every
 * further one locks the address out for twice as long as the one before (1 s, 2 s, … up to
 * 15 min), so guessing goes from thousands a second to under 20 in the first hour and 4 an hour after. Only the address
 * that failed waits: a TCP peer cannot forge its source address, so nobody can lock others out.
 * IPv6 clients count per /64 (one host or household usually holds a whole /64). A success
 * clears the address.
 */
export class AuthLimiter {
  readonly #clock: Pick<Clock, 'now'>;
  readonly #free: number;
  readonly #base: number;
  readonly #max: number;
  readonly #forget: number;
  readonly #maxTracked: number;
  readonly #entries = new Map<string, Entry>(); // insertion order = least recently failed first

  constructor(options: AuthLimiterOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#free = options.freeFailures ?? 5;
    this.#base = options.baseDelayMs ?? 1000;
    this.#max = options.maxDelayMs ?? 15 * 60_000;
    this.#forget = options.forgetAfterMs ?? 60 * 60_000;
    this.#maxTracked = options.maxTracked ?? 4096;
  }

  /** Addresses remembered now. */
  get size(): number {
    return this.#entries.size;
  }

  /** How long `address` must wait before its credentials are looked at again (0: now). */
  retryAfterMs(address: string): number {
    const e = this.#current(clientKey(address));
    return e === undefined ? 0 : Math.max(0, e.until - this.#clock.now());
  }

  /** A wrong password from `address`. */
  failed(address: string): void {
    const key = clientKey(address);
    const now = this.#clock.now();
    const e = this.#current(key) ?? { failures: 0, lastFailure: now, until: 0 };
    e.failures++;
    e.lastFailure = now;
    const over = e.failures - this.#free;
    if (over > 0) e.until = now + Math.min(this.#max, this.#base * 2 ** Math.min(over - 1, 40));
    this.#entries.delete(key);
    this.#entries.set(key, e);
    this.#trim(now);
  }

  succeeded(address: string): void {
    this.#entries.delete(clientKey(address));
  }

  #current(key: string): Entry | undefined {
    const e = this.#entries.get(key);
    if (e !== undefined && this.#stale(e, this.#clock.now())) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  #stale(e: Entry, now: number): boolean {
    return now >= e.until && now - e.lastFailure >= this.#forget;
  }

  #trim(now: number): void {
    if (this.#entries.size <= this.#maxTracked) return;
    for (const [key, e] of this.#entries) if (this.#stale(e, now)) this.#entries.delete(key);
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxTracked) break;
      this.#entries.delete(key);
    }
  }
}

/** The unit a limit applies to: an IPv4 address (also when IPv4-mapped), or an IPv6 /64. */
export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
