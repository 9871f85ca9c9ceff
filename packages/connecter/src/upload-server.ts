import type { BlockRequest } from '@mainline/piecepicker';
import { RateMeasure, UPLOAD_RATE_FUDGE_MS, type Clock, type TokenBucket } from '@mainline/rate';
import type { PieceStore } from '@mainline/storage';
import { takeAll } from './limiters.js';
import { ReadCache } from './read-cache.js';
import type { SwarmPeer } from './swarm-peer.js';

/** Our `reqq`: requests queued for upload per peer before it is dropped. */
export const MAX_QUEUED_REQUESTS = 1024;
/**
 * Requests we will not answer (sent while choked, or for pieces we lack) allowed between two
 * unchokes. A peer may have a full queue (our reqq) in flight when we choke it, so twice that is
 * never an accident: it is a peer making us send one reject per request (issue 13).
 */
const MAX_UNANSWERED_REQUESTS = 2 * MAX_QUEUED_REQUESTS;
const MAX_READS_IN_FLIGHT = 4;

/** What the upload side needs from the swarm. */
export interface UploadContext {
  readonly store: PieceStore;
  readonly clock: Clock;
  readonly limiters: readonly TokenBucket[];
  /** Closes the peer with a logged reason. */
  drop(peer: SwarmPeer, reason: string): void;
  diskError(error: unknown): void;
}

/**
 * The upload side of a swarm (mainline's Uploader): each peer's request queue, served from the
 * PieceStore (through a read cache) while its socket is not congested and the limiters allow,
 * a few disk reads at a time; BEP 6 rejects for what we will not answer; the queue cleared on
 * choke. Every bound here is per peer (queue length, reads in flight, unanswered requests).
 */
export class UploadServer {
  /** Bytes uploaded by this swarm, and the rate. */
  uploaded = 0;
  readonly upRate: RateMeasure;
  readonly #readCache: ReadCache;

  constructor(private readonly ctx: UploadContext) {
    const { store } = ctx;
    this.upRate = new RateMeasure({ clock: ctx.clock, fudgeMs: UPLOAD_RATE_FUDGE_MS });
    this.#readCache = new ReadCache(
      (piece, begin, length) => store.readBlock(piece, begin, length),
      (piece) => store.pieceSize(piece),
    );
  }

  onRequest(peer: SwarmPeer, index: number, begin: number, length: number): void {
    const { store } = this.ctx;
    if (!store.hasPiece(index) && !peer.amChoking && !peer.conn.fast) {
      // We never said we have it (mainline closes here too: get_piece had nothing).
      return this.ctx.drop(peer, `request for piece ${index}, which we do not have`);
    }
    if (peer.amChoking || !store.hasPiece(index)) {
      if (++peer.unanswered > MAX_UNANSWERED_REQUESTS) {
        return this.ctx.drop(peer, `more than ${MAX_UNANSWERED_REQUESTS} requests while choked or for pieces we do not have`);
      }
      // Fast peers learn at once; others lose the request silently, as BEP 3 says.
      if (peer.conn.fast) peer.conn.send({ type: 'reject', index, begin, length });
      return;
    }
    // Mainline closes on a request from a peer that is not interested; and a flood of requests
    // is how a hostile peer would make us queue unbounded work.
    if (!peer.peerInterested) return this.ctx.drop(peer, 'request from a peer that is not interested');
    if (peer.uploadQueue.length >= MAX_QUEUED_REQUESTS) return this.ctx.drop(peer, `more than ${MAX_QUEUED_REQUESTS} requests queued`);
    peer.uploadQueue.push({ piece: index, begin, length });
    this.serve(peer);
  }

  onCancel(peer: SwarmPeer, index: number, begin: number, length: number): void {
    const i = peer.uploadQueue.findIndex((r) => r.piece === index && r.begin === begin && r.length === length);
    if (i >= 0) peer.uploadQueue.splice(i, 1);
  }

  /** The peer is not interested any more: what it asked for is forgotten. */
  onNotInterested(peer: SwarmPeer): void {
    peer.uploadQueue.length = 0;
  }

  /** We choked the peer: the queue goes, each request rejected for a fast peer. */
  choked(peer: SwarmPeer): void {
    if (peer.conn.fast) {
      for (const r of peer.uploadQueue) peer.conn.send({ type: 'reject', index: r.piece, begin: r.begin, length: r.length });
    }
    peer.uploadQueue.length = 0;
  }

  /** We unchoked the peer: a fresh allowance of unanswered requests, and serving starts. */
  unchoked(peer: SwarmPeer): void {
    peer.unanswered = 0;
    this.serve(peer);
  }

  /**
   * Sends queued blocks while the socket takes them and the limiters allow (called again on
   * `onFlushed`). A few disk reads run at once per peer: one at a time would leave the link idle
   * for each read's latency.
   */
  serve(peer: SwarmPeer): void {
    while (
      peer.reading < MAX_READS_IN_FLIGHT &&
      !peer.waitingForTokens &&
      !peer.amChoking &&
      peer.conn.state === 'open' &&
      !peer.conn.congested
    ) {
      const next = peer.uploadQueue.shift();
      if (!next) return;
      peer.reading++;
      peer.waitingForTokens = true;
      let granted = false;
      let inLoop = true;
      takeAll(peer, this.ctx.limiters, next.length, () => {
        granted = true;
        peer.waitingForTokens = false;
        this.#sendBlock(peer, next);
        if (!inLoop) this.serve(peer);
      });
      inLoop = false;
      if (!granted) return; // the limiter calls back later and serving resumes from there
    }
  }

  /** Forgets cached blocks (the swarm stops). */
  clear(): void {
    this.#readCache.clear();
  }

  /** BEP 6: a fast peer is told about every request we will not answer, even one already in progress. */
  #unanswered(peer: SwarmPeer, r: BlockRequest): void {
    if (peer.conn.state === 'open' && peer.conn.fast) peer.conn.send({ type: 'reject', index: r.piece, begin: r.begin, length: r.length });
  }

  #sendBlock(peer: SwarmPeer, request: BlockRequest): void {
    if (peer.amChoking || peer.conn.state !== 'open') {
      peer.reading--;
      return this.#unanswered(peer, request);
    }
    this.#readCache.get(request.piece, request.begin, request.length).then(
      (block) => {
        peer.reading--;
        if (peer.conn.state !== 'open') return;
        if (peer.amChoking) return this.#unanswered(peer, request);
        peer.conn.sendPiece(request.piece, request.begin, block);
        peer.upRate.update(block.length);
        peer.uploaded += block.length;
        this.upRate.update(block.length);
        this.uploaded += block.length;
        this.serve(peer);
      },
      (err: unknown) => {
        peer.reading--;
        this.ctx.diskError(err);
      },
    );
  }
}
