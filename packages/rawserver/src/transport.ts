import type { Clock } from '@mainline/rate';
import type { ConnectionGate } from './connection-gate.js';
import type { PeerSocket, SocketHandler } from './peer-socket.js';
import type { ConnectOptions, ListenOptions, ListenResult } from './raw-server.js';

/** What a transport is given by the host it carries connections for (a peer-wire hub). */
export interface TransportHost {
  readonly clock: Clock;
  /**
   * The host's admission and idle sweep, shared by all its transports. The host admits every
   * incoming socket handed to `accept` and counts outgoing ones once connected; a transport may
   * also consult it early (TCP does, before it builds a socket for a refused connection).
   */
  readonly gate: ConnectionGate;
  /** An incoming connection: returns its handler, or undefined to refuse it (the transport closes it then). */
  accept(socket: PeerSocket): SocketHandler | undefined;
  /** An exception from a socket handler (or a task) that the transport caught. */
  reportError(error: unknown, context: string): void;
}

/**
 * One way of carrying peer connections: TCP (`TcpTransport`), the in-memory network of tests
 * (`MemoryTransport`), later uTP over the session's UDP endpoint. A host is given one or more;
 * it calls `attach` once, then `listen` (if the transport listens) and `connect` as it likes.
 */
export interface Transport {
  /** The name every socket of this transport reports as `PeerSocket.transport`. */
  readonly name: string;
  /** Binds the transport to its host: incoming connections go to `host.accept` from now on. */
  attach(host: TransportHost): void;
  /** Starts accepting connections (TCP: the first free port of the range, on the given hosts). */
  listen?(options: ListenOptions): Promise<ListenResult>;
  /**
   * Moves the listener to another port, keeping every connection (a peer port changed while
   * running); a port that cannot be had leaves it where it was.
   */
  relisten?(options: ListenOptions): Promise<ListenResult>;
  /** Dials a peer; the socket is returned at once and reports `onConnect` or a close. */
  connect(host: string, port: number, handler: SocketHandler, options?: ConnectOptions): PeerSocket;
  /** Closes every socket (reason 'shutdown') and listener of the transport. */
  close(): Promise<void>;
}
