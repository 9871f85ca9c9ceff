/**
 * What the DHT needs from a UDP endpoint: a way to send. The owner of the endpoint (the session's
 * shared UDP socket, {@link UdpDatagramSocket}, or a {@link MemoryNetwork} in tests) hands each
 * incoming datagram to `DhtNode.receive(data, from)`; the DHT copies what it keeps, so the owner
 * may reuse `data`'s memory once `receive` returns. `send` must not throw for an unreachable
 * peer (a throw is caught and reported as a `warning`); errors go wherever the owner logs them.
 */
export interface DatagramSocket {
  /** Sends one datagram to `host` (an IPv4 or IPv6 literal) and `port`. */
  send(data: Uint8Array, port: number, host: string): void;
  /** Our local UDP port, when known (sent with `implied_port` announces). */
  readonly localPort?: number;
}

/** Where a datagram came from (the shape of node:dgram's `rinfo`). */
export interface DatagramSource {
  readonly address: string;
  readonly port: number;
}
