// A DatagramSocket over node:dgram, for standalone use and interop tests. In the client the
// session's shared UDP endpoint plays this part and routes datagrams starting with 'd' to the DHT.
import { createSocket, type Socket } from 'node:dgram';
import { familyOf } from './compact.js';
import type { DatagramSocket, DatagramSource } from './socket.js';

export interface UdpDatagramSocketOptions {
  /** Address to bind (default 127.0.0.1; give '::' or an IPv6 address for an IPv6 socket). */
  readonly host?: string;
  /** Port (default 0: any free one). */
  readonly port?: number;
  /** Called with each datagram received. */
  readonly onMessage: (data: Uint8Array, from: DatagramSource) => void;
  /** Called with socket errors (default: ignored, a DHT shrugs off ICMP noise). */
  readonly onError?: (error: Error) => void;
}

/** One bound UDP socket (IPv4 or IPv6) as a {@link DatagramSocket}. */
export class UdpDatagramSocket implements DatagramSocket {
  readonly #socket: Socket;
  readonly #family: 4 | 6;
  #closed = false;

  private constructor(socket: Socket, family: 4 | 6) {
    this.#socket = socket;
    this.#family = family;
  }

  /** Binds a socket; resolves once it listens. */
  static bind(options: UdpDatagramSocketOptions): Promise<UdpDatagramSocket> {
    const host = options.host ?? '127.0.0.1';
    const family = familyOf(host) === 6 ? 6 : 4;
    const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6 });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(options.port ?? 0, host, () => {
        socket.off('error', reject);
        socket.on('error', (e) => options.onError?.(e));
        socket.on('message', (msg, rinfo) => options.onMessage(msg, rinfo));
        resolve(new UdpDatagramSocket(socket, family));
      });
    });
  }

  get localPort(): number {
    return this.#socket.address().port;
  }

  get localAddress(): string {
    return this.#socket.address().address;
  }

  send(data: Uint8Array, port: number, host: string): void {
    if (this.#closed || familyOf(host) !== this.#family) return;
    this.#socket.send(data, port, host);
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }
}
