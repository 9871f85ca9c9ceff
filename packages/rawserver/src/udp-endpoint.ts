import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { bindHosts } from './bind-range.js';
import { checkNonNegative, checkPort, RawServerError } from './errors.js';
import { splitAddress } from './peer-socket.js';

/** Where a datagram came from (IPv4-mapped addresses as plain IPv4). */
export interface DatagramSource {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

/**
 * A user of the endpoint: the UDP tracker client now, the DHT and uTP later. Each datagram is
 * offered to the owners in the order they registered; the first whose `claims` says yes gets it.
 */
export interface DatagramOwner {
  /** Short and unique on the endpoint ('udp-tracker', 'dht', 'utp'): the key of its counters. */
  readonly name: string;
  /**
   * Is this datagram yours? Called for every datagram until one owner claims it: cheap, and
   * never throwing (an exception counts as no). See `isDhtDatagram`, `isUtpDatagram`.
   */
  claims(data: Buffer, from: DatagramSource): boolean;
  /** A datagram this owner claimed. `data` is its own (a fresh buffer per datagram). */
  onMessage(data: Buffer, from: DatagramSource): void;
  /** A failed send of this owner's, or an error of the socket (told to every owner). */
  onError?(error: Error): void;
}

/** What `register` gives an owner: its way out. `send(data, port, host)` is the DHT's datagram interface as is. */
export interface DatagramRoute {
  readonly name: string;
  /**
   * Sends one datagram to an IP address (IPv4 or IPv6, as the endpoint is bound). A failure goes
   * to `callback` when one is given, else to the owner's `onError`.
   */
  send(data: Uint8Array, port: number, host: string, callback?: (error?: Error) => void): void;
  /** The local port (undefined before `bind`). */
  readonly port: number | undefined;
  /** Unregisters the owner: its datagrams are unclaimed from now on. */
  close(): void;
}

export interface UdpEndpointOptions {
  /** Most owners at once (default 8): registering one more is a BAD_ARGUMENT. */
  maxOwners?: number;
  /** Let the process exit while only this endpoint is open (a standalone tracker client). */
  unref?: boolean;
  /** An owner's callback threw (default: print to stderr). */
  onError?: (error: unknown, context: string) => void;
}

export interface UdpBindOptions {
  /** Port to bind (0: an ephemeral one; the session binds the TCP listen port). */
  port?: number;
  /** Addresses, all on that port; default: '::' dual-stack, or '0.0.0.0' without IPv6 (as RawServer.listen). */
  hosts?: readonly string[];
}

/** Counters of the endpoint: what came in, who took it, what nobody took. */
export interface UdpEndpointStats {
  received: number;
  /** Datagrams no owner claimed: dropped. */
  unclaimed: number;
  /** Datagrams taken, per owner name. */
  claimed: Record<string, number>;
  sent: number;
  sendErrors: number;
}

/** A DHT message (KRPC) is a bencoded dictionary: it starts with `d`. */
export function isDhtDatagram(data: Uint8Array): boolean {
  return data.length > 0 && data[0] === 0x64;
}

/** A uTP packet (BEP 29): a 20-byte header whose first byte is (type << 4) | version 1, type 0..4. */
export function isUtpDatagram(data: Uint8Array): boolean {
  return data.length >= 20 && (data[0]! & 0x0f) === 1 && data[0]! >> 4 <= 4;
}

interface Entry {
  readonly owner: DatagramOwner;
  claimed: number;
}

/**
 * One UDP socket (per bound address) for a whole session, on the TCP listen port, shared by
 * every protocol that speaks UDP: each datagram goes to the first owner that claims it (UDP
 * tracker replies by transaction id and source, DHT messages by their `d`, uTP by its header),
 * and one nobody claims is dropped and counted. Nothing is queued: a datagram is handed over
 * or dropped at once, so the endpoint holds nothing for anyone.
 */
export class UdpEndpoint {
  readonly #maxOwners: number;
  readonly #unref: boolean;
  readonly #onError: (error: unknown, context: string) => void;
  readonly #owners: Entry[] = [];
  #sockets: Socket[] = [];
  #port: number | undefined;
  #closed = false;
  #received = 0;
  #unclaimed = 0;
  #sent = 0;
  #sendErrors = 0;
  readonly #gone: Record<string, number> = {};

  constructor(options: UdpEndpointOptions = {}) {
    this.#maxOwners = checkNonNegative('maxOwners', options.maxOwners ?? 8, true);
    this.#unref = options.unref ?? false;
    this.#onError = options.onError ?? ((error, context) => console.error(`rawserver: ${context}:`, error));
  }

  /** The bound port, once bound. */
  get port(): number | undefined {
    return this.#port;
  }

  get bound(): boolean {
    return this.#port !== undefined;
  }

  /**
   * Binds the port on every host (see UdpBindOptions).
   * @throws RawServerError NO_FREE_PORT (the port is taken), LISTEN_FAILED, ALREADY_LISTENING, CLOSED, BAD_ARGUMENT
   */
  async bind(options: UdpBindOptions = {}): Promise<number> {
    if (this.#closed) throw new RawServerError('CLOSED', 'the endpoint is closed');
    if (this.#port !== undefined) throw new RawServerError('ALREADY_LISTENING', 'the endpoint is bound already');
    return this.#adopt(await this.#bindSockets(options));
  }

  /**
   * Moves the endpoint to another port (the session's peer port changed): the new sockets are
   * bound first, so a port that is taken leaves the endpoint where it was. Owners stay registered
   * (their routes report the new port); datagrams still on their way to the old port are lost,
   * which every UDP protocol here retries.
   * @throws RawServerError NO_FREE_PORT, LISTEN_FAILED, CLOSED, BAD_ARGUMENT (as bind)
   */
  async rebind(options: UdpBindOptions = {}): Promise<number> {
    if (this.#closed) throw new RawServerError('CLOSED', 'the endpoint is closed');
    const sockets = await this.#bindSockets(options);
    const old = this.#sockets;
    const port = this.#adopt(sockets);
    await Promise.all(old.map(closeSocket));
    return port;
  }

  async #bindSockets(options: UdpBindOptions): Promise<Socket[]> {
    const port = checkPort('port', options.port ?? 0);
    return bindHosts<Socket>(
      {
        what: 'bind UDP',
        bind: (host, p) => bindOnce(host, p),
        portOf: (s) => s.address().port,
        close: closeSocket,
        closed: () => this.#closed,
      },
      options.hosts,
      port,
      port,
    );
  }

  #adopt(sockets: Socket[]): number {
    for (const s of sockets) {
      s.on('message', (msg, rinfo) => this.#dispatch(msg, rinfo));
      s.on('error', (err) => this.#socketError(err));
      if (this.#unref) s.unref();
    }
    this.#sockets = sockets;
    this.#port = sockets[0]!.address().port;
    return this.#port;
  }

  /**
   * Adds an owner; datagrams it claims go to it from now on.
   * @throws RawServerError BAD_ARGUMENT (too many owners, a name taken), CLOSED
   */
  register(owner: DatagramOwner): DatagramRoute {
    if (this.#closed) throw new RawServerError('CLOSED', 'the endpoint is closed');
    if (this.#owners.some((e) => e.owner.name === owner.name)) throw new RawServerError('BAD_ARGUMENT', `an owner named ${owner.name} is registered already`);
    if (this.#owners.length >= this.#maxOwners) throw new RawServerError('BAD_ARGUMENT', `the endpoint has its ${this.#maxOwners} owners already`);
    const entry: Entry = { owner, claimed: 0 };
    this.#owners.push(entry);
    const portOf = (): number | undefined => this.#port;
    return {
      name: owner.name,
      send: (data, port, host, callback) => this.#send(entry, data, port, host, callback),
      get port() {
        return portOf();
      },
      close: () => {
        const i = this.#owners.indexOf(entry);
        if (i < 0) return;
        this.#owners.splice(i, 1);
        this.#gone[owner.name] = (this.#gone[owner.name] ?? 0) + entry.claimed;
      },
    };
  }

  stats(): UdpEndpointStats {
    const claimed: Record<string, number> = { ...this.#gone };
    for (const e of this.#owners) claimed[e.owner.name] = (claimed[e.owner.name] ?? 0) + e.claimed;
    return { received: this.#received, unclaimed: this.#unclaimed, claimed, sent: this.#sent, sendErrors: this.#sendErrors };
  }

  /** Closes the sockets; owners are dropped and sends fail from now on. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#owners.length = 0;
    const sockets = this.#sockets;
    this.#sockets = [];
    await Promise.all(sockets.map(closeSocket));
  }

  #dispatch(msg: Buffer, rinfo: RemoteInfo): void {
    this.#received++;
    const { address, family } = splitAddress(rinfo.address);
    const from: DatagramSource = { address, port: rinfo.port, family: family === 'IPv6' ? 'IPv6' : 'IPv4' };
    for (const e of this.#owners) {
      let mine = false;
      try {
        mine = e.owner.claims(msg, from);
      } catch (err) {
        this.#report(err, `${e.owner.name} claims`);
      }
      if (!mine) continue;
      e.claimed++;
      try {
        e.owner.onMessage(msg, from);
      } catch (err) {
        this.#report(err, `${e.owner.name} onMessage`);
      }
      return;
    }
    this.#unclaimed++;
  }

  #send(entry: Entry, data: Uint8Array, port: number, host: string, callback: ((error?: Error) => void) | undefined): void {
    const fail = (error: Error): void => {
      this.#sendErrors++;
      if (callback) callback(error);
      else this.#tell(entry, error);
    };
    if (this.#closed || !this.#owners.includes(entry)) return fail(new RawServerError('CLOSED', `${entry.owner.name}: the endpoint is closed or the route unregistered`));
    const family = isIP(host);
    const socket = this.#sockets.find((s) => (family === 6 ? s.address().family === 'IPv6' : s.address().family === 'IPv4' || dualStack(s)));
    if (family === 0 || !socket) return fail(new RawServerError('BAD_ARGUMENT', `cannot send to ${JSON.stringify(host)} from ${this.#sockets.length === 0 ? 'an unbound endpoint' : 'this endpoint'}`));
    const to = family === 4 && socket.address().family === 'IPv6' ? `::ffff:${host}` : host;
    this.#sent++;
    socket.send(data, port, to, (err) => {
      if (err) fail(err);
      else callback?.();
    });
  }

  #socketError(error: Error): void {
    for (const e of [...this.#owners]) this.#tell(e, error);
  }

  #tell(entry: Entry, error: Error): void {
    try {
      entry.owner.onError?.(error);
    } catch (err) {
      this.#report(err, `${entry.owner.name} onError`);
    }
  }

  #report(error: unknown, context: string): void {
    try {
      this.#onError(error, context);
    } catch {
      // a failing reporter must not stop the datagrams
    }
  }
}

/** A socket bound to '::' without ipv6Only also sends to IPv4 (as IPv4-mapped addresses). */
function dualStack(s: Socket): boolean {
  return s.address().address === '::';
}

function bindOnce(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const six = isIP(host) === 6;
    const socket = createSocket(six ? { type: 'udp6', ipv6Only: host !== '::' } : { type: 'udp4' });
    const onError = (err: Error): void => {
      socket.close();
      reject(err);
    };
    socket.once('error', onError);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.removeListener('error', onError);
      resolve(socket);
    });
  });
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}
