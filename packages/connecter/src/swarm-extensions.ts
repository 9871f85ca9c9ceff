import type { ExtensionHandshake } from './extension.js';
import { MetadataServer } from './metadata-server.js';
import type { PeerConnection } from './peer-connection.js';

/** What the BEP 10 side of a swarm may know and do about one peer. */
export interface ExtensionPeer {
  readonly conn: PeerConnection;
  /** The peer's `reqq`: the most requests it wants in flight. */
  limitRequests(reqq: number): void;
}

/**
 * Everything BEP 10 in a Swarm goes through this one delegate: our extension handshake, the
 * peer's, and every extended message. The swarm itself knows nothing of extensions (the
 * wire-extension host of issue 14 takes this place).
 */
export interface SwarmExtensions {
  /** Our BEP 10 handshake for a peer that set the extension bit, or undefined to send none. */
  handshake(peer: ExtensionPeer): ExtensionHandshake | undefined;
  /** The peer's BEP 10 handshake arrived. */
  onHandshake(peer: ExtensionPeer, handshake: ExtensionHandshake): void;
  /** An extended message (id as the peer sent it, our local id). */
  onMessage(peer: ExtensionPeer, id: number, payload: Uint8Array): void;
}

/**
 * Today's delegate: BEP 9 metadata serving (when the swarm has the info dict) and the peer's
 * `reqq`. Our handshake is sent only when we serve metadata, as before.
 */
export class MetadataExtensions implements SwarmExtensions {
  readonly #server: MetadataServer | undefined;

  constructor(
    metadata: Uint8Array | undefined,
    private readonly reqq: number,
  ) {
    this.#server = metadata ? new MetadataServer(metadata) : undefined;
  }

  handshake(): ExtensionHandshake | undefined {
    return this.#server?.handshake({ reqq: this.reqq });
  }

  onHandshake(peer: ExtensionPeer, handshake: ExtensionHandshake): void {
    const reqq = (handshake as { reqq?: number }).reqq;
    if (typeof reqq === 'number') peer.limitRequests(reqq);
  }

  onMessage(peer: ExtensionPeer, id: number, payload: Uint8Array): void {
    this.#server?.onExtended(peer.conn, id, payload);
  }
}
