import type { PeerConnection } from './peer-connection.js';

/**
 * Haves one peer may send while the piece count is unknown that are kept for the hand-off; more
 * are not recorded (a real peer sends a bitfield for what it has, and haves only for the few
 * pieces it gets in the seconds of a metadata fetch).
 */
export const MAX_HELD_HAVES = 65_536;

/** An open connection handed from one owner to another, with what the peer said so far. */
export interface HandedPeer {
  readonly conn: PeerConnection;
  /** Its bitfield message, as sent (its length is checked once the piece count is known). */
  readonly bitfield: Uint8Array | undefined;
  /** Its have-all (BEP 6). */
  readonly haveAll: boolean;
  /** Its haves, in order (at most MAX_HELD_HAVES). */
  readonly haves: readonly number[];
  /** Whether it chokes us, and is interested in us (its latest word). */
  readonly peerChoking: boolean;
  readonly peerInterested: boolean;
}

/**
 * Connections held for the torrent that will own them: a magnet's metadata fetcher hands its
 * peers to the torrent's Swarm once the metadata is verified, so nobody is dialled twice. The
 * taker gets the hub registration (WireHub.replaceTorrent) in the same turn.
 */
export interface PeerHandOff {
  /** The info-hash the connections are registered under on the hub. */
  readonly infoHash: Uint8Array;
  /** Takes the open connections (once: then empty). The giver keeps no handle on them. */
  take(): HandedPeer[];
  /** Nobody will take them: closes them and leaves the hub. */
  release(): void;
}
