import { Choker, type SeedChoking } from '@mainline/choker';
import type { Clock } from '@mainline/rate';
import type { ChokeControl, SwarmPeer } from './swarm-peer.js';
import type { UploadServer } from './upload-server.js';

/**
 * A peer neither side is interested in counts as idle (of no use now: it may be evicted to make
 * room for a newcomer) once connected this long: time for the bitfield and interest exchange.
 */
const IDLE_GRACE_MS = 10_000;

export interface ChokingOptions {
  clock: Clock;
  maxUploads: number;
  minUploads: number;
  snubTimeMs: number;
  seedChoking?: SeedChoking;
  idleUnchokeMs?: number;
  random?: () => number;
  /** A finished torrent downloads nothing: it chokes as a seed does. */
  isSeeding: () => boolean;
  /** Bytes of one turn of a round-robin seed. */
  seedTurnBytes: number;
}

/**
 * The glue between the Choker (who is unchoked: tit-for-tat, optimistic unchokes, round-robin
 * seeding) and the wire: a decision becomes a choke / unchoke message and clears or starts the
 * peer's uploads. It also says which peers are idle, what eviction goes by.
 */
export class ChokingGlue implements ChokeControl {
  readonly choker: Choker<SwarmPeer>;
  readonly #clock: Clock;

  constructor(
    options: ChokingOptions,
    private readonly uploads: UploadServer,
  ) {
    this.choker = new Choker<SwarmPeer>({
      clock: options.clock,
      maxUploads: options.maxUploads,
      minUploads: options.minUploads,
      snubTimeMs: options.snubTimeMs,
      isSeeding: options.isSeeding,
      seedTurnBytes: options.seedTurnBytes,
      ...(options.seedChoking ? { seedChoking: options.seedChoking } : {}),
      ...(options.idleUnchokeMs !== undefined ? { idleUnchokeMs: options.idleUnchokeMs } : {}),
      ...(options.random ? { random: options.random } : {}),
    });
    this.#clock = options.clock;
  }

  /** Called by SwarmPeer.choke()/unchoke() (the Choker decides). */
  setChoke(peer: SwarmPeer, choke: boolean): void {
    if (peer.amChoking === choke || peer.conn.state !== 'open') {
      peer.amChoking = choke;
      return;
    }
    peer.amChoking = choke;
    if (choke) {
      // BEP 6: the choke first, then the rejects of what will not be served.
      peer.conn.send({ type: 'choke' });
      this.uploads.choked(peer);
    } else {
      peer.conn.send({ type: 'unchoke' });
      this.uploads.unchoked(peer);
    }
  }

  /**
   * The peer is of no use now: it let an upload slot go unused (the choker took it back), or
   * neither side has been interested since it connected a while ago. Such peers make room for
   * newcomers when the torrent (or the server) is full.
   */
  isIdle(peer: SwarmPeer): boolean {
    if (this.choker.isIdle(peer)) return true;
    return !peer.peerInterested && !peer.amInterested && this.#clock.now() - peer.connectedAt >= IDLE_GRACE_MS;
  }
}
