import type { BlockRequest, PeerBlockRequest, PiecePicker } from '@mainline/piecepicker';
import { RateMeasure, type Clock, type TokenBucket } from '@mainline/rate';
import type { PieceStore } from '@mainline/storage';
import { takeAll } from './limiters.js';
import { RequestKeys } from './request-key.js';
import { stateOf, type PeerView, type SwarmPeer } from './swarm-peer.js';

/** Wrong-sized answers to our requests tolerated from one peer before dropping it. */
const MAX_BAD_ANSWERS = 3;

/** What the download side needs from the swarm. */
export interface PipelineContext {
  readonly picker: PiecePicker<PeerView>;
  readonly store: PieceStore;
  readonly clock: Clock;
  readonly limiters: readonly TokenBucket[];
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
    if (!interesting || peer.peerChoking) return;
    const target = this.#queueTarget(peer);
    let want = target - peer.outstanding - peer.pendingTokens;
    // Top up in batches (a quarter of the queue, at most 32 requests): one write per batch
    // instead of one per block received (on loopback each write costs the receiver's work too).
    if (want <= 0 || (peer.outstanding > 0 && want < Math.min(32, Math.ceil(target / 4)))) return;
    const blocks = picker.pickBlocks(peer, want, { endgame: true });
    want = blocks.length;
    if (want === 0) return;
    if (this.ctx.limiters.every((l) => l.rate === 0)) {
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
        if (peer.conn.state === 'open' && !peer.peerChoking) this.#sendRequest(peer, b);
        else if (picker.requestLost(b.piece, b.begin, peer)) this.refillAll(peer);
      });
    }
  }

  /** Blocks came free (choke, reject, drop, failed piece): offer them to the other peers. */
  refillAll(except?: SwarmPeer): void {
    for (const p of this.ctx.peers) if (p !== except) this.fill(p);
  }

  /** The peer choked us: without the fast extension that drops every request in flight; with it the peer rejects each, but we ask elsewhere at once either way. */
  choked(peer: SwarmPeer): void {
    peer.peerChoking = true;
    const lost = this.ctx.picker.peerChoked(peer);
    peer.requests.clear();
    if (lost.length > 0) this.refillAll(peer);
  }

  /** A reject means something only for a request we actually sent. */
  rejected(peer: SwarmPeer, index: number, begin: number, length: number): void {
    const key = this.#keys.match(index, begin);
    if (key === undefined || peer.requests.get(key) !== length) return;
    peer.requests.delete(key);
    this.ctx.picker.requestLost(index, begin, peer);
    this.fill(peer);
  }

  /** A piece message from the peer. */
  received(peer: SwarmPeer, index: number, begin: number, block: Uint8Array): void {
    const { picker, clock } = this.ctx;
    // Like mainline, accept only the answer to a request we sent this peer, at its exact length:
    // a peer must not be able to slip unrequested (or short) data into pieces others are sending.
    const key = this.#keys.match(index, begin);
    const asked = key === undefined ? undefined : peer.requests.get(key);
    if (key === undefined || asked === undefined) {
      this.wasted += block.length;
      return;
    }
    peer.requests.delete(key);
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
      peer.requests.delete(this.#keys.of(r.piece, r.begin));
      if (peer.conn.state !== 'open') continue;
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
   * backlog, never more than the peer's `reqq` (a peer that queues fewer drops the rest).
   */
  #queueTarget(peer: SwarmPeer): number {
    const byRate = Math.ceil((peer.downRate.rate() * this.ctx.requestQueueSeconds) / this.#keys.blockSize);
    return Math.min(peer.maxRequests, Math.max(this.ctx.requestBacklog, byRate));
  }
}
