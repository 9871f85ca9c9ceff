import { randomBytes } from 'node:crypto';
import type { DatagramRoute, DatagramSource, UdpEndpoint } from '@mainline/rawserver';

/** Where a UDP tracker is: a resolved IP address and port. */
export interface UdpTarget {
  readonly address: string;
  readonly port: number;
}

interface Transaction {
  readonly target: UdpTarget;
  readonly onReply: (reply: Buffer) => void;
  readonly onError: (error: Error) => void;
}

/**
 * The UDP side of every UDP tracker (BEP 15) of a session, on the session's one UDP endpoint:
 * one route named 'udp-tracker' that claims exactly the datagrams answering a transaction in
 * flight, by transaction id and source address and port. Everything else is not its to take
 * (the endpoint drops and counts it). Transaction ids are unique across all its trackers.
 */
export class UdpTrackerClient {
  readonly #route: DatagramRoute;
  readonly #pending = new Map<number, Transaction>();
  #closed = false;

  /** Registers on `endpoint` (bound or not: sends fail until it is). */
  constructor(endpoint: UdpEndpoint) {
    this.#route = endpoint.register({
      name: 'udp-tracker',
      claims: (data, from) => this.#match(data, from) !== undefined,
      onMessage: (data, from) => {
        const tid = this.#match(data, from);
        const t = tid === undefined ? undefined : this.#pending.get(tid);
        if (tid === undefined || !t) return;
        this.#pending.delete(tid);
        t.onReply(data);
      },
      // An error of the socket itself: every transaction in flight fails (each is retried by its tracker).
      onError: (error) => {
        const all = [...this.#pending.values()];
        this.#pending.clear();
        for (const t of all) t.onError(error);
      },
    });
  }

  /** Transactions in flight. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Sends `build(tid)` to `target` under a fresh transaction id; `onReply` gets the datagram that
   * answers it (from that address and port). Returns the function that forgets the transaction
   * (on timeout, abort or close). A send error is left to the caller's retransmission.
   */
  transaction(target: UdpTarget, build: (tid: number) => Buffer, onReply: (reply: Buffer) => void, onError: (error: Error) => void): () => void {
    if (this.#closed) throw new Error('the UDP tracker client is closed');
    let tid: number;
    do tid = randomBytes(4).readUInt32BE(0);
    while (this.#pending.has(tid));
    const t: Transaction = { target, onReply, onError };
    this.#pending.set(tid, t);
    this.#route.send(build(tid), target.port, target.address, () => undefined);
    return () => {
      if (this.#pending.get(tid) === t) this.#pending.delete(tid);
    };
  }

  /** Unregisters from the endpoint; transactions in flight are forgotten (their trackers time out or were closed). */
  close(): void {
    this.#closed = true;
    this.#pending.clear();
    this.#route.close();
  }

  #match(data: Buffer, from: DatagramSource): number | undefined {
    if (data.length < 8) return undefined;
    const tid = data.readUInt32BE(4);
    const t = this.#pending.get(tid);
    return t && from.port === t.target.port && sameAddress(from.address, t.target.address) ? tid : undefined;
  }
}

function sameAddress(a: string, b: string): boolean {
  if (a === b) return true;
  const strip = (s: string): string => s.replace(/^::ffff:/i, '').toLowerCase();
  return strip(a) === strip(b);
}
