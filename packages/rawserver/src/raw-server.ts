import { createServer, isIP, Socket, type AddressInfo, type ConnectOpts, type Server, type SocketConstructorOpts } from 'node:net';
import { systemClock, type Clock, type TimerHandle } from '@mainline/rate';
import { CONNECTION_LIMIT_OPTIONS, ConnectionGate, type ConnectionLimits } from './connection-gate.js';
import { bindHosts } from './bind-range.js';
import { RAWSERVER_DEFAULTS, writeLimits } from './defaults.js';
import { checkNonNegative, checkPort, RawServerError } from './errors.js';
import { normalizeAddress, type PeerSocket, type SocketHandler, type SocketOwner, type SocketState } from './peer-socket.js';
import { SingleSocket } from './single-socket.js';

export interface RawServerOptions extends ConnectionLimits {
  /** Where time and timers come from (default: the system clock). */
  clock?: Clock;
  /**
   * Count this server's sockets in a gate shared with other transports (a peer-wire hub's),
   * instead of one of its own: the limits (`maxAllowIn`, `maxConnectionsPerIp`, `limitLoopback`,
   * `timeoutMs`, `timeoutCheckIntervalMs`) and `onFull` are then the gate's, and giving them here
   * too is a BAD_ARGUMENT.
   */
  gate?: ConnectionGate;
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
   * The server is full (`maxAllowIn`) and a new connection came in: return an incoming socket to
   * close in its favour (it is closed with 'evicted'), or undefined to refuse the newcomer.
   */
  onFull?: () => PeerSocket | undefined;
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
  /** Admission (caps, eviction) and the inactivity sweep: this server's own, or one shared with other transports. */
  readonly gate: ConnectionGate;
  private readonly ownGate: boolean;
  private readonly maxHalfOpen: number;
  private readonly connectTimeoutMs: number;
  private readonly bind: string;
  private readonly onIncoming: ((socket: SingleSocket) => SocketHandler | undefined) | undefined;
  private readonly sharedReadBuffer: Buffer | undefined;
  private readonly onError: (error: unknown, context: string) => void;
  private readonly owner: SocketOwner;

  private readonly sockets = new Set<SingleSocket>(); // connecting or open
  private readonly dialQueue: { socket: SingleSocket; host: string; port: number; timeoutMs: number }[] = [];
  private halfOpen = 0;
  private servers: Server[] = [];
  private readonly tasks = new Set<Task>();
  private readonly repeating = new Set<TaskHandle & { cancel(): void }>();
  private closedValue = false;
  private listenResult: ListenResult | undefined;

  constructor(options: RawServerOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.onError =
      options.onError ??
      ((error, context) => {
        console.error(`rawserver: ${context}:`, error);
      });
    if (options.gate) {
      const doubled = [...CONNECTION_LIMIT_OPTIONS, 'onFull' as const].filter((k) => options[k] !== undefined);
      if (doubled.length > 0) throw new RawServerError('BAD_ARGUMENT', `${doubled.join(', ')}: the shared gate's settings, not this server's`);
      if (options.gate.clock !== this.clock) throw new RawServerError('BAD_ARGUMENT', 'the shared gate runs on another clock');
    }
    this.maxHalfOpen = checkNonNegative('maxHalfOpen', options.maxHalfOpen ?? RAWSERVER_DEFAULTS.maxHalfOpen, true);
    if (this.maxHalfOpen === 0) throw new RawServerError('BAD_ARGUMENT', 'maxHalfOpen must be at least 1');
    this.connectTimeoutMs = checkNonNegative('connectTimeoutMs', options.connectTimeoutMs ?? RAWSERVER_DEFAULTS.connectTimeoutMs);
    const limits = writeLimits(options);
    this.bind = options.bind ?? '';
    if (this.bind !== '' && isIP(this.bind) === 0) {
      throw new RawServerError('BAD_ARGUMENT', `bind must be an IP address or '', got ${JSON.stringify(this.bind)}`);
    }
    this.onIncoming = options.onIncoming;
    const shared = checkNonNegative('sharedReadBufferSize', options.sharedReadBufferSize ?? 0, true);
    this.sharedReadBuffer = shared > 0 ? Buffer.allocUnsafeSlow(shared) : undefined;
    this.owner = {
      now: () => this.clock.now(),
      reportError: (error, context) => this.reportError(error, context),
      socketClosed: (socket, was) => this.socketClosed(socket as SingleSocket, was),
      ...limits,
    };
    // Last: the gate starts its sweep timer, which a constructor that throws would leave running.
    this.gate = options.gate ?? new ConnectionGate({ ...options, clock: this.clock, onError: (error, context) => this.reportError(error, context) });
    this.ownGate = options.gate === undefined;
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
    const bound = await bindHosts<Server>(
      {
        what: 'listen',
        bind: (host, port) => listenOnce(host, port, backlog),
        portOf: (server) => (server.address() as AddressInfo).port,
        close: closeServer,
        closed: () => this.closedValue,
      },
      explicit,
      minPort,
      maxPort,
    );
    for (const server of bound) server.on('connection', (s) => this.accept(s));
    this.servers = bound;
    this.listenResult = { port: (bound[0]!.address() as AddressInfo).port, addresses: bound.map((s) => s.address() as AddressInfo) };
    return this.listenResult;
  }

  /**
   * Moves the listener to another port (a client's peer port changed while it runs): the new port
   * is bound first, so a port that is taken leaves the server listening where it was; then the
   * old listeners stop accepting. Connections already made, both ways, stay open.
   * @throws RawServerError NO_FREE_PORT, LISTEN_FAILED, CLOSED, BAD_ARGUMENT (as listen)
   */
  async relisten(options: ListenOptions = {}): Promise<ListenResult> {
    if (this.closedValue) throw new RawServerError('CLOSED', 'the server is closed');
    const oldServers = this.servers;
    const oldResult = this.listenResult;
    this.servers = [];
    this.listenResult = undefined;
    let result: ListenResult;
    try {
      result = await this.listen(options);
    } catch (err) {
      this.servers = oldServers;
      this.listenResult = oldResult;
      throw err;
    }
    // Not closeServer: its callback waits for the connections accepted there, which stay.
    for (const server of oldServers) server.close();
    return result;
  }

  /** The bound port and addresses, once `listen` has succeeded. */
  get listening(): ListenResult | undefined {
    return this.listenResult;
  }

  private accept(node: Socket): void {
    const address = normalizeAddress(node.remoteAddress);
    const refused = this.closedValue || !this.onIncoming;
    if (refused || !this.gate.admit(address)) {
      if (refused) this.gate.countRefusal();
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
      handler = this.onIncoming?.(socket);
    } catch (err) {
      this.reportError(err, 'onIncoming');
    }
    if (!handler) {
      this.gate.countRefusal();
      socket.finish('local');
      return;
    }
    socket.setHandler(handler);
  }

  private track(socket: SingleSocket): void {
    this.sockets.add(socket);
    this.gate.track(socket);
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
    this.sockets.delete(socket);
    this.gate.release(socket);
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

  // ---------------------------------------------------------------- state

  /** This server's sockets, connecting or open (with its own gate: what `maxAllowIn` counts). */
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

  /**
   * Sockets (connecting or open) to or from `address` (as reported by `remoteAddress`), counted
   * by the gate: with a shared gate, those of the other transports too.
   */
  connectionsFrom(address: string): number {
    return this.gate.connectionsFrom(address);
  }

  /** Incoming connections refused so far (over `maxAllowIn` or `maxConnectionsPerIp`, no handler, or while closing), by the gate. */
  get refusedCount(): number {
    return this.gate.refusedCount;
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
      if (this.ownGate) this.gate.close();
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
