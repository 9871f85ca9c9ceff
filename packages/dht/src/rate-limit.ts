// Incoming queries per source IP: a fixed window count, with a block for IPs that exceed it
// (libtorrent's dos_blocker does the same). The table of IPs is bounded: the least recently
// seen entry goes first, so a spoofed flood costs memory only up to the cap.

export interface RateLimitOptions {
  /** Queries allowed per IP per window (default 50: libtorrent's 5/s over 10 s). */
  readonly perIp?: number;
  readonly windowMs?: number;
  /** How long an IP that went over is ignored (default 5 min). */
  readonly blockMs?: number;
  /** IPs tracked at most (default 4096). */
  readonly maxIps?: number;
}

interface Entry {
  windowStart: number;
  count: number;
  blockedUntil: number;
}

export class QueryRateLimiter {
  readonly perIp: number;
  readonly windowMs: number;
  readonly blockMs: number;
  readonly maxIps: number;
  readonly #ips = new Map<string, Entry>();

  constructor(options: RateLimitOptions = {}) {
    this.perIp = options.perIp ?? 50;
    this.windowMs = options.windowMs ?? 10_000;
    this.blockMs = options.blockMs ?? 5 * 60_000;
    this.maxIps = options.maxIps ?? 4096;
  }

  get tracked(): number {
    return this.#ips.size;
  }

  /** Counts one query from `ip`; false when it must be dropped. */
  allow(ip: string, now: number): boolean {
    let e = this.#ips.get(ip);
    if (e) this.#ips.delete(ip); // re-insert below: Map order is recency
    else {
      e = { windowStart: now, count: 0, blockedUntil: 0 };
      if (this.#ips.size >= this.maxIps) this.#ips.delete(this.#ips.keys().next().value!);
    }
    this.#ips.set(ip, e);
    if (now < e.blockedUntil) return false;
    if (now - e.windowStart >= this.windowMs) {
      e.windowStart = now;
      e.count = 0;
    }
    if (++e.count <= this.perIp) return true;
    e.blockedUntil = now + this.blockMs;
    return false;
  }
}
