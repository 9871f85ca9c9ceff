import { unmapped } from './address.js';
import type { Blame } from './blame.js';
import type { PeerConnection } from './peer-connection.js';
import { banKey, type SwarmPeer } from './swarm-peer.js';

export interface AdmissionContext {
  readonly peers: ReadonlySet<SwarmPeer>;
  /** Most peers of the torrent (seed: max_allow_in 55), and when to stop dialling (max_initiate 35). */
  readonly maxPeers: number;
  readonly maxInitiate: number;
  /** Connections the hub may still open (its global cap): no dial goes past it. */
  hubRoom(): number;
  readonly blame: Blame;
  isIdle(peer: SwarmPeer): boolean;
  drop(peer: SwarmPeer, reason: string): void;
}

/**
 * Who may join a swarm: not a banned address or peer, and only while there is room, which a
 * newcomer may make by evicting the oldest idle incoming peer; and how many dials may start.
 */
export class PeerAdmission {
  constructor(private readonly ctx: AdmissionContext) {}

  /** Why a handshaken connection is turned away, or undefined to take it. */
  refusal(conn: PeerConnection, active: boolean): string | undefined {
    const { blame } = this.ctx;
    if (!active) return 'no free connection slot';
    if (blame.isBanned(conn.remoteAddress) || blame.isBanned(banKey(conn.remoteAddress, conn.peerId))) return 'banned';
    if (this.ctx.peers.size >= this.ctx.maxPeers && !this.#evictFor(conn)) return 'no free connection slot';
    return undefined;
  }

  /** A dial to `host` (with the id a tracker gave, if any) may start: neither is banned. */
  mayDial(host: string, peerId: Uint8Array | undefined): boolean {
    const { blame } = this.ctx;
    return !blame.isBanned(host) && !(peerId && blame.isBanned(banKey(host, peerId)));
  }

  /**
   * A peer of the torrent is connected at `host:port` already: one we dialled there, or one that
   * dialled us and gave `port` as its listen port (BEP 10 `p`). Dialling it again (its address
   * came back by PEX, LSD or a tracker) would only make a duplicate, which within the
   * simultaneous-open window even replaces the working connection.
   */
  connectedTo(host: string, port: number): boolean {
    const h = unmapped(host);
    for (const p of this.ctx.peers) {
      if (unmapped(p.remoteAddress) !== h) continue;
      if ((p.incoming ? p.listenPort : p.remotePort) === port) return true;
    }
    return false;
  }

  /**
   * Outgoing connections that may start now: maxInitiate (never more than maxPeers: a dial past
   * it would only be turned away after its handshake) minus the open connections, and no more
   * than the hub has room for.
   */
  outgoingSlots(active: boolean): number {
    if (!active) return 0;
    const mine = Math.min(this.ctx.maxInitiate, this.ctx.maxPeers) - this.ctx.peers.size;
    return Math.max(0, Math.min(mine, this.ctx.hubRoom()));
  }

  /** The torrent is full: drops its oldest idle incoming peer for `conn`, if it has one. */
  #evictFor(conn: PeerConnection): boolean {
    let victim: SwarmPeer | undefined;
    for (const p of this.ctx.peers) {
      if (p.conn.incoming && this.ctx.isIdle(p) && (!victim || p.connectedAt < victim.connectedAt)) victim = p;
    }
    if (!victim) return false;
    this.ctx.drop(victim, `evicted: the torrent has ${this.ctx.maxPeers} peers and this one was idle, for ${conn.remoteAddress}:${conn.remotePort}`);
    return this.ctx.peers.size < this.ctx.maxPeers;
  }
}
