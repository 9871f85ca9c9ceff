import { type Clock, systemClock, type TimerHandle } from '@mainline/rate';

/**
 * What the choker needs from a connection: no sockets, just state and two actions.
 * "Choked"/"interested" are about the peer's side of our upload: we choke *them*, they are
 * interested in *our* pieces.
 */
export interface ChokablePeer {
  /** The peer is interested in us (wants to download from us). */
  isInterested(): boolean;
  /** We are currently choking the peer. */
  isChoked(): boolean;
  /** Start choking the peer (called only while it is unchoked). */
  choke(): void;
  /** Stop choking the peer (called only while it is choked). */
  unchoke(): void;
  /** Bytes/s this peer sends us (ranks peers while we leech). */
  downloadRate(): number;
  /** Bytes/s we send this peer (ranks peers once we seed). */
  uploadRate(): number;
  /** Clock time (ms) of the last block received from this peer; `null` if none yet. */
  lastBlockAt(): number | null;
}

export interface ChokerOptions {
  /** Time source for the rechoke timer and snub checks; defaults to `systemClock`. */
  clock?: Clock;
  /** Most unchoked peers: `maxUploads − 1` by rate plus one optimistic (mainline `max_uploads`, 7). */
  maxUploads?: number;
  /** Keep unchoking interested peers beyond the preferred ones until this many (mainline `min_uploads`, 4). */
  minUploads?: number;
  /** True once we have everything: then peers are ranked by our upload to them, and nobody is snubbed. */
  isSeeding?: () => boolean;
  /** Uniform in [0, 1); used to place new peers. Defaults to `Math.random`. */
  random?: () => number;
  /**
   * A peer that sent no block for longer than this (ms) is "snubbing" us and is not preferred while
   * we leech. Default 60 s (the figure); mainline 3.x used `snub_time` = 30 s.
   */
  snubTimeMs?: number;
  /** Period of the rechoke timer (mainline: 10 s). */
  rechokeIntervalMs?: number;
  /** Rotate the optimistic unchoke on every n-th timer run (mainline: 3, i.e. every 30 s). */
  optimisticEvery?: number;
}

export type ChokerErrorCode = 'BAD_ARGUMENT' | 'DUPLICATE_PEER';

export class ChokerError extends Error {
  override readonly name = 'ChokerError';
  constructor(
    readonly code: ChokerErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const DEFAULT_MAX_UPLOADS = 7;
export const DEFAULT_MIN_UPLOADS = 4;
export const DEFAULT_SNUB_TIME_MS = 60_000;
export const DEFAULT_RECHOKE_INTERVAL_MS = 10_000;
export const DEFAULT_OPTIMISTIC_EVERY = 3;

function whole(what: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new ChokerError('BAD_ARGUMENT', `${what} must be an integer ≥ ${min}, got ${String(value)}`);
  }
  return value;
}

function positive(what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ChokerError('BAD_ARGUMENT', `${what} must be a finite number > 0, got ${String(value)}`);
  }
  return value;
}

/**
 * mainline 3.x's choker (tit-for-tat with a rotating optimistic unchoke).
 *
 * Peers sit in one list. Every `rechokeInterval` (10 s) the timer runs; on every
 * `optimisticEvery`-th run (30 s) the list is first rotated so that the first choked, interested
 * peer is at its front: the next optimistic unchoke. Then {@link rechoke}:
 *
 * 1. Preferred: interested, not snubbed peers, fastest first (download rate from them while
 *    leeching, upload rate to them while seeding; ties keep list order), cut to `maxUploads − 1`.
 *    All are unchoked.
 * 2. Walk the others in list order, unchoking each while fewer than `minUploads` interested peers
 *    are unchoked or no optimistic unchoke has been made yet. An interested peer unchoked here
 *    counts and is the optimistic unchoke; uninterested peers are unchoked on the way, uncounted.
 * 3. Choke everyone else.
 *
 * New peers are inserted at a random index in [−2, len] clamped to 0, so the front (the next
 * optimistic spot) is 3× as likely as any other place, and a rechoke follows. A rechoke also
 * follows at once when an interested, unchoked peer leaves, when an unchoked peer's interest
 * changes, and when `maxUploads`/`minUploads` change.
 */
export class Choker<P extends ChokablePeer = ChokablePeer> {
  private readonly clock: Clock;
  private readonly isSeeding: () => boolean;
  private readonly random: () => number;
  private readonly snubTime: number;
  private readonly interval: number;
  private readonly optimisticEvery: number;
  private max: number;
  private min: number;
  private list: P[] = [];
  private readonly members = new Set<P>();
  private timer: TimerHandle | null = null;
  private runs = 0;
  private rechoking = false;
  private rechokeAgain = false;
  private lastPreferred: P[] = [];
  private lastOptimistic: P[] = [];

  constructor(options: ChokerOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.isSeeding = options.isSeeding ?? (() => false);
    this.random = options.random ?? Math.random;
    this.snubTime = positive('snubTimeMs', options.snubTimeMs ?? DEFAULT_SNUB_TIME_MS);
    this.interval = positive('rechokeIntervalMs', options.rechokeIntervalMs ?? DEFAULT_RECHOKE_INTERVAL_MS);
    this.optimisticEvery = whole('optimisticEvery', options.optimisticEvery ?? DEFAULT_OPTIMISTIC_EVERY, 1);
    this.max = whole('maxUploads', options.maxUploads ?? DEFAULT_MAX_UPLOADS, 1);
    this.min = whole('minUploads', options.minUploads ?? DEFAULT_MIN_UPLOADS, 0);
  }

  /** Start the periodic rechoke timer (idempotent). */
  start(): void {
    if (this.timer === null) this.timer = this.clock.setTimeout(this.tick, this.interval);
  }

  /** Stop the timer; peers keep their current choke state. */
  stop(): void {
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
  }

  get running(): boolean {
    return this.timer !== null;
  }

  get maxUploads(): number {
    return this.max;
  }

  get minUploads(): number {
    return this.min;
  }

  /** The peers in choker order (front = next optimistic candidate). */
  get peers(): readonly P[] {
    return this.list;
  }

  /** Peers unchoked by rate in the last rechoke, fastest first. */
  get preferred(): readonly P[] {
    return this.lastPreferred;
  }

  /** Interested peers unchoked beyond the preferred ones in the last rechoke (the optimistic unchoke first). */
  get optimistic(): readonly P[] {
    return this.lastOptimistic;
  }

  /** How many timer runs happened so far. */
  get timerRuns(): number {
    return this.runs;
  }

  /**
   * A new connection: insert it at `position` (default: random in [−2, len], clamped to 0) and
   * rechoke. Throws DUPLICATE_PEER if it is already known.
   */
  peerConnected(peer: P, position?: number): void {
    if (this.members.has(peer)) throw new ChokerError('DUPLICATE_PEER', 'peer is already known to the choker');
    const len = this.list.length;
    const p = position ?? Math.floor(this.random() * (len + 3)) - 2;
    if (!Number.isInteger(p)) throw new ChokerError('BAD_ARGUMENT', `position must be an integer, got ${String(p)}`);
    this.list.splice(Math.min(Math.max(p, 0), len), 0, peer);
    this.members.add(peer);
    this.rechoke();
  }

  /** A connection closed. Rechokes if it was interested and unchoked. Returns whether it was known. */
  peerDisconnected(peer: P): boolean {
    if (!this.members.delete(peer)) return false;
    this.list.splice(this.list.indexOf(peer), 1);
    this.lastPreferred = this.lastPreferred.filter((p) => p !== peer);
    this.lastOptimistic = this.lastOptimistic.filter((p) => p !== peer);
    if (peer.isInterested() && !peer.isChoked()) this.rechoke();
    return true;
  }

  /** The peer became interested or not interested; rechokes if it is unchoked. */
  interestChanged(peer: P): void {
    if (!this.members.has(peer)) return;
    if (!peer.isChoked()) this.rechoke();
  }

  /** Change the upload-slot limit and rechoke now. */
  setMaxUploads(n: number): void {
    this.max = whole('maxUploads', n, 1);
    this.rechoke();
  }

  /** Change how many interested peers to keep unchoked at least, and rechoke now. */
  setMinUploads(n: number): void {
    this.min = whole('minUploads', n, 0);
    this.rechoke();
  }

  /** Recompute who is unchoked (see the class comment). Safe to call at any time, even re-entrantly. */
  rechoke(): void {
    if (this.rechoking) {
      this.rechokeAgain = true; // a choke()/unchoke() callback changed things: redo once done
      return;
    }
    this.rechoking = true;
    try {
      do {
        this.rechokeAgain = false;
        this.rechokeOnce();
      } while (this.rechokeAgain);
    } finally {
      this.rechoking = false;
    }
  }

  private readonly tick = (): void => {
    this.timer = this.clock.setTimeout(this.tick, this.interval);
    this.runs++;
    if (this.runs % this.optimisticEvery === 0) this.rotate();
    this.rechoke();
  };

  /** Rotate the list so the first choked, interested peer is at the front. */
  private rotate(): void {
    const i = this.list.findIndex((p) => p.isChoked() && p.isInterested());
    if (i > 0) this.list = this.list.slice(i).concat(this.list.slice(0, i));
  }

  private rechokeOnce(): void {
    const peers = this.list.slice(); // callbacks may connect/disconnect peers while we walk
    const seeding = this.isSeeding();
    const now = this.clock.now();
    const ranked: { peer: P; rate: number; index: number }[] = [];
    peers.forEach((peer, index) => {
      if (!peer.isInterested()) return;
      if (!seeding) {
        const last = peer.lastBlockAt();
        if (last === null || now - last > this.snubTime) return; // snubbed
      }
      const rate = seeding ? peer.uploadRate() : peer.downloadRate();
      ranked.push({ peer, rate: Number.isFinite(rate) ? rate : 0, index });
    });
    ranked.sort((a, b) => b.rate - a.rate || a.index - b.index);
    const preferred = ranked.slice(0, this.max - 1).map((r) => r.peer);
    const preferredSet = new Set(preferred);
    const optimistic: P[] = [];
    let count = preferred.length;
    let hit = false;
    for (const peer of peers) {
      if (!this.members.has(peer)) continue; // disconnected by a callback during this walk
      if (preferredSet.has(peer)) {
        if (peer.isChoked()) peer.unchoke();
      } else if (count < this.min || !hit) {
        if (peer.isChoked()) peer.unchoke();
        if (peer.isInterested()) {
          count++;
          hit = true;
          optimistic.push(peer);
        }
      } else if (!peer.isChoked()) {
        peer.choke();
      }
    }
    this.lastPreferred = preferred;
    this.lastOptimistic = optimistic;
  }
}
