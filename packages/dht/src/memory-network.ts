// An in-memory datagram network for tests and simulations: endpoints at any address, delivery on
// the injected clock after a fixed latency, optional loss. No packet leaves the process.
import type { Clock } from '@mainline/rate';
import type { DatagramSocket, DatagramSource } from './socket.js';

export interface MemoryNetworkOptions {
  readonly clock: Clock;
  /** One-way delay of every datagram (default 10 ms). */
  readonly latencyMs?: number;
  /** Chance in [0, 1) that a datagram is lost (default 0), drawn from `random`. */
  readonly loss?: number;
  readonly random?: () => number;
}

/** One endpoint of a {@link MemoryNetwork}: a {@link DatagramSocket} whose datagrams reach `onMessage`. */
export interface MemoryEndpoint extends DatagramSocket {
  readonly host: string;
  readonly localPort: number;
  /** Called with each datagram delivered here. */
  onMessage: (data: Uint8Array, from: DatagramSource) => void;
  /** Stops delivery here (later datagrams to it vanish, like to a host that went away). */
  close(): void;
}

export class MemoryNetwork {
  readonly #clock: Clock;
  readonly #latencyMs: number;
  readonly #loss: number;
  readonly #random: () => number;
  readonly #endpoints = new Map<string, MemoryEndpoint>();
  /** Datagrams sent, and those delivered. */
  sent = 0;
  delivered = 0;
  /** Optional tap on every datagram sent (for tests that count or inspect traffic). */
  onSend: ((data: Uint8Array, from: DatagramSource, to: DatagramSource) => void) | undefined;

  constructor(options: MemoryNetworkOptions) {
    this.#clock = options.clock;
    this.#latencyMs = options.latencyMs ?? 10;
    this.#loss = options.loss ?? 0;
    this.#random = options.random ?? Math.random;
  }

  /** An endpoint at `host:port` (an IP literal; any address works, nothing is routed for real). */
  endpoint(host: string, port: number): MemoryEndpoint {
    const key = `${host}|${port}`;
    if (this.#endpoints.has(key)) throw new Error(`${host}:${port} is taken`);
    const from: DatagramSource = { address: host, port };
    const ep: MemoryEndpoint = {
      host,
      localPort: port,
      onMessage: () => undefined,
      send: (data, toPort, toHost) => {
        this.sent++;
        this.onSend?.(data, from, { address: toHost, port: toPort });
        if (this.#loss > 0 && this.#random() < this.#loss) return;
        const copy = Uint8Array.from(data);
        this.#clock.setTimeout(() => {
          const target = this.#endpoints.get(`${toHost}|${toPort}`);
          if (!target) return;
          this.delivered++;
          target.onMessage(copy, from);
        }, this.#latencyMs);
      },
      close: () => {
        this.#endpoints.delete(key);
      },
    };
    this.#endpoints.set(key, ep);
    return ep;
  }
}
