import { createServer, isIP, Socket, type AddressInfo, type ConnectOpts, type Server, type SocketConstructorOpts } from 'node:net';
import { systemClock, type Clock, type TimerHandle } from '@mainline/rate';
import { checkNonNegative, checkPort, RawServerError } from './errors.js';
import { isLoopback, normalizeAddress, SingleSocket, type SocketHandler, type SocketOwner, type SocketState } from './single-socket.js';

/** mainline 3.x defaults (download.py), plus the Node-era additions. */
export const RAWSERVER_DEFAULTS = {
  /** Close a socket after this long with nothing received. */
  timeoutMs: 300_000,
  /** How often that is checked. */
  timeoutCheckIntervalMs: 60_000,
  /** Refuse incoming connections while this many sockets are open. */
  maxAllowIn: 55,
  /** Most outgoing connects in progress at once; further dials wait their turn. (Not in mainline.) */
  maxHalfOpen: 20,
  /** Give up an outgoing connect after this long. (Not in mainline: it waited for the OS.) */
  connectTimeoutMs: 15_000,
  /** A socket whose send queue reaches this many bytes is congested. (mainline waited for empty.) */
  writeThreshold: 256 * 1024,
  /**
   * A send queue may never hold more than this (default: the larger of 2 MiB and 4 × the
   * threshold); a socket that would go past it is closed ('write-overflow'). (Not in mainline.)
   */
  maxWriteQueue: 2 * 1024 * 1024,
  /**
   * Listen backlog: Node's own default (mainline used 5, which drops bursts of honest connects;
   * the kernel caps it at net.core.somaxconn).
   */
  backlog: 511,
  /** Most sockets open to or from one IP address; incoming ones beyond it are refused. (Not in mainline.) */
  maxConnectionsPerIp: 8,
  /** Port range. */
  minPort: 6881,
  maxPort: 6999,
} as const;

export interface RawServerOptions {
  /** Where time and timers come from (default: the system clock). */
  clock?: Clock;
  /** Inactivity timeout in ms (default 300 000). 0 disables it. */
  timeoutMs?: number;
  /** Period of the inactivity sweep in ms (default 60 000). */
  timeoutCheckIntervalMs?: number;
  /** Incoming connections are refused while this many sockets are open (default 55). */
  maxAllowIn?: number;
  /** Most concurrent outgoing connects (default 20); more dials are queued in order. */
  maxHalfOpen?: number;
  /** Outgoing connect timeout in ms (default 15 000). */
  connectTimeoutMs?: number;
  /** Send-queue size in bytes at which a socket counts as congested (default 256 KiB). */
  writeThreshold?: number;
  /**
   * Hard cap in bytes on a socket's send queue (default max(2 MiB, 4 × writeThreshold)). Past the
   * threshold only what the peer provokes is still written (rejects, replies); a peer that does not
   * read would make that grow without end, so the socket is closed with 'write-overflow'.
   */
  maxWriteQueue?: number;
  /**
   * Most sockets (incoming and outgoing, connecting or open) to or from one IP address (default 8;
   * 0 = no cap): an incoming connection from an address at the cap is refused. Loopback addresses
   * are exempt unless `limitLoopback` (local swarms and tests run many peers on 127.0.0.1).
   */
  maxConnectionsPerIp?: number;
  /** Apply `maxConnectionsPerIp` to loopback addresses (127.0.0.0/8, ::1) too (default false). */
  limitLoopback?: boolean;
  /**
   * The server is full (`maxAllowIn`) and a new connection came in: return an incoming socket to
   * close in its favour (it is closed with 'evicted'), or undefined to refuse the newcomer.
   */
  onFull?: () => SingleSocket | undefined;
  /**
   * Outgoing connections read into one buffer of this many bytes, shared by all of them, instead
   * of a new buffer per read (default 0: off). Fewer, larger reads and no garbage per read; the
   * chunk given to `onData` is then overwritten after the call returns (`socket.transientReads`).
   */
  sharedReadBufferSize?: number;
  /** Queue size at or below which a congested socket is flushed again (default threshold / 2). */
  lowWaterMark?: number;
  /** Local address for listening and for outgoing connects ('' = any, the default). */
  bind?: string;
  /**
   * An incoming connection was accepted: return the handler for it, or undefined to refuse it.
   * Without this option every incoming connection is refused.
   */
  onIncoming?: (socket: SingleSocket) => SocketHandler | undefined;
  /**
   * A scheduled task or a socket handler threw. The reactor goes on (the socket, if any, is
   * dropped). Default: print to stderr, as mainline printed the traceback.
   */
  onError?: (error: unknown, context: string) => void;
}

export interface ListenOptions {
  /** First port to try (default 6881). */
  minPort?: number;
  /** Last port to try (default 6999). `minPort` 0 picks one ephemeral port. */
  maxPort?: number;
  /**
   * Addresses to listen on, all on the same port (e.g. ['127.0.0.1', '::1']). Default: the `bind`
   * option if set, else '::' dual-stack (IPv4 and IPv6), falling back to '0.0.0.0' without IPv6.
   */
  hosts?: readonly string[];
  /** Listen backlog (default 511, Node's default; mainline used 5). */
  backlog?: number;
}

export interface ListenResult {
  port: number;
  addresses: AddressInfo[];
}

export interface ConnectOptions {
  /** Overrides the server's connect timeout for this dial. */
  connectTimeoutMs?: number;
}

/** An opaque handle for a task scheduled with `addTask`. */
export interface TaskHandle {
  readonly cancelled: boolean;
}

interface Task extends TaskHandle {
  cancelled: boolean;
  timer: TimerHandle | undefined;
}

const PORT_TAKEN = new Set(['EADDRINUSE', 'EACCES']);
const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EPROTONOSUPPORT']);

function listenOnce(host: string, port: number, backlog: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ pauseOnConnect: false, noDelay: true });
    const onError = (err: Error): void => {
      server.close();
      reject(err);
    };
    server.once('error', onError);
    server.listen({ host, port, backlog, ipv6Only: false, exclusive: true }, () => {
      server.removeListener('error', onError);
      resolve(server);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

/**
 * mainline's RawServer on Node's event loop: one listening port (a range is tried in order), capped
 * incoming and half-open outgoing connections, an inactivity sweep, tasks on an injectable clock,
 * and a `close()` that leaves no socket, server or timer behind.
 */
export class RawServer {
  readonly clock: Clock;
  private readonly timeoutMs: number;
  private readonly timeoutCheckIntervalMs: number;
  private readonly maxAllowIn: number;
  private readonly maxHalfOpen: number;
  private readonly connectTimeoutMs: number;
  private readonly bind: string;
  private readonly onIncoming: ((socket: SingleSocket) => SocketHandler | undefined) | undefined;
  private readonly onFull: (() => SingleSocket | undefined) | undefined;
  private readonly maxPerIp: number;
  private readonly limitLoopback: boolean;
  /** Sockets (connecting or open) per remote address, for maxConnectionsPerIp. */
  private readonly perIp = new Map<string, number>();
  private readonly sharedReadBuffer: Buffer | undefined;
  private readonly onError: (error: unknown, context: string) => void;
  private readonly owner: SocketOwner;

  private readonly sockets = new Set<SingleSocket>(); // connecting or open
  private readonly dialQueue: { socket: SingleSocket; host: string; port: number; timeoutMs: number }[] = [];
  private halfOpen = 0;
  private servers: Server[] = [];
  private readonly tasks = new Set<Task>();
  private readonly repeating = new Set<TaskHandle & { cancel(): void }>();
  private sweepTask: TaskHandle | undefined;
  private closedValue = false;
  private refused = 0;
  private listenResult: ListenResult | undefined;

  constructor(options: RawServerOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.timeoutMs = checkNonNegative('timeoutMs', options.timeoutMs ?? RAWSERVER_DEFAULTS.timeoutMs);
    this.timeoutCheckIntervalMs = checkNonNegative(
      'timeoutCheckIntervalMs',
      options.timeoutCheckIntervalMs ?? RAWSERVER_DEFAULTS.timeoutCheckIntervalMs,
    );
    if (this.timeoutMs > 0 && this.timeoutCheckIntervalMs === 0) {
      throw new RawServerError('BAD_ARGUMENT', 'timeoutCheckIntervalMs must be > 0 when timeoutMs is set');
    }
    this.maxAllowIn = checkNonNegative('maxAllowIn', options.maxAllowIn ?? RAWSERVER_DEFAULTS.maxAllowIn, true);
    this.maxHalfOpen = checkNonNegative('maxHalfOpen', options.maxHalfOpen ?? RAWSERVER_DEFAULTS.maxHalfOpen, true);
    if (this.maxHalfOpen === 0) throw new RawServerError('BAD_ARGUMENT', 'maxHalfOpen must be at least 1');
    this.connectTimeoutMs = checkNonNegative('connectTimeoutMs', options.connectTimeoutMs ?? RAWSERVER_DEFAULTS.connectTimeoutMs);
    const writeThreshold = checkNonNegative('writeThreshold', options.writeThreshold ?? RAWSERVER_DEFAULTS.writeThreshold, true);
    if (writeThreshold === 0) throw new RawServerError('BAD_ARGUMENT', 'writeThreshold must be at least 1');
    const lowWaterMark = checkNonNegative('lowWaterMark', options.lowWaterMark ?? Math.floor(writeThreshold / 2), true);
    if (lowWaterMark >= writeThreshold) throw new RawServerError('BAD_ARGUMENT', 'lowWaterMark must be below writeThreshold');
    const maxWriteQueue = checkNonNegative(
      'maxWriteQueue',
      options.maxWriteQueue ?? Math.max(RAWSERVER_DEFAULTS.maxWriteQueue, 4 * writeThreshold),
      true,
    );
    if (maxWriteQueue <= writeThreshold) throw new RawServerError('BAD_ARGUMENT', 'maxWriteQueue must be above writeThreshold');
    this.maxPerIp = checkNonNegative('maxConnectionsPerIp', options.maxConnectionsPerIp ?? RAWSERVER_DEFAULTS.maxConnectionsPerIp, true);
    this.limitLoopback = options.limitLoopback ?? false;
    this.onFull = options.onFull;
    this.bind = options.bind ?? '';
    if (this.bind !== '' && isIP(this.bind) === 0) {
      throw new RawServerError('BAD_ARGUMENT', `bind must be an IP address or '', got ${JSON.stringify(this.bind)}`);
    }
    this.onIncoming = options.onIncoming;
    const shared = checkNonNegative('sharedReadBufferSize', options.sharedReadBufferSize ?? 0, true);
    this.sharedReadBuffer = shared > 0 ? Buffer.allocUnsafeSlow(shared) : undefined;
    this.onError =
      options.onError ??
      ((error, context) => {
        console.error(`rawserver: ${context}:`, error);
      });
    this.owner = {
      now: () => this.clock.now(),
      reportError: (error, context) => this.reportError(error, context),
      socketClosed: (socket, was) => this.socketClosed(socket, was),
      writeThreshold,
      lowWaterMark,
      maxWriteQueue,
    };
    if (this.timeoutMs > 0) this.scheduleSweep();
  }

  // ---------------------------------------------------------------- listening

  /**
   * Listens on the first port of [minPort, maxPort] that every host in `hosts` can bind. A port taken
   * on any host moves on to the next port; other bind errors fail at once.
   * @throws RawServerError NO_FREE_PORT, LISTEN_FAILED, ALREADY_LISTENING, CLOSED, BAD_ARGUMENT
   */
  async listen(options: ListenOptions = {}): Promise<ListenResult> {
    if (this.closedValue) throw new RawServerError('CLOSED', 'the server is closed');
    if (this.listenResult || this.servers.length > 0) throw new RawServerError('ALREADY_LISTENING', 'already listening');
    const minPort = checkPort('minPort', options.minPort ?? RAWSERVER_DEFAULTS.minPort);
    const maxPort = checkPort('maxPort', options.maxPort ?? (options.minPort === 0 ? 0 : RAWSERVER_DEFAULTS.maxPort));
    if (maxPort < minPort) throw new RawServerError('BAD_ARGUMENT', `maxPort ${maxPort} is below minPort ${minPort}`);
    const backlog = checkNonNegative('backlog', options.backlog ?? RAWSERVER_DEFAULTS.backlog, true);
    const explicit = options.hosts ?? (this.bind !== '' ? [this.bind] : undefined);
    if (explicit) {
      if (explicit.length === 0) throw new RawServerError('BAD_ARGUMENT', 'hosts must not be empty');
      for (const h of explicit) {
        if (isIP(h) === 0) throw new RawServerError('BAD_ARGUMENT', `listen host must be an IP address, got ${JSON.stringify(h)}`);
      }
      return this.listenRange(explicit, minPort, maxPort, backlog);
    }
    try {
      return await this.listenRange(['::'], minPort, maxPort, backlog);
    } catch (err) {
      const code = ((err as RawServerError).cause as NodeJS.ErrnoException | undefined)?.code;
      if (err instanceof RawServerError && err.code === 'LISTEN_FAILED' && code && NO_IPV6.has(code)) {
        return this.listenRange(['0.0.0.0'], minPort, maxPort, backlog);
      }
      throw err;
    }
  }

  private async listenRange(hosts: readonly string[], minPort: number, maxPort: number, backlog: number): Promise<ListenResult> {
    let lastTaken: unknown;
    // An ephemeral first port (0) may collide on a later host: retry a few times.
    const attempts = minPort === 0 ? 5 : maxPort - minPort + 1;
    for (let i = 0; i < attempts; i++) {
      const port = minPort === 0 ? 0 : minPort + i;
      const bound: Server[] = [];
      let actual = port;
      try {
        for (const host of hosts) {
          const server = await listenOnce(host, actual, backlog);
          bound.push(server);
          actual = (server.address() as AddressInfo).port;
          if (this.closedValue) throw new RawServerError('CLOSED', 'the server was closed while listening');
        }
      } catch (err) {
        await Promise.all(bound.map(closeServer));
        if (err instanceof RawServerError) throw err;
        const code = (err as NodeJS.ErrnoException).code;
        if (code && PORT_TAKEN.has(code)) {
          lastTaken = err;
          continue;
        }
        throw new RawServerError('LISTEN_FAILED', `couldn't listen on ${hosts.join(', ')} port ${actual}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      for (const server of bound) server.on('connection', (s) => this.accept(s));
      this.servers = bound;
      this.listenResult = { port: actual, addresses: bound.map((s) => s.address() as AddressInfo) };
      return this.listenResult;
    }
    throw new RawServerError('NO_FREE_PORT', `Couldn't listen - no free port in ${minPort}-${maxPort} on ${hosts.join(', ')}`, {
      cause: lastTaken,
    });
  }

  /** The bound port and addresses, once `listen` has succeeded. */
  get listening(): ListenResult | undefined {
    return this.listenResult;
  }

  private accept(node: Socket): void {
    const address = normalizeAddress(node.remoteAddress);
    if (this.closedValue || !this.onIncoming || this.overIpCap(address) || !this.makeRoom()) {
      this.refused++;
      node.on('error', () => undefined);
      node.destroy();
      return;
    }
    const placeholder: SocketHandler = { onData: () => undefined, onClose: () => undefined };
    const socket = new SingleSocket(this.owner, placeholder, true, node.remoteAddress ?? '', node.remotePort ?? 0, 'open');
    this.track(socket);
    socket.attach(node);
    let handler: SocketHandler | undefined;
    try {
      handler = this.onIncoming(socket);
    } catch (err) {
      this.reportError(err, 'onIncoming');
    }
    if (!handler) {
      this.refused++;
      socket.finish('local');
      return;
    }
    socket.setHandler(handler);
  }

  private overIpCap(address: string): boolean {
    if (this.maxPerIp === 0 || (!this.limitLoopback && isLoopback(address))) return false;
    return (this.perIp.get(address) ?? 0) >= this.maxPerIp;
  }

  /** True when there is room for one more incoming socket, after evicting one if `onFull` names one. */
  private makeRoom(): boolean {
    if (this.sockets.size < this.maxAllowIn) return true;
    if (!this.onFull) return false;
    let victim: SingleSocket | undefined;
    try {
      victim = this.onFull();
    } catch (err) {
      this.reportError(err, 'onFull');
    }
    if (!victim || !victim.incoming || !this.sockets.has(victim)) return false;
    victim.finish('evicted');
    return this.sockets.size < this.maxAllowIn;
  }

  private track(socket: SingleSocket): void {
    this.sockets.add(socket);
    this.perIp.set(socket.remoteAddress, (this.perIp.get(socket.remoteAddress) ?? 0) + 1);
  }

  // ---------------------------------------------------------------- dialling

  /**
   * Opens an outgoing connection (from the `bind` address) and returns its socket at once. Writes
   * made before the connect completes are held and sent when it does. While `maxHalfOpen` connects
   * are in progress, the dial waits in a FIFO queue (state 'queued').
   * @throws RawServerError CLOSED or BAD_ARGUMENT
   */
  connect(host: string, port: number, handler: SocketHandler, options: ConnectOptions = {}): SingleSocket {
    if (this.closedValue) throw new RawServerError('CLOSED', 'the server is closed');
    if (typeof host !== 'string' || host === '') throw new RawServerError('BAD_ARGUMENT', 'host must be a non-empty string');
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RawServerError('BAD_ARGUMENT', `port must be an integer in [1, 65535], got ${String(port)}`);
    }
    const timeoutMs = checkNonNegative('connectTimeoutMs', options.connectTimeoutMs ?? this.connectTimeoutMs);
    const queued = this.halfOpen >= this.maxHalfOpen;
    const socket = new SingleSocket(this.owner, handler, false, host, port, queued ? 'queued' : 'connecting', this.sharedReadBuffer !== undefined);
    if (queued) this.dialQueue.push({ socket, host, port, timeoutMs });
    else this.startDial(socket, host, port, timeoutMs);
    return socket;
  }

  private startDial(socket: SingleSocket, host: string, port: number, timeoutMs: number): void {
    this.halfOpen++;
    socket.setState('connecting');
    socket.lastReceivedAt = this.clock.now();
    this.track(socket);
    const family = isIP(host);
    const localAddress = this.bind !== '' && (family === 0 || family === isIP(this.bind)) ? this.bind : undefined;
    const shared = this.sharedReadBuffer;
    // Reads into the shared buffer are delivered synchronously, so sockets can take turns with it.
    // (Node honours onread only in the constructor; @types/node 20 lists it for connect() alone.)
    const callback = (n: number): boolean => {
      socket.received((shared as Buffer).subarray(0, n));
      return true;
    };
    const options: SocketConstructorOpts & ConnectOpts = shared ? { onread: { buffer: shared, callback } } : {};
    const node = new Socket(options);
    socket.attach(node);
    node.once('connect', () => {
      if (socket.state !== 'connecting') return;
      this.connectDone(socket);
      socket.setState('open');
      const h = socket.handler;
      if (h.onConnect) socket.call(() => h.onConnect?.(socket), 'onConnect');
    });
    if (timeoutMs > 0) {
      socket.connectTimer = this.clock.setTimeout(() => {
        socket.connectTimer = undefined;
        if (socket.state === 'connecting') socket.finish('connect-timeout');
      }, timeoutMs);
    }
    node.connect(localAddress ? { host, port, localAddress } : { host, port });
    socket.flushPending();
  }

  private connectDone(socket: SingleSocket): void {
    if (socket.connectTimer !== undefined) {
      this.clock.clearTimeout(socket.connectTimer as TimerHandle);
      socket.connectTimer = undefined;
    }
    this.halfOpen--;
    this.pumpDials();
  }

  private pumpDials(): void {
    while (!this.closedValue && this.halfOpen < this.maxHalfOpen && this.dialQueue.length > 0) {
      const next = this.dialQueue.shift();
      if (next && next.socket.state === 'queued') this.startDial(next.socket, next.host, next.port, next.timeoutMs);
    }
  }

  private socketClosed(socket: SingleSocket, was: SocketState): void {
    if (this.sockets.delete(socket)) {
      const n = (this.perIp.get(socket.remoteAddress) ?? 1) - 1;
      if (n > 0) this.perIp.set(socket.remoteAddress, n);
      else this.perIp.delete(socket.remoteAddress);
    }
    if (was === 'queued') {
      const i = this.dialQueue.findIndex((d) => d.socket === socket);
      if (i >= 0) this.dialQueue.splice(i, 1);
    } else if (was === 'connecting') {
      this.connectDone(socket);
    }
  }

  // ---------------------------------------------------------------- tasks

  /**
   * Runs `fn` once, `delayMs` from now on the server's clock (mainline's add_task). An exception is
   * reported to `onError` and the reactor goes on. Cancelled by `cancelTask` or `close()`.
   */
  addTask(fn: () => void, delayMs: number): TaskHandle {
    const task: Task = { cancelled: false, timer: undefined };
    if (this.closedValue) {
      task.cancelled = true;
      return task;
    }
    this.tasks.add(task);
    task.timer = this.clock.setTimeout(() => {
      this.tasks.delete(task);
      if (task.cancelled) return;
      task.cancelled = true;
      try {
        fn();
      } catch (err) {
        this.reportError(err, 'task');
      }
    }, Math.max(0, delayMs));
    return task;
  }

  /** Runs `fn` every `intervalMs` until cancelled (the handle is reused for each run). */
  addRepeatingTask(fn: () => void, intervalMs: number): TaskHandle {
    checkNonNegative('intervalMs', intervalMs);
    if (intervalMs === 0) throw new RawServerError('BAD_ARGUMENT', 'intervalMs must be > 0');
    const handle = { cancelled: false, current: undefined as TaskHandle | undefined };
    const run = (): void => {
      if (handle.cancelled) return;
      handle.current = this.addTask(run, intervalMs);
      fn();
    };
    handle.current = this.addTask(run, intervalMs);
    const outer: TaskHandle & { cancel(): void } = {
      get cancelled() {
        return handle.cancelled;
      },
      cancel: () => {
        handle.cancelled = true;
        if (handle.current) this.cancelTask(handle.current);
      },
    };
    this.repeating.add(outer);
    return outer;
  }

  /** Cancels a task from `addTask` or `addRepeatingTask`; harmless if it already ran. */
  cancelTask(handle: TaskHandle): void {
    const rep = handle as TaskHandle & { cancel?: () => void };
    if (typeof rep.cancel === 'function' && this.repeating.has(rep as TaskHandle & { cancel(): void })) {
      this.repeating.delete(rep as TaskHandle & { cancel(): void });
      rep.cancel();
      return;
    }
    const task = handle as Task;
    if (!this.tasks.has(task)) return;
    this.tasks.delete(task);
    task.cancelled = true;
    if (task.timer !== undefined) this.clock.clearTimeout(task.timer);
  }

  private scheduleSweep(): void {
    this.sweepTask = this.addRepeatingTask(() => this.sweep(), this.timeoutCheckIntervalMs);
  }

  /** Closes every socket that has received nothing for more than `timeoutMs` (runs every `timeoutCheckIntervalMs`). */
  private sweep(): void {
    const cutoff = this.clock.now() - this.timeoutMs;
    for (const socket of [...this.sockets]) {
      if (socket.lastReceivedAt < cutoff) socket.finish('timeout');
    }
  }

  // ---------------------------------------------------------------- state

  /** Sockets connecting or open (what `maxAllowIn` counts). */
  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Outgoing connects in progress. */
  get halfOpenCount(): number {
    return this.halfOpen;
  }

  /** Dials waiting for a half-open slot. */
  get queuedDialCount(): number {
    return this.dialQueue.length;
  }

  /** Sockets (connecting or open) to or from `address` (as reported by `SingleSocket.remoteAddress`). */
  connectionsFrom(address: string): number {
    return this.perIp.get(address) ?? 0;
  }

  /** Incoming connections refused so far (over `maxAllowIn` or `maxConnectionsPerIp`, no handler, or while closing). */
  get refusedCount(): number {
    return this.refused;
  }

  get closed(): boolean {
    return this.closedValue;
  }

  private reportError(error: unknown, context: string): void {
    try {
      this.onError(error, context);
    } catch {
      // An error reporter that throws must not take the reactor down.
    }
  }

  /**
   * Stops listening, closes every socket (handlers see 'shutdown') and cancels every task and timer.
   * Resolves once the OS handles are released. Idempotent.
   */
  async close(): Promise<void> {
    const servers = this.servers;
    this.servers = [];
    if (!this.closedValue) {
      this.closedValue = true;
      if (this.sweepTask) this.cancelTask(this.sweepTask);
      for (const r of [...this.repeating]) this.cancelTask(r);
      for (const t of [...this.tasks]) this.cancelTask(t);
    }
    const waits: Promise<void>[] = servers.map(closeServer);
    for (const d of this.dialQueue.splice(0)) d.socket.finish('shutdown');
    for (const socket of [...this.sockets]) {
      const p = socket.nodeClosed();
      if (p) waits.push(p);
      socket.finish('shutdown');
    }
    await Promise.all(waits);
  }
}
