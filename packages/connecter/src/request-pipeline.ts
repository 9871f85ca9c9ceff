import type { BlockRequest, PeerBlockRequest, PiecePicker } from '@mainline/piecepicker';
import { RateMeasure, type Clock, type Limiter } from '@mainline/rate';
import type { PieceStore } from '@mainline/storage';
import { takeAll } from './limiters.js';
import { RequestKeys } from './request-key.js';
import { stateOf, type PeerView, type SwarmPeer } from './swarm-peer.js';

/** Wrong-sized answers to our requests tolerated from one peer before dropping it. */
const MAX_BAD_ANSWERS = 3;
/** Allowed-fast pieces (BEP 6) we keep per peer; more are ignored (BEP 6 suggests 10, libtorrent sends 5). */
export const MAX_ALLOWED_FAST_IN = 32;
/** Rejects for requests we never sent (or answered twice) tolerated from one peer before dropping it. */
export const MAX_STRAY_REJECTS = 64;
/**
 * Rejects in a row, with no block in between, after which a peer is asked for nothing more until
 * it sends a block or chokes / unchokes us (libtorrent's max_rejects is 50): a peer that rejects
 * everything is not asked again and again.
 */
export const REJECT_STREAK_LIMIT = 50;

/** What the download side needs from the swarm. */
export interface PipelineContext {
  readonly picker: PiecePicker<PeerView>;
  readonly store: PieceStore;
  readonly clock: Clock;
  readonly limiters: readonly Limiter[];
  /** Fewest outstanding requests per peer, and seconds of its rate to keep requested. */
  readonly requestBacklog: number;
  readonly requestQueueSeconds: number;
  /** The swarm's peers (for handing freed blocks to the others). */
  readonly peers: ReadonlySet<SwarmPeer>;
  /** An accepted block from `peer`: to blame bookkeeping and to the disk. */
  accepted(peer: SwarmPeer, index: number, begin: number, block: Uint8Array): void;
  drop(peer: SwarmPeer, reason: string): void;
}

/**
 * The download side of a swarm (mainline's Downloader): interest, and a request pipeline per
 * peer sized from its rate (`requestQueueSeconds` of data, at least `requestBacklog`, at most
 * its `reqq`), topped up in batches; only answers to our own requests, at their exact length,
 * are accepted; choke, reject and failed pieces hand blocks back to the picker and the other
 * peers at once; endgame duplicates are cancelled. Per block received: one map lookup, no
 * allocation.
 */
export class RequestPipeline {
  downloaded = 0;
  /** Bytes received that were dropped (duplicates, unrequested, failed pieces). */
  wasted = 0;
  readonly downRate: RateMeasure;
  readonly #keys: RequestKeys;

  constructor(private readonly ctx: PipelineContext) {
    this.downRate = new RateMeasure({ clock: ctx.clock });
    this.#keys = new RequestKeys(ctx.store.pieceLength, ctx.picker.blockSize);
  }

  /** Sets interest and tops up the request pipeline of one peer. */
  fill(peer: SwarmPeer): void {
    if (peer.conn.state !== 'open') return;
    const { picker } = this.ctx;
    const interesting = !this.ctx.store.isComplete() && picker.isInteresting(peer);
    if (interesting !== peer.amInterested) {
      if (!interesting && peer.outstanding > 0) return; // stay interested until the pipeline drains
      peer.amInterested = interesting;
      peer.conn.send({ type: interesting ? 'interested' : 'not-interested' });
    }
    // Choked: only its allowed-fast pieces (BEP 6) may be asked for.
    const choked = peer.peerChoking;
    if (!interesting || (choked && peer.allowedFastIn.size === 0) || peer.rejectStreak >= REJECT_STREAK_LIMIT) return;
    const target = this.#queueTarget(peer);
    let want = target - peer.outstanding - peer.pendingTokens;
    // Top up in batches (a quarter of the queue, at most 32 requests): one write per batch
    // instead of one per block received (on loopback each write costs the receiver's work too).
    if (want <= 0 || (peer.outstanding > 0 && want < Math.min(32, Math.ceil(target / 4)))) return;
    const blocks = picker.pickBlocks(peer, want, choked ? { endgame: true, only: peer.allowedFastIn } : { endgame: true });
    want = blocks.length;
    if (want === 0) return;
    if (this.ctx.limiters.every((l) => l.unlimited)) {
      // Unlimited: the whole batch of requests goes out in one write.
      for (const b of blocks) peer.requests.set(this.#keys.of(b.piece, b.begin), b.length);
      peer.conn.sendMany(blocks.map((b) => ({ type: 'request', index: b.piece, begin: b.begin, length: b.length })));
      return;
    }
    // Download limit: a request is sent only once the limiters granted its bytes.
    for (const b of blocks) {
      peer.pendingTokens++;
      takeAll(peer, this.ctx.limiters, b.length, () => {
        peer.pendingTokens--;
        if (peer.conn.state === 'open' && (!peer.peerChoking || peer.allowedFastIn.has(b.piece))) this.#sendRequest(peer, b);
        else if (picker.requestLost(b.piece, b.begin, peer)) this.refillAll(peer);
      });
    }
  }

  /** Blocks came free (choke, reject, drop, failed piece): offer them to the other peers. */
  refillAll(except?: SwarmPeer): void {
    for (const p of this.ctx.peers) if (p !== except) this.fill(p);
  }

  /**
   * The peer choked us. Without the fast extension that drops every request in flight. A fast
   * peer answers each (BEP 6): its allowed-fast ones stay outstanding, to be served; the others
   * wait for their reject, but their blocks go to other peers at once.
   */
  choked(peer: SwarmPeer): void {
    const { picker } = this.ctx;
    peer.peerChoking = true;
    peer.rejectStreak = 0;
    if (!peer.conn.fast) {
      const lost = picker.peerChoked(peer);
      peer.requests.clear();
      if (lost.length > 0) this.refillAll(peer);
      return;
    }
    let lost = 0;
    for (const [key, length] of peer.requests) {
      const piece = this.#keys.pieceOf(key);
      if (peer.allowedFastIn.has(piece)) continue;
      peer.requests.delete(key);
      this.#awaitAnswer(peer, key, length);
      if (picker.requestLost(piece, this.#keys.beginOf(key), peer)) lost++;
    }
    if (lost > 0) this.refillAll(peer);
    this.fill(peer);
  }

  /** The peer unchoked us: a fresh start for a peer that rejected much. */
  unchoked(peer: SwarmPeer): void {
    peer.peerChoking = false;
    peer.rejectStreak = 0;
    this.fill(peer);
  }

  /**
   * The peer allows us `index` while it chokes us (BEP 6): kept (up to MAX_ALLOWED_FAST_IN per
   * peer, more are ignored) and asked for at once if we are choked and want it.
   */
  allowedFast(peer: SwarmPeer, index: number): void {
    if (peer.allowedFastIn.has(index) || peer.allowedFastIn.size >= MAX_ALLOWED_FAST_IN) return;
    peer.allowedFastIn.add(index);
    if (peer.peerChoking) this.fill(peer);
  }

  /**
   * A reject of a request we sent: its block goes to the other peers at once (not back to this
   * one, which would likely reject it again; it gets more work when it sends a block). A reject of
   * an allowed-fast piece while choked withdraws that piece. A reject answering a request we
   * gave up on (choke, cancel) just closes it; one for a request never sent is counted, and a peer
   * sending many is dropped.
   */
  rejected(peer: SwarmPeer, index: number, begin: number, length: number): void {
    const key = this.#keys.match(index, begin);
    if (key !== undefined && peer.requests.get(key) === length) {
      peer.requests.delete(key);
      peer.rejected++;
      peer.rejectStreak++;
      if (peer.peerChoking) peer.allowedFastIn.delete(index);
      // Unchoked and rejecting: its queue is full at what it still holds of ours. Ask no more than
      // that, or every top-up past it is rejected again (a queue of 2 behind a reqq of 500 made
      // ~48 rejects per block); each block it sends lets one more through (see received).
      else peer.queueCap = Math.max(1, Math.min(peer.queueCap, peer.requests.size));
      if (this.ctx.picker.requestLost(index, begin, peer)) this.refillAll(peer);
      return;
    }
    if (key !== undefined && peer.awaitingAnswer.get(key) === length) {
      peer.awaitingAnswer.delete(key);
      return;
    }
    if (++peer.strayRejects > MAX_STRAY_REJECTS) {
      this.ctx.drop(peer, `sent ${peer.strayRejects} rejects for requests we never sent`);
    }
  }

  /** Remembers a request whose block went back to the picker while its answer is still due; bounded per peer. */
  #awaitAnswer(peer: SwarmPeer, key: number, length: number): void {
    peer.awaitingAnswer.delete(key);
    peer.awaitingAnswer.set(key, length);
    if (peer.awaitingAnswer.size > 2 * peer.maxRequests) peer.awaitingAnswer.delete(peer.awaitingAnswer.keys().next().value!);
  }

  /** A piece message from the peer. */
  received(peer: SwarmPeer, index: number, begin: number, block: Uint8Array): void {
    const { picker, clock } = this.ctx;
    // Like mainline, accept only the answer to a request we sent this peer, at its exact length:
    // a peer must not be able to slip unrequested (or short) data into pieces others are sending.
    const key = this.#keys.match(index, begin);
    let asked = key === undefined ? undefined : peer.requests.get(key);
    if (key !== undefined && asked === undefined) {
      // The answer to a request we gave up on (choked, cancelled): still good if nobody sent it yet.
      asked = peer.awaitingAnswer.get(key);
      if (asked !== undefined) peer.awaitingAnswer.delete(key);
    }
    if (key === undefined || asked === undefined) {
      this.wasted += block.length;
      return;
    }
    peer.requests.delete(key);
    peer.rejectStreak = 0;
    if (asked !== block.length) {
      // A wrong-sized answer: ask again (a few times), then give up on the peer.
      this.wasted += block.length;
      picker.requestLost(index, begin, peer);
      if (++peer.badAnswers > MAX_BAD_ANSWERS) return this.ctx.drop(peer, `answered ${peer.badAnswers} requests with blocks of the wrong size`);
      return this.fill(peer);
    }
    const result = picker.blockReceived(index, begin, peer);
    if (result.duplicateRequestsToCancel.length > 0) this.#cancel(result.duplicateRequestsToCancel, true);
    if (!result.accepted) {
      this.wasted += block.length;
      return this.fill(peer);
    }
    peer.lastBlock = clock.now();
    if (peer.queueCap !== Infinity) peer.queueCap = peer.queueCap + 1 >= peer.maxRequests ? Infinity : peer.queueCap + 1;
    peer.downRate.update(block.length);
    peer.downloaded += block.length;
    this.downRate.update(block.length);
    this.downloaded += block.length;
    this.fill(peer);
    this.ctx.accepted(peer, index, begin, block);
  }

  /** Piece `index` failed its hash check: its requests still in flight are cancelled, its bytes wasted. */
  pieceFailed(index: number): void {
    this.#cancel(this.ctx.picker.pieceFailed(index), false);
    this.wasted += this.ctx.store.pieceSize(index);
  }

  /** Cancels requests in flight (endgame duplicates, requests of a failed piece); `refill` tops those peers up again. */
  #cancel(requests: readonly PeerBlockRequest<PeerView>[], refill: boolean): void {
    for (const r of requests) {
      const peer = stateOf(r.peer);
      const key = this.#keys.of(r.piece, r.begin);
      peer.requests.delete(key);
      if (peer.conn.state !== 'open') continue;
      // A fast peer answers a cancel too (a reject, or the piece if it was on its way).
      if (peer.conn.fast) this.#awaitAnswer(peer, key, r.length);
      peer.conn.send({ type: 'cancel', index: r.piece, begin: r.begin, length: r.length });
      if (refill) this.fill(peer);
    }
  }

  #sendRequest(peer: SwarmPeer, b: BlockRequest): void {
    peer.requests.set(this.#keys.of(b.piece, b.begin), b.length);
    peer.conn.send({ type: 'request', index: b.piece, begin: b.begin, length: b.length });
  }

  /**
   * Outstanding requests to keep with a peer: `requestQueueSeconds` of its rate, at least the
   * backlog, never more than the peer's `reqq` (a peer that queues fewer drops the rest) nor than
   * the queue its rejects showed.
   */
  #queueTarget(peer: SwarmPeer): number {
    const byRate = Math.ceil((peer.downRate.rate() * this.ctx.requestQueueSeconds) / this.#keys.blockSize);
    return Math.min(peer.maxRequests, peer.queueCap, Math.max(this.ctx.requestBacklog, byRate));
  }
}
