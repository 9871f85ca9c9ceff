import { isIP } from 'node:net';
import { BLOCK_SIZE } from '@mainline/bitfield';
import type { BlockRequest } from '@mainline/piecepicker';
import { RateMeasure, UPLOAD_RATE_FUDGE_MS, type Clock, type Limiter } from '@mainline/rate';
import type { PieceStore } from '@mainline/storage';
import { allowedFastSet, ALLOWED_FAST_COUNT } from './allowed-fast.js';
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
/**
 * Requests for one allowed-fast piece we accept while choking a peer: three times its blocks
 * (libtorrent's bound, after which it disconnects; we reject): enough for re-requests after a
 * lost connection's worth of trouble, not a way to download the piece over and over.
 */
const CHOKED_REQUESTS_PER_BLOCK = 3;
/** Recently read pieces (the read cache) we may suggest, and suggestions outstanding per peer. */
const MAX_SUGGEST_PIECES = 16;
export const MAX_SUGGESTIONS_OUT = 16;

/** What the upload side needs from the swarm. */
export interface UploadContext {
  readonly store: PieceStore;
  readonly clock: Clock;
  readonly limiters: readonly Limiter[];
  /** Closes the peer with a logged reason. */
  drop(peer: SwarmPeer, reason: string): void;
  diskError(error: unknown): void;
  /** For BEP 6: the torrent's info-hash (allowed-fast sets), the swarm's peers, and what a peer has. */
  readonly infoHash: Uint8Array;
  readonly peers: ReadonlySet<SwarmPeer>;
  peerHas(peer: SwarmPeer, piece: number): boolean;
  /** Whether to suggest the pieces in the read cache now (seeding to many peers). */
  suggesting(): boolean;
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
  /** Pieces recently read into the cache, oldest first: what we suggest (BEP 6). */
  readonly #cachedPieces = new Set<number>();
  readonly #blocksPerPiece: number;

  constructor(private readonly ctx: UploadContext) {
    const { store } = ctx;
    this.upRate = new RateMeasure({ clock: ctx.clock, fudgeMs: UPLOAD_RATE_FUDGE_MS });
    this.#readCache = new ReadCache(
      (piece, begin, length) => store.readBlock(piece, begin, length),
      (piece) => store.pieceSize(piece),
      undefined,
      undefined,
      (piece) => this.#pieceCached(piece),
    );
    this.#blocksPerPiece = Math.max(1, Math.ceil(store.pieceLength / BLOCK_SIZE));
  }

  onRequest(peer: SwarmPeer, index: number, begin: number, length: number): void {
    const { store } = this.ctx;
    const fast = peer.conn.fast;
    if (!store.hasPiece(index) && !peer.amChoking && !fast) {
      // We never said we have it (mainline closes here too: get_piece had nothing).
      return this.ctx.drop(peer, `request for piece ${index}, which we do not have`);
    }
    const request = { piece: index, begin, length };
    if (!store.hasPiece(index) || (peer.amChoking && !this.#servesChoked(peer, index))) return this.#refuse(peer, request);
    // Mainline closes on a request from a peer that is not interested; and a flood of requests
    // is how a hostile peer would make us queue unbounded work.
    if (!peer.peerInterested) return this.ctx.drop(peer, 'request from a peer that is not interested');
    if (peer.uploadQueue.length >= MAX_QUEUED_REQUESTS) {
      // A fast peer is told (it may ask again later); without BEP 6 there is no way to say no.
      if (!fast) return this.ctx.drop(peer, `more than ${MAX_QUEUED_REQUESTS} requests queued`);
      return this.#refuse(peer, request);
    }
    if (peer.amChoking) peer.chokedServed.set(index, (peer.chokedServed.get(index) ?? 0) + 1);
    peer.uploadQueue.push(request);
    this.serve(peer);
  }

  /** A fast peer's request that names no block of the torrent (see the reader's invalid-request): rejected, and counted. */
  onInvalidRequest(peer: SwarmPeer, index: number, begin: number, length: number): void {
    this.#refuse(peer, { piece: index, begin, length });
  }

  onCancel(peer: SwarmPeer, index: number, begin: number, length: number): void {
    const i = peer.uploadQueue.findIndex((r) => r.piece === index && r.begin === begin && r.length === length);
    if (i < 0) return; // being read or sent already: the piece is its answer
    peer.uploadQueue.splice(i, 1);
    // BEP 6: every request gets one answer, a cancelled one too.
    this.#unanswered(peer, { piece: index, begin, length });
  }

  /** The peer is not interested any more: what it asked for is forgotten (rejected, for a fast peer). */
  onNotInterested(peer: SwarmPeer): void {
    for (const r of peer.uploadQueue) this.#unanswered(peer, r);
    peer.uploadQueue.length = 0;
  }

  /**
   * We choked the peer (the choke is sent first): the queue goes, each request rejected for a
   * fast peer, except those for its allowed-fast pieces, which are still served.
   */
  choked(peer: SwarmPeer): void {
    let kept = 0;
    for (const r of peer.uploadQueue) {
      if (this.#servesChoked(peer, r.piece)) {
        peer.chokedServed.set(r.piece, (peer.chokedServed.get(r.piece) ?? 0) + 1);
        peer.uploadQueue[kept++] = r;
      } else this.#unanswered(peer, r);
    }
    peer.uploadQueue.length = kept;
  }

  /**
   * The peer's opening message (bitfield or have-none) came: a fast peer that is not a seed gets
   * its allowed-fast set (BEP 6's algorithm, from its address and the info-hash), or the part of
   * it that we have and it lacks; the rest follows as we get those pieces (pieceAdded). Then the
   * pieces in our read cache are suggested, if we are suggesting.
   */
  peerOpened(peer: SwarmPeer): void {
    if (!peer.conn.fast || peer.fastSet !== undefined || peer.seed || peer.conn.state !== 'open') return;
    const { store, infoHash } = this.ctx;
    const address = peer.conn.remoteAddress;
    // A transport whose addresses are not IPs would have no set (the BEP derives it from the IP).
    peer.fastSet = isIP(address) === 0 ? [] : allowedFastSet(address, infoHash, store.pieceCount, ALLOWED_FAST_COUNT);
    for (const piece of peer.fastSet) this.#offerFast(peer, piece);
    if (this.ctx.suggesting()) for (const piece of this.#cachedPieces) this.#suggest(peer, piece);
  }

  /** We verified `piece`: peers whose allowed-fast set holds it are told now. */
  pieceAdded(piece: number): void {
    for (const peer of this.ctx.peers) if (peer.fastSet?.includes(piece)) this.#offerFast(peer, piece);
  }

  /** The peer has `piece` now: a suggestion of it is spent. */
  peerGot(peer: SwarmPeer, piece: number): void {
    peer.suggestedOut.delete(piece);
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

  /** Whether a request of a peer we choke is for an allowed-fast piece we still serve it. */
  #servesChoked(peer: SwarmPeer, piece: number): boolean {
    if (!peer.allowedFastOut.has(piece) || this.ctx.peerHas(peer, piece)) return false;
    return (peer.chokedServed.get(piece) ?? 0) < CHOKED_REQUESTS_PER_BLOCK * this.#blocksPerPiece;
  }

  /** A request we will not serve: rejected for a fast peer, lost silently otherwise (BEP 3); a flood of them drops the peer. */
  #refuse(peer: SwarmPeer, r: BlockRequest): void {
    if (++peer.unanswered > MAX_UNANSWERED_REQUESTS) {
      return this.ctx.drop(peer, `more than ${MAX_UNANSWERED_REQUESTS} requests we would not serve (while choked, for pieces we do not have, over the queue limit)`);
    }
    this.#unanswered(peer, r);
  }

  #offerFast(peer: SwarmPeer, piece: number): void {
    if (peer.allowedFastOut.has(piece) || peer.conn.state !== 'open' || !this.ctx.store.hasPiece(piece) || this.ctx.peerHas(peer, piece)) return;
    peer.allowedFastOut.add(piece);
    peer.conn.send({ type: 'allowed-fast', index: piece });
  }

  /** A window of `piece` was read into the cache: suggest it to the peers that lack it, when suggesting. */
  #pieceCached(piece: number): void {
    this.#cachedPieces.delete(piece);
    this.#cachedPieces.add(piece);
    if (this.#cachedPieces.size > MAX_SUGGEST_PIECES) this.#cachedPieces.delete(this.#cachedPieces.values().next().value!);
    if (!this.ctx.suggesting()) return;
    for (const peer of this.ctx.peers) this.#suggest(peer, piece);
  }

  #suggest(peer: SwarmPeer, piece: number): void {
    if (!peer.conn.fast || peer.seed || peer.conn.state !== 'open' || peer.suggestedOut.size >= MAX_SUGGESTIONS_OUT) return;
    if (peer.suggestedOut.has(piece) || this.ctx.peerHas(peer, piece)) return;
    peer.suggestedOut.add(piece);
    peer.conn.send({ type: 'suggest', index: piece });
  }

  /** BEP 6: a fast peer is told about every request we will not answer, even one already in progress. */
  #unanswered(peer: SwarmPeer, r: BlockRequest): void {
    if (peer.conn.state === 'open' && peer.conn.fast) peer.conn.send({ type: 'reject', index: r.piece, begin: r.begin, length: r.length });
  }

  /** Choked meanwhile, and not an allowed-fast piece: no longer served. */
  #withdrawn(peer: SwarmPeer, request: BlockRequest): boolean {
    return peer.amChoking && !peer.allowedFastOut.has(request.piece);
  }

  #sendBlock(peer: SwarmPeer, request: BlockRequest): void {
    if (this.#withdrawn(peer, request) || peer.conn.state !== 'open') {
      peer.reading--;
      return this.#unanswered(peer, request);
    }
    this.#readCache.get(request.piece, request.begin, request.length).then(
      (block) => {
        peer.reading--;
        if (peer.conn.state !== 'open') return;
        if (this.#withdrawn(peer, request)) return this.#unanswered(peer, request);
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
