import { systemClock, type Clock, type TimerHandle } from '@mainline/rate';
import { RAWSERVER_DEFAULTS as DEFAULTS } from './defaults.js';
import { checkNonNegative, RawServerError } from './errors.js';
import { isLoopback, type PeerSocket } from './peer-socket.js';

/** Limits on the connections of a host, whatever transport carries them. */
export interface ConnectionLimits {
  /** Inactivity timeout in ms (default 300 000). 0 disables it. */
  timeoutMs?: number;
  /** Period of the inactivity sweep in ms (default 60 000). */
  timeoutCheckIntervalMs?: number;
  /** Incoming connections are refused while this many sockets are open (default 55). */
  maxAllowIn?: number;
  /**
   * Most sockets (incoming and outgoing, connecting or open) to or from one IP address (default 8;
   * 0 = no cap): an incoming connection from an address at the cap is refused. Loopback addresses
   * are exempt unless `limitLoopback` (local swarms and tests run many peers on 127.0.0.1).
   */
  maxConnectionsPerIp?: number;
  /** Apply `maxConnectionsPerIp` to loopback addresses (127.0.0.0/8, ::1) too (default false). */
  limitLoopback?: boolean;
}

export interface ConnectionGateOptions extends ConnectionLimits {
  /** Where time and the sweep's timer come from (default: the system clock). */
  clock?: Clock;
  /**
   * The host is full (`maxAllowIn`) and a new connection came in: return an incoming socket to
   * close in its favour (it is closed with 'evicted'), or undefined to refuse the newcomer.
   */
  onFull?: () => PeerSocket | undefined;
  /** An `onFull` that threw (default: print to stderr). */
  onError?: (error: unknown, context: string) => void;
}

/** The names of the ConnectionLimits fields (a RawServer given a gate must not be given these too). */
export const CONNECTION_LIMIT_OPTIONS = ['timeoutMs', 'timeoutCheckIntervalMs', 'maxAllowIn', 'maxConnectionsPerIp', 'limitLoopback'] as const;

/**
 * Admission and idle sweep for every connection of a host, whatever its transport: a cap on open
 * sockets (`maxAllowIn`, with eviction through `onFull`), a cap per IP address, and the 300 s
 * inactivity timeout checked every 60 s (mainline's RawServer). A RawServer makes its own; a
 * peer-wire hub makes one and shares it among its transports, so TCP, in-memory and later uTP
 * connections count against the same limits.
 */
export class ConnectionGate {
  readonly clock: Clock;
  #maxAllowIn: number;
  private readonly timeoutMs: number;
  private readonly maxPerIp: number;
  private readonly limitLoopback: boolean;
  private readonly onFull: (() => PeerSocket | undefined) | undefined;
  private readonly onError: (error: unknown, context: string) => void;
  private readonly sockets = new Set<PeerSocket>();
  /** Sockets (connecting or open) per remote address, for maxConnectionsPerIp. */
  private readonly perIp = new Map<string, number>();
  private sweepTimer: TimerHandle | undefined;
  private refused = 0;
  private closedValue = false;

  constructor(options: ConnectionGateOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.timeoutMs = checkNonNegative('timeoutMs', options.timeoutMs ?? DEFAULTS.timeoutMs);
    const interval = checkNonNegative('timeoutCheckIntervalMs', options.timeoutCheckIntervalMs ?? DEFAULTS.timeoutCheckIntervalMs);
    if (this.timeoutMs > 0 && interval === 0) {
      throw new RawServerError('BAD_ARGUMENT', 'timeoutCheckIntervalMs must be > 0 when timeoutMs is set');
    }
    this.#maxAllowIn = checkNonNegative('maxAllowIn', options.maxAllowIn ?? DEFAULTS.maxAllowIn, true);
    this.maxPerIp = checkNonNegative('maxConnectionsPerIp', options.maxConnectionsPerIp ?? DEFAULTS.maxConnectionsPerIp, true);
    this.limitLoopback = options.limitLoopback ?? false;
    this.onFull = options.onFull;
    this.onError = options.onError ?? ((error, context) => console.error(`rawserver: ${context}:`, error));
    if (this.timeoutMs > 0) this.scheduleSweep(interval);
  }

  /** Incoming connections are refused while this many sockets are open. */
  get maxAllowIn(): number {
    return this.#maxAllowIn;
  }

  /**
   * Changes the cap while running (a client's global peer limit). Nothing is closed here: sockets
   * over a lowered cap are the host's to choose and close (it knows which are useful).
   */
  setMaxAllowIn(max: number): void {
    this.#maxAllowIn = checkNonNegative('maxAllowIn', max, true);
  }

  /** Sockets that may still be opened before the cap: what dialling out has room for. */
  get room(): number {
    return Math.max(0, this.#maxAllowIn - this.sockets.size);
  }

  /**
   * May one more incoming connection from `address` come in? No when the address is at its cap;
   * when the host is full, only if `onFull` names an incoming socket, which is closed ('evicted').
   * A refusal is counted.
   */
  admit(address: string): boolean {
    if (!this.closedValue && !this.overIpCap(address) && this.makeRoom()) return true;
    this.refused++;
    return false;
  }

  /** Counts a connection refused for a reason of the caller's (no handler, shutting down). */
  countRefusal(): void {
    this.refused++;
  }

  /** Starts counting a socket (idempotent): incoming once admitted, outgoing once dialling. */
  track(socket: PeerSocket): void {
    if (this.sockets.has(socket)) return;
    this.sockets.add(socket);
    this.perIp.set(socket.remoteAddress, (this.perIp.get(socket.remoteAddress) ?? 0) + 1);
  }

  /** Stops counting a closed socket (idempotent). */
  release(socket: PeerSocket): void {
    if (!this.sockets.delete(socket)) return;
    const n = (this.perIp.get(socket.remoteAddress) ?? 1) - 1;
    if (n > 0) this.perIp.set(socket.remoteAddress, n);
    else this.perIp.delete(socket.remoteAddress);
  }

  has(socket: PeerSocket): boolean {
    return this.sockets.has(socket);
  }

  /** Sockets counted now (connecting or open, every transport): what `maxAllowIn` counts. */
  get count(): number {
    return this.sockets.size;
  }

  /** Sockets (connecting or open) to or from `address`. */
  connectionsFrom(address: string): number {
    return this.perIp.get(address) ?? 0;
  }

  /** Incoming connections refused so far (full, over the per-IP cap, or refused by the caller). */
  get refusedCount(): number {
    return this.refused;
  }

  /** Stops the sweep and admits nobody from now on (sockets are their transports' to close). */
  close(): void {
    this.closedValue = true;
    if (this.sweepTimer !== undefined) this.clock.clearTimeout(this.sweepTimer);
    this.sweepTimer = undefined;
  }

  private overIpCap(address: string): boolean {
    if (this.maxPerIp === 0 || (!this.limitLoopback && isLoopback(address))) return false;
    return (this.perIp.get(address) ?? 0) >= this.maxPerIp;
  }

  /** True when there is room for one more incoming socket, after evicting one if `onFull` names one. */
  private makeRoom(): boolean {
    if (this.sockets.size < this.#maxAllowIn) return true;
    if (!this.onFull) return false;
    let victim: PeerSocket | undefined;
    try {
      victim = this.onFull();
    } catch (err) {
      this.report(err, 'onFull');
    }
    if (!victim || !victim.incoming || !this.sockets.has(victim)) return false;
    victim.close('evicted');
    return this.sockets.size < this.#maxAllowIn;
  }

  private scheduleSweep(interval: number): void {
    this.sweepTimer = this.clock.setTimeout(() => {
      this.sweepTimer = undefined;
      if (this.closedValue) return;
      this.scheduleSweep(interval);
      this.sweep();
    }, interval);
  }

  /** Closes every socket that has received nothing for more than `timeoutMs`. */
  private sweep(): void {
    const cutoff = this.clock.now() - this.timeoutMs;
    for (const socket of [...this.sockets]) {
      if (socket.lastReceivedAt < cutoff) socket.close('timeout');
    }
  }

  private report(error: unknown, context: string): void {
    try {
      this.onError(error, context);
    } catch {
      // An error reporter that throws must not take the host down.
    }
  }
}
