import { RawServerError } from './errors.js';
import type { PeerSocket, SocketHandler } from './peer-socket.js';
import { RawServer, type ConnectOptions, type ListenOptions, type ListenResult, type RawServerOptions } from './raw-server.js';
import type { Transport, TransportHost } from './transport.js';

/** RawServer settings that are the transport's own; the clock, limits and incoming handler come from the host. */
export type TcpTransportOptions = Omit<
  RawServerOptions,
  'clock' | 'gate' | 'onIncoming' | 'onFull' | 'timeoutMs' | 'timeoutCheckIntervalMs' | 'maxAllowIn' | 'maxConnectionsPerIp' | 'limitLoopback'
>;

/** TCP as a Transport: a RawServer on the host's clock, counting its sockets in the host's gate. */
export class TcpTransport implements Transport {
  readonly name = 'tcp';
  readonly #options: TcpTransportOptions;
  #server: RawServer | undefined;

  constructor(options: TcpTransportOptions = {}) {
    this.#options = options;
  }

  /** The RawServer behind the transport (once attached). */
  get server(): RawServer {
    if (!this.#server) throw new RawServerError('BAD_ARGUMENT', 'the TCP transport is not attached to a host yet');
    return this.#server;
  }

  attach(host: TransportHost): void {
    if (this.#server) throw new RawServerError('BAD_ARGUMENT', 'the TCP transport is attached already');
    this.#server = new RawServer({
      onError: (error, context) => host.reportError(error, context),
      ...this.#options,
      clock: host.clock,
      gate: host.gate,
      onIncoming: (socket) => host.accept(socket),
    });
  }

  listen(options: ListenOptions): Promise<ListenResult> {
    return this.server.listen(options);
  }

  relisten(options: ListenOptions): Promise<ListenResult> {
    return this.server.relisten(options);
  }

  connect(host: string, port: number, handler: SocketHandler, options?: ConnectOptions): PeerSocket {
    return this.server.connect(host, port, handler, options);
  }

  async close(): Promise<void> {
    await this.#server?.close();
  }
}
