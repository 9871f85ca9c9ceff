import {
  ConnectionGate,
  TcpTransport,
  type ListenOptions,
  type ListenResult,
  type PeerSocket,
  type RawServerOptions,
  type SocketHandler,
  type Transport,
  type TransportHost,
} from '@mainline/rawserver';
import { systemClock, type Clock, type TimerHandle } from '@mainline/rate';
import { unmapped } from './address.js';
import { DEFAULT_FIRST_MESSAGE_TIMEOUT_MS, DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_KEEPALIVE_INTERVAL_MS, SIMULTANEOUS_OPEN_MS } from './constants.js';
import { ConnecterError, ProtocolError, type ProtocolErrorCode } from './errors.js';
import type { ExtensionHandshake } from './extension.js';
import { checkId } from './handshake.js';
import { DhtWireState, type DhtWire } from './dht-wire.js';
import { PeerConnection, type ConnectionOwner, type PeerCloseReason, type PeerHandler } from './peer-connection.js';
import { DEFAULT_RESERVED } from './reserved.js';
import type { WireLimits } from './wire-reader.js';

/** One torrent as the wire layer sees it. */
export interface TorrentWire {
  /** Validation limits for this torrent's peers (piece count, sizes, maxima). */
  readonly limits: WireLimits;
  /**
   * A peer completed the handshake. Send the opening messages (bitfield / have all) here if you
   * like, and return the handler for its messages, or undefined to drop it.
   */
  onPeer(peer: PeerConnection): PeerHandler | undefined;
  /** The BEP 10 handshake to send to peers that support the extension protocol (after onPeer). */
  extensionHandshake?(peer: PeerConnection): ExtensionHandshake | undefined;
  /** An outgoing connection ended before its handshake completed (refused, timed out, bad handshake...). */
  onConnectFailed?(host: string, port: number, reason: PeerCloseReason, error?: Error): void;
}

/**
 * A peer dropped for breaking the protocol (or for being a duplicate, or ourselves, or for missing
 * a deadline), or evicted to make room for a newcomer when the server was full (code EVICTED).
 */
export interface WireLogEvent {
  type: 'dropped';
  code: ProtocolErrorCode | 'EVICTED';
  message: string;
  remoteAddress: string;
  remotePort: number;
  incoming: boolean;
  /** Hex info-hash, when known. */
  infoHash: string | undefined;
}

export interface WireHubOptions {
  /** Our 20-byte peer id (one per client, shared by all torrents). */
  peerId: Uint8Array;
  /** Our 8 reserved bytes (default: fast + extension protocol). */
  reserved?: Uint8Array;
  /** Keep-alive period (default 120 s); 0 turns keep-alives off. */
  keepAliveIntervalMs?: number;
  /**
   * The peer's whole handshake must be in this long after the TCP connection is up (default 10 s,
   * libtorrent's; 0 = no deadline). A trickle of bytes does not move the deadline.
   */
  handshakeTimeoutMs?: number;
  /**
   * After the handshake, the peer must send a message other than a keep-alive (or port) within
   * this long (default 30 s; 0 = no deadline). Real clients send their bitfield / have-none /
   * extension handshake at once; a peer with nothing to say holds a connection slot for nothing.
   */
  firstMessageTimeoutMs?: number;
  /**
   * Where time comes from: deadlines, keep-alives, the idle sweep and the default TCP transport
   * (default: `rawServer.clock`, else the system clock).
   */
  clock?: Clock;
  /**
   * How peers are reached, in order of preference for dialling (`connect`'s `transport` picks
   * another): default one `TcpTransport` made from `rawServer`. Every transport's connections
   * share the hub's limits, deadlines and eviction.
   */
  transports?: readonly Transport[];
  /**
   * Connection limits of the hub, for every transport: `maxAllowIn` (55, with eviction of
   * idle incoming connections when full), `maxConnectionsPerIp` (8), `limitLoopback`, `timeoutMs`
   * (300 s without a byte), `timeoutCheckIntervalMs`; `onError` for exceptions in handlers. The
   * other settings go to the default TCP transport (an error when `transports` is given).
   */
  rawServer?: Omit<RawServerOptions, 'onIncoming' | 'onFull' | 'gate'>;
  /** Told about every dropped peer, with the reason. */
  log?: (event: WireLogEvent) => void;
  /** A DHT node's side of the wire (BEP 5 DHT bit and `port` messages); none: no DHT bit. */
  dht?: DhtWire;
}

export interface HubConnectOptions {
  /** The peer id the tracker gave for this address: the peer must present exactly this one. */
  peerId?: Uint8Array;
  /** Connect timeout for this dial. */
  connectTimeoutMs?: number;
  /** The transport to dial on, by name (default: the hub's first). */
  transport?: string;
}

const LIMIT_KEYS = ['maxAllowIn', 'maxConnectionsPerIp', 'limitLoopback', 'timeoutMs', 'timeoutCheckIntervalMs'] as const;

/** Splits the hub's `rawServer` options into the shared limits and the TCP transport's own settings. */
function splitRawServerOptions(o: WireHubOptions['rawServer'] = {}): {
  limits: Pick<RawServerOptions, (typeof LIMIT_KEYS)[number]>;
  tcp: Omit<RawServerOptions, 'onIncoming' | 'onFull' | 'gate' | 'clock' | (typeof LIMIT_KEYS)[number]>;
} {
  const { maxAllowIn, maxConnectionsPerIp, limitLoopback, timeoutMs, timeoutCheckIntervalMs, clock: _clock, ...tcp } = o;
  const limits = { maxAllowIn, maxConnectionsPerIp, limitLoopback, timeoutMs, timeoutCheckIntervalMs };
  for (const k of LIMIT_KEYS) if (limits[k] === undefined) delete limits[k];
  return { limits, tcp };
}

/** A registered torrent (keyed by its hex info-hash: the bytes are not kept a second time). */
interface TorrentEntry {
  readonly torrent: TorrentWire;
  /** Made at the first handshaken peer: most torrents of a big session have none. */
  peers?: Map<string, PeerConnection>;
}

const PLACEHOLDER: SocketHandler = { onData: () => undefined, onClose: () => undefined };

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

function timeout(name: string, ms: number): number {
  if (!Number.isFinite(ms) || ms < 0) throw new ConnecterError('BAD_ARGUMENT', `${name} must be >= 0, got ${String(ms)}`);
  return ms;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** An IPv4-mapped IPv6 address (a dual-stack listener's view of an IPv4 peer) as plain IPv4. */

/**
 * The peer-wire front door (mainline's Encoder, for many torrents at once): one or more
 * transports (TCP by default; in-memory in tests; later uTP), one listening port, a registry of
 * info-hash → torrent. Incoming connections are routed by the info-hash in their handshake;
 * connections to ourselves and duplicate peer ids are dropped; every protocol error drops only
 * the peer that made it. The limits (connection caps, eviction when full, the idle timeout) and
 * the handshake and first-message deadlines hold for every transport alike. Keep-alives go out
 * every 2 minutes.
 */
export class WireHub {
  readonly peerId: Uint8Array;
  readonly reserved: Uint8Array;
  readonly clock: Clock;
  /** Admission for the connections of every transport: caps, eviction, the idle sweep. */
  readonly gate: ConnectionGate;
  /** The transports, in order of preference for dialling. */
  readonly transports: readonly Transport[];
  private readonly torrents = new Map<string, TorrentEntry>();
  private readonly connections = new Set<PeerConnection>();
  private readonly log: ((event: WireLogEvent) => void) | undefined;
  private keepAliveTimer: TimerHandle | undefined;
  private readonly owner: ConnectionOwner;
  private readonly handshakeTimeoutMs: number;
  private readonly firstMessageTimeoutMs: number;
  private readonly onError: (error: unknown, context: string) => void;
  private readonly dht: DhtWireState | undefined;
  private closedValue = false;

  constructor(options: WireHubOptions) {
    checkId('peerId', options.peerId);
    this.peerId = Uint8Array.from(options.peerId);
    this.reserved = Uint8Array.from(options.reserved ?? DEFAULT_RESERVED);
    if (this.reserved.length !== 8) throw new ConnecterError('BAD_ARGUMENT', 'reserved must be 8 bytes');
    this.log = options.log;
    this.dht = options.dht ? new DhtWireState(options.dht, this.reserved) : undefined;
    this.handshakeTimeoutMs = timeout('handshakeTimeoutMs', options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
    this.firstMessageTimeoutMs = timeout('firstMessageTimeoutMs', options.firstMessageTimeoutMs ?? DEFAULT_FIRST_MESSAGE_TIMEOUT_MS);
    const interval = options.keepAliveIntervalMs ?? DEFAULT_KEEPALIVE_INTERVAL_MS;
    if (!Number.isFinite(interval) || interval < 0) throw new ConnecterError('BAD_ARGUMENT', 'keepAliveIntervalMs must be >= 0');
    this.clock = options.clock ?? options.rawServer?.clock ?? systemClock;
    this.onError = options.rawServer?.onError ?? ((error, context) => console.error(`connecter: ${context}:`, error));
    const { limits, tcp } = splitRawServerOptions(options.rawServer);
    if (options.transports && Object.keys(tcp).some((k) => k !== 'onError')) {
      throw new ConnecterError('BAD_ARGUMENT', `rawServer ${Object.keys(tcp).join(', ')}: settings of the default TCP transport, and transports are given`);
    }
    this.transports = options.transports ? [...options.transports] : [new TcpTransport(tcp)];
    if (this.transports.length === 0) throw new ConnecterError('BAD_ARGUMENT', 'a hub needs at least one transport');
    if (new Set(this.transports.map((t) => t.name)).size !== this.transports.length) {
      throw new ConnecterError('BAD_ARGUMENT', 'two transports of the hub have the same name');
    }
    const dht = this.dht;
    const reserved = this.reserved;
    this.owner = {
      now: () => this.clock.now(),
      localPeerId: this.peerId,
      // Read once per connection: the DHT bit follows whether the DHT runs now.
      get localReserved() {
        return dht ? dht.reserved() : reserved;
      },
      ...(dht ? { onPort: (conn: PeerConnection, port: number) => dht.received(conn, port, unmapped(conn.remoteAddress)) } : {}),
      onInfoHash: (conn, infoHash) => this.gotInfoHash(conn, infoHash),
      onPeerId: (conn, peerId) => this.gotPeerId(conn, peerId),
      onClosed: (conn, reason, error) => this.closed(conn, reason, error),
      onConnected: (conn) => {
        this.gate.track(conn.socket);
        this.startDeadline(conn, this.handshakeTimeoutMs, 'HANDSHAKE_TIMEOUT', 'no complete handshake');
      },
      onFirstMessage: (conn) => this.clearDeadline(conn),
    };
    // Last: the gate and the keep-alives start timers, which a constructor that throws would leave running.
    this.gate = new ConnectionGate({
      ...limits,
      clock: this.clock,
      onFull: () => this.evictionCandidate()?.socket,
      onError: (error, context) => this.reportError(error, context),
    });
    const host: TransportHost = {
      clock: this.clock,
      gate: this.gate,
      accept: (socket) => this.accept(socket),
      reportError: (error, context) => this.reportError(error, context),
    };
    for (const t of this.transports) t.attach(host);
    if (interval > 0) this.scheduleKeepAlives(interval);
  }

  /**
   * Listens on every transport that listens: the first on the first free port of the range (see
   * RawServer.listen), the others on that same port (a client announces one port for all).
   */
  async listen(options: ListenOptions = {}): Promise<ListenResult> {
    let first: ListenResult | undefined;
    for (const t of this.transports) {
      if (!t.listen) continue;
      const result = await t.listen(first ? { ...options, minPort: first.port, maxPort: first.port } : options);
      first ??= result;
    }
    if (!first) throw new ConnecterError('BAD_ARGUMENT', 'no transport of the hub listens');
    return first;
  }

  /**
   * Moves every listening transport to another port, all to the same one (the peer port changed
   * while running), keeping every connection; a port that cannot be had leaves them where they were.
   * @throws ConnecterError BAD_ARGUMENT when a listening transport cannot move
   */
  async relisten(options: ListenOptions): Promise<ListenResult> {
    const listening = this.transports.filter((t) => t.listen);
    const stuck = listening.find((t) => !t.relisten);
    if (stuck) throw new ConnecterError('BAD_ARGUMENT', `the ${stuck.name} transport cannot change its port while running`);
    let first: ListenResult | undefined;
    for (const t of listening) {
      const result = await t.relisten!(first ? { ...options, minPort: first.port, maxPort: first.port } : options);
      first ??= result;
    }
    if (!first) throw new ConnecterError('BAD_ARGUMENT', 'no transport of the hub listens');
    return first;
  }

  /** A transport of the hub by name. */
  transport(name: string): Transport | undefined {
    return this.transports.find((t) => t.name === name);
  }

  /** Registers a torrent so incoming peers asking for `infoHash` reach it. */
  addTorrent(infoHash: Uint8Array, torrent: TorrentWire): void {
    checkId('infoHash', infoHash);
    const key = hex(infoHash);
    if (this.torrents.has(key)) throw new ConnecterError('DUPLICATE_TORRENT', `torrent ${key} is already registered`);
    this.torrents.set(key, { torrent });
  }

  /** Unregisters a torrent and closes its connections. */
  removeTorrent(infoHash: Uint8Array): void {
    const key = hex(infoHash);
    const entry = this.torrents.get(key);
    if (!entry) return;
    this.torrents.delete(key);
    for (const conn of [...this.connections]) {
      if (conn.infoHash && equalBytes(conn.infoHash, infoHash)) conn.close();
    }
  }

  /**
   * Gives a registered torrent's place on the hub to another (a magnet's metadata fetcher to the
   * torrent's Swarm): the connections stay open, now under the new torrent's limits, and are
   * returned for it to adopt; incoming peers go to it from now on.
   * @throws ConnecterError UNKNOWN_TORRENT when nothing is registered for `infoHash`
   */
  replaceTorrent(infoHash: Uint8Array, torrent: TorrentWire): PeerConnection[] {
    const key = hex(infoHash);
    const entry = this.torrents.get(key);
    if (!entry) throw new ConnecterError('UNKNOWN_TORRENT', `no torrent ${key} is registered`);
    this.torrents.set(key, { ...entry, torrent });
    const open: PeerConnection[] = [];
    for (const conn of [...this.connections]) {
      if (!conn.infoHash || !equalBytes(conn.infoHash, infoHash)) continue;
      conn.setLimits(torrent.limits);
      if (conn.state === 'open') open.push(conn);
    }
    return open;
  }

  hasTorrent(infoHash: Uint8Array): boolean {
    return this.torrents.has(hex(infoHash));
  }

  /** The handshaken peers of a torrent. */
  peers(infoHash: Uint8Array): PeerConnection[] {
    return [...(this.torrents.get(hex(infoHash))?.peers?.values() ?? [])];
  }

  /** Whether a peer with this id is connected to the torrent. */
  isConnected(infoHash: Uint8Array, peerId: Uint8Array): boolean {
    return this.torrents.get(hex(infoHash))?.peers?.has(hex(peerId)) ?? false;
  }

  /** Every connection, handshaking or open. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /** Connections that may still be opened before the hub's cap (`maxAllowIn`): what dialling out has room for. */
  get room(): number {
    return this.gate.room;
  }

  /**
   * Changes the hub's connection cap while running (a client's global peer limit). Lowered below
   * the connections open, the least useful go at once (closed as 'evicted'): those still
   * handshaking, then those that said nothing since their handshake, then those their torrent has
   * no use for (oldest first in each), then the youngest of the rest. Returns how many were closed.
   */
  setMaxConnections(max: number): number {
    this.gate.setMaxAllowIn(max);
    const excess = this.connections.size - max;
    if (excess <= 0) return 0;
    const tier = (c: PeerConnection): number => (c.state === 'handshaking' ? 0 : c.awaitingFirstMessage ? 1 : c.idle ? 2 : 3);
    const ranked = [...this.connections].sort((a, b) => {
      const ta = tier(a);
      const tb = tier(b);
      if (ta !== tb) return ta - tb;
      // Useless ones: the oldest first (as eviction); useful ones: the youngest has proven least.
      return ta < 3 ? a.socket.createdAt - b.socket.createdAt : b.socket.createdAt - a.socket.createdAt;
    });
    for (const conn of ranked.slice(0, excess)) conn.socket.close('evicted');
    return excess;
  }

  /**
   * Dials a peer for a registered torrent and sends the whole handshake at once. The returned
   * connection is 'handshaking'; the torrent's onPeer runs when the peer's handshake checks out.
   * @throws ConnecterError UNKNOWN_TORRENT, SELF (BAD_ARGUMENT for our own id), CLOSED
   */
  connect(infoHash: Uint8Array, host: string, port: number, options: HubConnectOptions = {}): PeerConnection {
    const entry = this.torrents.get(hex(infoHash));
    if (!entry) throw new ConnecterError('UNKNOWN_TORRENT', `no torrent ${hex(infoHash)} is registered`);
    if (options.peerId) {
      checkId('peerId', options.peerId);
      if (equalBytes(options.peerId, this.peerId)) throw new ConnecterError('BAD_ARGUMENT', 'that peer id is our own');
    }
    const expected = options.peerId ? Uint8Array.from(options.peerId) : undefined;
    if (this.closedValue) throw new ConnecterError('CLOSED', 'the hub is closed');
    const transport = options.transport === undefined ? this.transports[0]! : this.transport(options.transport);
    if (!transport) throw new ConnecterError('BAD_ARGUMENT', `the hub has no transport named ${options.transport}`);
    // The connection needs the socket and the socket needs a handler: start with a placeholder
    // (nothing can arrive before setHandler below, which runs synchronously).
    const socket = transport.connect(
      host,
      port,
      PLACEHOLDER,
      options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs },
    );
    const conn = new PeerConnection(this.owner, socket, false, expected);
    socket.setHandler(conn.socketHandler);
    conn.infoHash = Uint8Array.from(infoHash);
    conn.setLimits(entry.torrent.limits);
    this.connections.add(conn);
    conn.sendHandshake(conn.infoHash);
    return conn;
  }

  /** Closes every connection and transport (their ports, sockets and timers) and the hub's timers. */
  async close(): Promise<void> {
    this.closedValue = true;
    if (this.keepAliveTimer !== undefined) this.clock.clearTimeout(this.keepAliveTimer);
    this.keepAliveTimer = undefined;
    this.gate.close();
    await Promise.all(this.transports.map((t) => t.close()));
    for (const conn of [...this.connections]) conn.socket.close('shutdown');
  }

  private reportError(error: unknown, context: string): void {
    try {
      this.onError(error, context);
    } catch {
      // a failing reporter must not take the hub down
    }
  }

  /** Runs `fn` in `ms` on the hub's clock; an exception is reported, not thrown into the clock. */
  private later(fn: () => void, ms: number, context: string): TimerHandle {
    return this.clock.setTimeout(() => {
      try {
        fn();
      } catch (err) {
        this.reportError(err, context);
      }
    }, ms);
  }

  private scheduleKeepAlives(interval: number): void {
    this.keepAliveTimer = this.later(
      () => {
        if (this.closedValue) return;
        this.scheduleKeepAlives(interval);
        this.sendKeepAlives();
      },
      interval,
      'keep-alives',
    );
  }

  // ---------------------------------------------------------------- internals

  /**
   * An incoming connection from any transport: admitted by the gate (TCP's were, before their
   * socket was made), then handshaking under its deadline.
   */
  private accept(socket: PeerSocket): SocketHandler | undefined {
    if (this.closedValue) {
      this.gate.countRefusal();
      return undefined;
    }
    if (!this.gate.has(socket)) {
      if (!this.gate.admit(socket.remoteAddress)) return undefined;
      this.gate.track(socket);
    }
    const conn = new PeerConnection(this.owner, socket, true, undefined);
    this.connections.add(conn);
    this.startDeadline(conn, this.handshakeTimeoutMs, 'HANDSHAKE_TIMEOUT', 'no complete handshake');
    return conn.socketHandler;
  }

  /** Drops `conn` with `code` unless the deadline is cleared (or replaced) within `ms`. */
  private startDeadline(conn: PeerConnection, ms: number, code: ProtocolErrorCode, what: string): void {
    this.clearDeadline(conn);
    if (ms === 0) return;
    conn.deadline = this.later(
      () => {
        conn.deadline = undefined;
        conn.fail(new ProtocolError(code, `${what} within ${ms / 1000} s`));
      },
      ms,
      'deadline',
    );
  }

  private clearDeadline(conn: PeerConnection): void {
    if (conn.deadline !== undefined) this.clock.clearTimeout(conn.deadline);
    conn.deadline = undefined;
  }

  /**
   * The incoming connection to close when the server is full and another one comes in: the oldest
   * still handshaking, else the oldest that has sent nothing but keep-alives since its handshake,
   * else the oldest its torrent has no use for (PeerHandler.idle). Honest newcomers finish their
   * handshake in a round trip, so the oldest of each kind are the ones holding slots for nothing.
   */
  private evictionCandidate(): PeerConnection | undefined {
    const oldest: (PeerConnection | undefined)[] = [undefined, undefined, undefined];
    for (const conn of this.connections) {
      if (!conn.incoming || conn.state === 'closed') continue;
      const tier = conn.state === 'handshaking' ? 0 : conn.awaitingFirstMessage ? 1 : conn.idle ? 2 : -1;
      if (tier < 0) continue;
      const best = oldest[tier];
      if (!best || conn.socket.createdAt < best.socket.createdAt) oldest[tier] = conn;
    }
    return oldest.find((c) => c !== undefined);
  }

  private gotInfoHash(conn: PeerConnection, infoHash: Uint8Array): void {
    if (!conn.incoming) {
      if (!equalBytes(infoHash, conn.infoHash as Uint8Array)) {
        throw new ProtocolError('INFO_HASH_MISMATCH', `peer answered with info-hash ${hex(infoHash)}`);
      }
      return;
    }
    const entry = this.torrents.get(hex(infoHash));
    conn.infoHash = infoHash;
    if (!entry) throw new ProtocolError('UNKNOWN_INFO_HASH', `no torrent ${hex(infoHash)} here`);
    conn.setLimits(entry.torrent.limits);
    conn.sendHandshake(infoHash);
  }

  private gotPeerId(conn: PeerConnection, peerId: Uint8Array): void {
    conn.peerId = peerId;
    if (equalBytes(peerId, this.peerId)) throw new ProtocolError('SELF_CONNECTION', 'connected to ourselves');
    if (conn.expectedPeerId && !equalBytes(peerId, conn.expectedPeerId)) {
      throw new ProtocolError('PEER_ID_MISMATCH', `peer id ${hex(peerId)} is not the one the tracker gave`);
    }
    const entry = this.torrents.get(hex(conn.infoHash as Uint8Array));
    if (!entry) throw new ProtocolError('UNKNOWN_INFO_HASH', 'the torrent was removed during the handshake');
    const key = hex(peerId);
    const old = entry.peers?.get(key);
    if (old) {
      if (!this.winsSimultaneousOpen(conn, old, peerId)) throw new ProtocolError('DUPLICATE_PEER', `peer ${key} is already connected`);
      old.fail(new ProtocolError('DUPLICATE_PEER', `peer ${key} connected both ways at once: the connection the lower peer id dialled stays`));
    }
    (entry.peers ??= new Map()).set(key, conn);
    conn.open();
    if (this.firstMessageTimeoutMs > 0) {
      conn.awaitingFirstMessage = true;
      this.startDeadline(conn, this.firstMessageTimeoutMs, 'FIRST_MESSAGE_TIMEOUT', 'nothing but keep-alives');
    } else this.clearDeadline(conn);
    const handler = entry.torrent.onPeer(conn);
    if (conn.state !== 'open') return; // onPeer closed it
    if (!handler) {
      conn.close();
      return;
    }
    conn.attachHandler(handler);
    if (conn.extended && entry.torrent.extensionHandshake) {
      const hs = entry.torrent.extensionHandshake(conn);
      if (hs && conn.state === 'open') conn.send({ type: 'extended-handshake', handshake: hs });
    }
    this.dht?.opened(conn);
  }

  /**
   * Two peers that dial each other at once (both heard of the other, by LSD or PEX, at the same
   * moment) each get two connections, complete in either order on each side. Keeping the first
   * on both sides may keep a different one on each, and then both die. So both keep the one dialled
   * by the lower peer id (libtorrent resolves it likewise): `conn`, the second, replaces `old` when
   * it is that one. Only for a young connection from the same address in the other direction: a
   * peer id someone else presents never takes a working connection away.
   */
  private winsSimultaneousOpen(conn: PeerConnection, old: PeerConnection, peerId: Uint8Array): boolean {
    if (conn.incoming === old.incoming || unmapped(conn.remoteAddress) !== unmapped(old.remoteAddress)) return false;
    if (old.openedAt === undefined || this.clock.now() - old.openedAt > SIMULTANEOUS_OPEN_MS) return false;
    const weAreLower = Buffer.compare(Buffer.from(this.peerId), Buffer.from(peerId)) < 0;
    return weAreLower ? !conn.incoming : conn.incoming;
  }

  private closed(conn: PeerConnection, reason: PeerCloseReason, error?: Error): void {
    this.connections.delete(conn);
    this.gate.release(conn.socket);
    this.clearDeadline(conn);
    const entry = conn.infoHash ? this.torrents.get(hex(conn.infoHash)) : undefined;
    if (entry && conn.peerId && entry.peers?.get(hex(conn.peerId)) === conn) entry.peers.delete(hex(conn.peerId));
    if ((error instanceof ProtocolError || reason === 'evicted') && this.log) {
      try {
        this.log({
          type: 'dropped',
          code: error instanceof ProtocolError ? error.code : 'EVICTED',
          message: error instanceof ProtocolError ? error.message : 'the server was full: closed to make room for a new connection',
          remoteAddress: conn.remoteAddress,
          remotePort: conn.remotePort,
          incoming: conn.incoming,
          infoHash: conn.infoHash ? hex(conn.infoHash) : undefined,
        });
      } catch {
        // a failing logger must not break connection bookkeeping
      }
    }
    if (!conn.incoming && !conn.wasOpened && entry?.torrent.onConnectFailed) {
      try {
        entry.torrent.onConnectFailed(conn.remoteAddress, conn.remotePort, reason, error);
      } catch {
        // the torrent's bug must not leak into other connections
      }
    }
  }

  private sendKeepAlives(): void {
    for (const entry of this.torrents.values()) {
      for (const conn of entry.peers?.values() ?? []) {
        if (conn.state === 'open') conn.send({ type: 'keep-alive' });
      }
    }
  }
}
