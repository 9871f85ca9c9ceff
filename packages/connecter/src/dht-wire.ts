import type { PeerConnection } from './peer-connection.js';
import { RESERVED_DHT } from './reserved.js';

/**
 * The DHT's side of the peer wire (BEP 5), given to the hub by whoever runs a DHT node: while
 * `port()` says where the node listens, our handshakes carry the DHT bit and peers that set it too
 * are sent a `port` message; the ports such peers send come back through `onPort`. Swarms and
 * metadata fetchers know nothing of it.
 */
export interface DhtWire {
  /** Our DHT node's UDP port while it runs; undefined while it does not (no bit, no port message). */
  port(): number | undefined;
  /** A peer (which set the DHT bit) told us its DHT port: at most once per connection, never 0. */
  onPort(address: string, port: number): void;
}

/** Whether 8 reserved bytes have the DHT bit. */
export function hasDhtBit(reserved: Uint8Array | undefined): boolean {
  return reserved !== undefined && ((reserved[RESERVED_DHT.byte] ?? 0) & RESERVED_DHT.mask) !== 0;
}

/** `reserved` with the DHT bit set. */
export function withDhtBit(reserved: Uint8Array): Uint8Array {
  const r = Uint8Array.from(reserved);
  r[RESERVED_DHT.byte] = (r[RESERVED_DHT.byte] ?? 0) | RESERVED_DHT.mask;
  return r;
}

/** The hub's bookkeeping for one DhtWire: which reserved bytes to send, and who told a port already. */
export class DhtWireState {
  readonly #wire: DhtWire;
  readonly #plain: Uint8Array;
  readonly #withBit: Uint8Array;
  /** Connections whose port we passed on: one per connection, so a peer repeating it costs nothing. */
  readonly #told = new WeakSet<PeerConnection>();

  constructor(wire: DhtWire, reserved: Uint8Array) {
    this.#wire = wire;
    this.#plain = reserved;
    this.#withBit = withDhtBit(reserved);
  }

  /** Our reserved bytes for a handshake starting now. */
  reserved(): Uint8Array {
    return this.#wire.port() === undefined ? this.#plain : this.#withBit;
  }

  /** A connection opened: both sides set the bit, so tell the peer our DHT port. */
  opened(conn: PeerConnection): void {
    const port = this.#wire.port();
    if (port === undefined || !hasDhtBit(conn.remoteReserved) || conn.state !== 'open') return;
    conn.send({ type: 'port', port });
  }

  /** A `port` message arrived. */
  received(conn: PeerConnection, port: number, address: string): void {
    if (port === 0 || !hasDhtBit(conn.remoteReserved) || this.#told.has(conn) || this.#wire.port() === undefined) return;
    this.#told.add(conn);
    this.#wire.onPort(address, port);
  }
}
