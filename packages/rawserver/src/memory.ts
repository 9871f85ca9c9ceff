import { isIP, type AddressInfo } from 'node:net';
import { systemClock, type Clock } from '@mainline/rate';
import { writeLimits } from './defaults.js';
import { checkNonNegative, checkPort, RawServerError } from './errors.js';
import { SocketBase, splitAddress, type CloseReason, type PeerSocket, type SocketHandler, type SocketOwner, type SocketState, type WriteLimits } from './peer-socket.js';
import type { ConnectOptions, ListenOptions, ListenResult } from './raw-server.js';
import type { Transport, TransportHost } from './transport.js';

/** How in-memory sockets move bytes: the same send-queue bounds as TCP, plus the pace of delivery. */
export interface MemorySocketOptions extends Partial<WriteLimits> {
  /**
   * Most bytes handed to the other end per delivery (default 64 KiB): a larger write takes several
   * deliveries, so send queues fill up and the congestion / `onFlushed` paths run as over TCP.
   */
  chunkSize?: number;
  /**
   * Delay of each delivery on the clock, in ms (default 0: the next turn of the event loop, no
   * clock time at all). With a ManualClock and a latency, nothing moves until the test advances it.
   */
  latencyMs?: number;
  /** Deliver reads through one reused buffer, valid only during `onData` (as TCP's shared read buffer). */
  transientReads?: boolean;
}

export interface MemoryNetworkOptions extends MemorySocketOptions {
  /** Clock of the sockets' times and of the latency (default: the system clock). */
  clock?: Clock;
  /** Handler exceptions of sockets whose transport has no host (default: print to stderr). */
  onError?: (error: unknown, context: string) => void;
}

/** Options of one transport of a MemoryNetwork (override the network's socket options). */
export interface MemoryTransportOptions extends MemorySocketOptions {
  /** The transport name its sockets report (default 'memory'). */
  name?: string;
}

interface Pace {
  readonly chunkSize: number;
  readonly latencyMs: number;
  readonly transientReads: boolean;
  readonly clock: Clock;
  /** A socket's queue reached the threshold (for the network's count). */
  readonly congested: () => void;
}

function paceOf(options: MemorySocketOptions, clock: Clock, congested: () => void = () => undefined): Pace {
  const chunkSize = checkNonNegative('chunkSize', options.chunkSize ?? 64 * 1024, true);
  if (chunkSize === 0) throw new RawServerError('BAD_ARGUMENT', 'chunkSize must be at least 1');
  return { chunkSize, latencyMs: checkNonNegative('latencyMs', options.latencyMs ?? 0), transientReads: options.transientReads ?? false, clock, congested };
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * One end of an in-memory connection, the 'memory' PeerSocket. What it writes is queued and
 * handed to the other end `chunkSize` bytes per delivery (the next event-loop turn, or
 * `latencyMs` on the clock), views of the written bytes, never copies (unless transient reads).
 * `pause()` stops deliveries to this end, so the other end's queue fills and congests. Bytes
 * written before `close()` still arrive; then the other end closes with 'remote-closed'.
 */
export class MemorySocket extends SocketBase {
  readonly transport: string;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  /** @internal The other end (set once connected). */
  peer: MemorySocket | undefined;
  private queue: Uint8Array[] = [];
  private queued = 0;
  private paused = false;
  private scheduled = false;
  private readonly scratch: Buffer | undefined;

  /** @internal Made by MemoryTransport and createMemorySocketPair. */
  constructor(
    owner: SocketOwner,
    private readonly pace: Pace,
    name: string,
    handler: SocketHandler,
    incoming: boolean,
    remote: { address: string; port: number },
    local: { address: string; port: number },
    state: SocketState,
  ) {
    super(owner, handler, incoming, remote.address, remote.port, state);
    this.transport = name;
    this.localAddress = local.address;
    this.localPort = local.port;
    this.scratch = pace.transientReads ? Buffer.allocUnsafe(pace.chunkSize) : undefined;
  }

  get transientReads(): boolean {
    return this.pace.transientReads;
  }

  get writableLength(): number {
    return this.queued;
  }

  write(data: Uint8Array): boolean {
    if (this.stateValue === 'closed' || this.overflowed) return false;
    if (data.length === 0) return !this.congested;
    if (this.overCap(this.queued + data.length)) return false;
    this.queue.push(data);
    this.queued += data.length;
    this.schedule();
    const was = this.congested;
    const ok = this.markCongestion();
    if (!ok && !was) this.pace.congested();
    return ok;
  }

  writeMany(chunks: readonly Uint8Array[]): boolean {
    for (const c of chunks) if (!this.write(c) && (this.overflowed || this.stateValue === 'closed')) break;
    return this.stateValue !== 'closed' && !this.overflowed && !this.congested;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.peer?.schedule();
  }

  /** @internal The connect completed: both ends are linked (this one was 'connecting'). */
  opened(): void {
    this.stateValue = 'open';
    this.lastReceivedAt = this.owner.now();
    this.schedule();
    const h = this.handler;
    if (h.onConnect) this.call(() => h.onConnect?.(this), 'onConnect');
  }

  /** @internal Runs `fn` at the next delivery time (next turn, or latency on the clock). */
  later(fn: () => void): void {
    if (this.pace.latencyMs > 0) this.pace.clock.setTimeout(fn, this.pace.latencyMs);
    else setImmediate(fn);
  }

  /** @internal Queues a delivery of this end's queue to the other end (once). */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.later(() => this.deliver());
  }

  /** Hands up to `chunkSize` queued bytes to the other end; after the last one of a closed end, its EOF. */
  private deliver(): void {
    this.scheduled = false;
    const peer = this.peer;
    if (!peer || this.stateValue === 'connecting' || this.stateValue === 'queued') return;
    if (peer.state === 'closed') return this.dropQueue();
    if (peer.paused) return; // its resume() schedules us again
    let budget = this.pace.chunkSize;
    while (this.queue.length > 0 && budget > 0) {
      const head = this.queue[0] as Uint8Array;
      const chunk = head.length <= budget ? head : head.subarray(0, budget);
      if (chunk === head) this.queue.shift();
      else this.queue[0] = head.subarray(budget);
      budget -= chunk.length;
      this.queued -= chunk.length;
      peer.received(peer.view(chunk));
      if (peer.isClosed()) return this.dropQueue();
      if (peer.paused) break;
    }
    this.checkFlushed();
    if (this.queue.length > 0) {
      if (!peer.paused) this.schedule();
    } else if (this.stateValue === 'closed') peer.finish('remote-closed');
  }

  /** The chunk as this (receiving) end's reader sees it: a view, or a copy in the reused buffer. */
  private view(chunk: Uint8Array): Buffer {
    if (!this.scratch) return asBuffer(chunk);
    this.scratch.set(chunk);
    return this.scratch.subarray(0, chunk.length);
  }

  /** @internal (a method, not a narrowed property: a handler may close the socket under our feet) */
  isClosed(): boolean {
    return this.stateValue === 'closed';
  }

  private dropQueue(): void {
    this.queue = [];
    this.queued = 0;
  }

  protected release(reason: CloseReason): void {
    // Closed by the other end, or never connected: nothing to hand on. Else what was written
    // still arrives, then the EOF.
    if (reason === 'remote-closed' || !this.peer || this.peer.state === 'closed') this.dropQueue();
    else this.schedule();
  }
}

/** One end's address and port on a MemoryNetwork. */
export interface MemoryEndpoint {
  readonly address: string;
  readonly port: number;
}

function owner(clock: Clock, limits: WriteLimits, sockets: Set<PeerSocket>, report: (error: unknown, context: string) => void): SocketOwner {
  return {
    ...limits,
    now: () => clock.now(),
    reportError: report,
    socketClosed: (socket) => {
      sockets.delete(socket);
    },
  };
}

/**
 * Two connected in-memory sockets, for unit tests of anything that talks over a PeerSocket:
 * `[outgoing, incoming]`, both open (give each a handler with `setHandler`).
 */
export function createMemorySocketPair(
  options: MemoryNetworkOptions & { a?: MemoryEndpoint; b?: MemoryEndpoint; name?: string } = {},
): [MemorySocket, MemorySocket] {
  const clock = options.clock ?? systemClock;
  const pace = paceOf(options, clock);
  const report = options.onError ?? ((error: unknown, context: string) => console.error(`rawserver: ${context}:`, error));
  const own = owner(clock, writeLimits(options), new Set(), report);
  const a = options.a ?? { address: '192.0.2.1', port: 50_001 };
  const b = options.b ?? { address: '192.0.2.2', port: 6881 };
  const idle: SocketHandler = { onData: () => undefined, onClose: () => undefined };
  const name = options.name ?? 'memory';
  const out = new MemorySocket(own, pace, name, idle, false, b, a, 'open');
  const inc = new MemorySocket(own, pace, name, idle, true, a, b, 'open');
  out.peer = inc;
  inc.peer = out;
  return [out, inc];
}

/**
 * A network of in-memory transports for tests: each transport has an address, listens on ports
 * and dials the others by address and port, with no socket of the OS and (latency 0) no clock
 * time. Transports of one name reach each other; each name has its own ports, as TCP and uTP
 * do, so a hub may listen on two of them on one address and port. Several hubs (or sessions)
 * on one network make a swarm that runs on a ManualClock.
 */
export class MemoryNetwork {
  readonly clock: Clock;
  readonly #options: MemoryNetworkOptions;
  readonly #listeners = new Map<string, MemoryTransport>();
  #nextPort = 49_152;
  #congestions = 0;

  constructor(options: MemoryNetworkOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.#options = options;
    writeLimits(options); // checked now, not at the first connect
    paceOf(options, this.clock);
  }

  /** A transport with its own address (an IP address: IPv4 or IPv6). */
  transport(address: string, options: MemoryTransportOptions = {}): MemoryTransport {
    if (isIP(address) === 0) throw new RawServerError('BAD_ARGUMENT', `a memory transport's address must be an IP address, got ${JSON.stringify(address)}`);
    return new MemoryTransport(this, address, { ...this.#options, ...options });
  }

  /** How many times a socket of the network became congested (its queue reached the threshold). */
  get congestions(): number {
    return this.#congestions;
  }

  /** @internal */
  countCongestion(): void {
    this.#congestions++;
  }

  /** @internal The listener of transport `name` on `address:port` (each name has its own ports, as TCP and uTP do). */
  listener(name: string, address: string, port: number): MemoryTransport | undefined {
    return this.#listeners.get(`${name}|${splitAddress(address).address}|${port}`);
  }

  /** @internal Registers a listener on the first free port of [min, max] (min 0: a free ephemeral one). */
  bind(t: MemoryTransport, min: number, max: number): number {
    const free = (p: number): boolean => !this.#listeners.has(`${t.name}|${t.address}|${p}`);
    let port: number | undefined;
    if (min === 0) {
      while (!free(this.#nextPort)) this.#nextPort++;
      port = this.#nextPort++;
    } else for (let p = min; p <= max && port === undefined; p++) if (free(p)) port = p;
    if (port === undefined) throw new RawServerError('NO_FREE_PORT', `Couldn't listen - no free port in ${min}-${max} on ${t.address}`);
    this.#listeners.set(`${t.name}|${t.address}|${port}`, t);
    return port;
  }

  /** @internal */
  unbind(t: MemoryTransport, port: number): void {
    const key = `${t.name}|${t.address}|${port}`;
    if (this.#listeners.get(key) === t) this.#listeners.delete(key);
  }

  /** @internal A port for the local end of a dial. */
  ephemeralPort(): number {
    return this.#nextPort++;
  }
}

/** One address on a MemoryNetwork, as a Transport (name 'memory' unless given). */
export class MemoryTransport implements Transport {
  readonly name: string;
  readonly #network: MemoryNetwork;
  readonly #pace: Pace;
  readonly #owner: SocketOwner;
  readonly #sockets = new Set<PeerSocket>();
  #host: TransportHost | undefined;
  #port: number | undefined;
  #closed = false;

  /** @internal Made by MemoryNetwork.transport(). */
  constructor(
    network: MemoryNetwork,
    readonly address: string,
    options: MemoryTransportOptions & Pick<MemoryNetworkOptions, 'onError'>,
  ) {
    this.name = options.name ?? 'memory';
    this.#network = network;
    this.#pace = paceOf(options, network.clock, () => network.countCongestion());
    const fallback = options.onError ?? ((error: unknown, context: string) => console.error(`rawserver: ${context}:`, error));
    this.#owner = owner(network.clock, writeLimits(options), this.#sockets, (error, context) =>
      this.#host ? this.#host.reportError(error, context) : fallback(error, context),
    );
  }

  attach(host: TransportHost): void {
    if (this.#host) throw new RawServerError('BAD_ARGUMENT', 'the memory transport is attached already');
    if (host.clock !== this.#network.clock) throw new RawServerError('BAD_ARGUMENT', "the host's clock is not the memory network's");
    this.#host = host;
  }

  /** The listening port, once listening. */
  get port(): number | undefined {
    return this.#port;
  }

  /** Open sockets of this transport (incoming and outgoing). */
  get socketCount(): number {
    return this.#sockets.size;
  }

  listen(options: ListenOptions = {}): Promise<ListenResult> {
    if (this.#closed) return Promise.reject(new RawServerError('CLOSED', 'the transport is closed'));
    if (this.#port !== undefined) return Promise.reject(new RawServerError('ALREADY_LISTENING', 'already listening'));
    try {
      if (options.hosts && !options.hosts.some((h) => splitAddress(h).address === this.address)) {
        throw new RawServerError('BAD_ARGUMENT', `a memory transport listens on its own address ${this.address} only`);
      }
      const min = checkPort('minPort', options.minPort ?? 6881);
      const max = checkPort('maxPort', options.maxPort ?? (options.minPort === 0 ? 0 : 6999));
      if (max < min) throw new RawServerError('BAD_ARGUMENT', `maxPort ${max} is below minPort ${min}`);
      this.#port = this.#network.bind(this, min, max);
    } catch (err) {
      return Promise.reject(err as Error);
    }
    const family = isIP(this.address) === 6 ? 'IPv6' : 'IPv4';
    const info: AddressInfo = { address: this.address, family, port: this.#port };
    return Promise.resolve({ port: this.#port, addresses: [info] });
  }

  /** Dials `host:port` on the network: connected on the next delivery, or 'connect-failed' if nobody listens there. */
  connect(host: string, port: number, handler: SocketHandler, _options?: ConnectOptions): MemorySocket {
    if (this.#closed) throw new RawServerError('CLOSED', 'the transport is closed');
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RawServerError('BAD_ARGUMENT', `port must be an integer in [1, 65535], got ${String(port)}`);
    }
    const local = { address: this.address, port: this.#network.ephemeralPort() };
    const socket = new MemorySocket(this.#owner, this.#pace, this.name, handler, false, { address: host, port }, local, 'connecting');
    this.#sockets.add(socket);
    socket.later(() => this.#complete(socket, local, port));
    return socket;
  }

  #complete(socket: MemorySocket, local: MemoryEndpoint, port: number): void {
    if (socket.state !== 'connecting') return;
    const listener = this.#network.listener(this.name, socket.remoteAddress, port);
    if (!listener) return socket.finish('connect-failed', new Error(`connect ECONNREFUSED ${socket.remoteAddress}:${port}`));
    const remote = listener.#incoming(local, port);
    if (!remote) return socket.finish('connect-failed', new Error(`connect ECONNREFUSED ${socket.remoteAddress}:${port}`));
    socket.peer = remote;
    remote.peer = socket;
    const handler = listener.#host?.accept(remote);
    if (handler) remote.setHandler(handler);
    else remote.finish('local'); // refused after the connect: the dialler sees it connect, then close
    socket.opened();
  }

  /** The accepting end of a dial from `from`, or undefined when not accepting. */
  #incoming(from: MemoryEndpoint, port: number): MemorySocket | undefined {
    if (this.#closed || !this.#host) return undefined;
    const idle: SocketHandler = { onData: () => undefined, onClose: () => undefined };
    const socket = new MemorySocket(this.#owner, this.#pace, this.name, idle, true, from, { address: this.address, port }, 'open');
    this.#sockets.add(socket);
    return socket;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#port !== undefined) this.#network.unbind(this, this.#port);
    for (const s of [...this.#sockets]) s.close('shutdown');
    await Promise.resolve();
  }
}
