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
  /**
   * Optional: bytes we have uploaded to this peer so far (a counter that only grows). With it the
   * choker takes back the upload slot of an interested peer that uses none of it for
   * `idleUnchokeMs`, and a seed rotates its slots round-robin (`seedChoking`). Without it (on any
   * peer) the choker is mainline's, unchanged.
   */
  bytesUploaded?(): number;
}

/**
 * How a seed picks whom to unchoke: `round-robin` (libtorrent's default) rotates the slots among
 * peers that download, `upload-rate` is mainline's (the fastest uploads keep their slots).
 */
export type SeedChoking = 'round-robin' | 'upload-rate';

export interface ChokerOptions {
  /** Time source for the rechoke timer and snub checks; defaults to `systemClock`. */
  clock?: Clock;
  /** Most unchoked peers: `maxUploads − 1` by rate plus one optimistic (mainline `max_uploads`, 7); 0 chokes everyone. */
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
  /**
   * An unchoked, interested peer to which nothing was uploaded for this long (ms) loses its slot
   * to a peer waiting for one (default 10 s; 0 = never). Preferred peers while leeching keep
   * theirs (they earn it by sending to us). Needs `bytesUploaded()`.
   */
  idleUnchokeMs?: number;
  /** The seed's algorithm (default `round-robin`; it needs `bytesUploaded()` on every peer). */
  seedChoking?: SeedChoking;
  /**
   * Round-robin: a downloading peer has had its turn once unchoked this long (ms, default 60 s,
   * libtorrent's) and sent at least `seedTurnBytes`; then peers waiting for a slot go first.
   */
  seedTurnMs?: number;
  /** Round-robin: bytes a turn lasts at least (default 4 MiB; libtorrent: 20 pieces). */
  seedTurnBytes?: number;
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
export const DEFAULT_IDLE_UNCHOKE_MS = 10_000;
export const DEFAULT_SEED_TURN_MS = 60_000;
export const DEFAULT_SEED_TURN_BYTES = 4 * 1024 * 1024;

/** What the choker remembers of a peer's upload slots (only used with `bytesUploaded()`). */
interface SlotState {
  /** Connect time, or when we last choked it: the round-robin queue is in this order. */
  waitingSince: number;
  /** Start of its current slot (unchoked while interested), or null. */
  slotSince: number | null;
  /** bytesUploaded() at the slot's start and at the last look. */
  slotBytes: number;
  lastBytes: number;
  /** When the counter last moved during the slot (the slot's start before that). */
  activeAt: number;
  /** Something was uploaded during the current slot. */
  used: boolean;
  /** It has had a slot (a newcomer's first slot is a trial, see the class comment). */
  hadSlot: boolean;
  /** The current slot is a newcomer's trial. */
  trial: boolean;
  /** Its last slot was taken back unused, and it has not used one since. */
  idle: boolean;
}

function nonNegative(what: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ChokerError('BAD_ARGUMENT', `${what} must be a finite number ≥ 0, got ${String(value)}`);
  }
  return value;
}

const tracked = (p: ChokablePeer): boolean => typeof p.bytesUploaded === 'function';

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
 *
 * With `bytesUploaded()` on the peers (issue 13: idle peers held every slot of a seed):
 *
 * - **Idle slots are taken back.** An unchoked, interested peer to which nothing was uploaded for
 *   `idleUnchokeMs` is idle: while leeching, unless it is preferred, it goes to the end of the
 *   list (the walk then unchokes the next peer); a seed ranks it last. A timer on the clock checks
 *   at each slot's deadline. `isIdle(peer)` tells the owner (e.g. whom to evict when full).
 * - **Seeds rotate their slots round-robin** (`seedChoking: 'round-robin'`, after libtorrent's
 *   seed choker): `maxUploads` slots go, in this order, to unchoked peers that download and have
 *   not had their turn (`seedTurnMs` and `seedTurnBytes`), fastest first; then to peers waiting
 *   for a slot, longest waiting first; then to peers that had their turn; then to idle peers.
 *   A peer interested for the first time gets a **trial** slot at once, beyond `maxUploads`: it
 *   counts once it downloads, and is idle like any other if it does not. So a newcomer starts at
 *   once however many idle peers came before it, and a peer gets one trial per connection.
 *   Uninterested peers are left unchoked (they use no slot), and `minUploads` does not apply.
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
  private started = false;
  private runs = 0;
  private rechoking = false;
  private rechokeAgain = false;
  private lastPreferred: P[] = [];
  private lastOptimistic: P[] = [];
  private readonly idleMs: number;
  private readonly seedChoking: SeedChoking;
  private readonly turnMs: number;
  private readonly turnBytes: number;
  private readonly slots = new Map<P, SlotState>();
  private idleTimer: TimerHandle | null = null;
  private idleTimerAt = 0;

  constructor(options: ChokerOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.isSeeding = options.isSeeding ?? (() => false);
    this.random = options.random ?? Math.random;
    this.snubTime = positive('snubTimeMs', options.snubTimeMs ?? DEFAULT_SNUB_TIME_MS);
    this.interval = positive('rechokeIntervalMs', options.rechokeIntervalMs ?? DEFAULT_RECHOKE_INTERVAL_MS);
    this.optimisticEvery = whole('optimisticEvery', options.optimisticEvery ?? DEFAULT_OPTIMISTIC_EVERY, 1);
    this.max = whole('maxUploads', options.maxUploads ?? DEFAULT_MAX_UPLOADS, 0);
    this.min = whole('minUploads', options.minUploads ?? DEFAULT_MIN_UPLOADS, 0);
    this.idleMs = nonNegative('idleUnchokeMs', options.idleUnchokeMs ?? DEFAULT_IDLE_UNCHOKE_MS);
    this.seedChoking = options.seedChoking ?? 'round-robin';
    if (this.seedChoking !== 'round-robin' && this.seedChoking !== 'upload-rate') {
      throw new ChokerError('BAD_ARGUMENT', `seedChoking must be 'round-robin' or 'upload-rate', got ${String(this.seedChoking)}`);
    }
    this.turnMs = nonNegative('seedTurnMs', options.seedTurnMs ?? DEFAULT_SEED_TURN_MS);
    this.turnBytes = nonNegative('seedTurnBytes', options.seedTurnBytes ?? DEFAULT_SEED_TURN_BYTES);
  }

  /**
   * Start the periodic rechoke (idempotent). Its timer runs only while there are peers: a torrent
   * nobody is connected to (most of a daemon's, when idle) costs no timer.
   */
  start(): void {
    this.started = true;
    this.armTimer();
  }

  /** Stop the timers; peers keep their current choke state. */
  stop(): void {
    this.started = false;
    this.clearTimer();
    this.clearIdleTimer();
  }

  get running(): boolean {
    return this.started;
  }

  private armTimer(): void {
    if (this.started && this.timer === null && this.list.length > 0) this.timer = this.clock.setTimeout(this.tick, this.interval);
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
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
    this.armTimer();
    if (tracked(peer)) {
      const now = this.clock.now();
      this.slots.set(peer, {
        waitingSince: now,
        slotSince: null,
        slotBytes: 0,
        lastBytes: 0,
        activeAt: now,
        used: false,
        hadSlot: false,
        trial: false,
        idle: false,
      });
    }
    this.rechoke();
  }

  /**
   * The peer's last upload slot was taken back because it used none of it, and it has not used
   * one since (only known for peers with `bytesUploaded()`).
   */
  isIdle(peer: P): boolean {
    return this.slots.get(peer)?.idle ?? false;
  }

  /** A connection closed. Rechokes if it was interested and unchoked. Returns whether it was known. */
  peerDisconnected(peer: P): boolean {
    if (!this.members.delete(peer)) return false;
    this.slots.delete(peer);
    this.list.splice(this.list.indexOf(peer), 1);
    this.lastPreferred = this.lastPreferred.filter((p) => p !== peer);
    this.lastOptimistic = this.lastOptimistic.filter((p) => p !== peer);
    if (this.list.length === 0) {
      this.clearTimer(); // the last one left: no rechoke until someone connects again
      this.clearIdleTimer();
    }
    if (peer.isInterested() && !peer.isChoked()) this.rechoke();
    return true;
  }

  /**
   * The peer became interested or not interested; rechokes if it is unchoked (and always for a
   * round-robin seed, where a newcomer's trial starts at its interest).
   */
  interestChanged(peer: P): void {
    if (!this.members.has(peer)) return;
    if (!peer.isChoked() || this.roundRobin()) this.rechoke();
  }

  /** Change the upload-slot limit and rechoke now. */
  setMaxUploads(n: number): void {
    this.max = whole('maxUploads', n, 0);
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
        if (this.max === 0) this.chokeAll();
        else if (this.roundRobin()) this.rechokeRoundRobin();
        else this.rechokeOnce();
      } while (this.rechokeAgain);
    } finally {
      this.rechoking = false;
    }
    this.scheduleIdleCheck();
  }

  /** Seeding round-robin: asked for, and every peer reports what we upload to it. */
  private roundRobin(): boolean {
    return this.seedChoking === 'round-robin' && this.slots.size === this.list.length && this.isSeeding();
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
    // Other unchoked peers that let their slot go idle make room: to the end of the list.
    let walk = peers;
    for (const p of peers) this.observe(p, now);
    const idle = peers.filter((p) => !preferredSet.has(p) && this.idleNow(p, now));
    if (idle.length > 0) {
      for (const p of idle) this.markIdle(p, now);
      const idleSet = new Set(idle);
      this.list = this.list.filter((p) => !idleSet.has(p)).concat(idle);
      walk = this.list.slice();
    }
    const optimistic: P[] = [];
    let count = preferred.length;
    let hit = false;
    for (const peer of walk) {
      if (!this.members.has(peer)) continue; // disconnected by a callback during this walk
      if (preferredSet.has(peer)) {
        if (peer.isChoked()) this.unchoke(peer, now);
      } else if (count < this.min || !hit) {
        if (peer.isChoked()) this.unchoke(peer, now);
        if (peer.isInterested()) {
          count++;
          hit = true;
          optimistic.push(peer);
        }
      } else if (!peer.isChoked()) {
        this.choke(peer, now);
      }
    }
    this.lastPreferred = preferred;
    this.lastOptimistic = optimistic;
  }

  /** No upload slots (maxUploads 0): every peer stays choked, no optimistic or trial slot either. */
  private chokeAll(): void {
    const now = this.clock.now();
    for (const peer of this.list.slice()) if (this.members.has(peer) && !peer.isChoked()) this.choke(peer, now);
    this.lastPreferred = [];
    this.lastOptimistic = [];
  }

  /** See the class comment: slots by turn and activity, trials for newcomers, idle ones last. */
  private rechokeRoundRobin(): void {
    const peers = this.list.slice();
    const now = this.clock.now();
    const downloading: { peer: P; rate: number; index: number }[] = [];
    const waiting: { peer: P; since: number; index: number }[] = [];
    const hadTurn: { peer: P; rate: number; index: number }[] = [];
    const idle: { peer: P; since: number; index: number }[] = [];
    const trials: P[] = [];
    peers.forEach((peer, index) => {
      if (!peer.isInterested()) return;
      this.observe(peer, now);
      const st = this.slots.get(peer) as SlotState;
      const rate = Number.isFinite(peer.uploadRate()) ? peer.uploadRate() : 0;
      if (peer.isChoked()) {
        if (st.idle) idle.push({ peer, since: st.waitingSince, index });
        else if (!st.hadSlot) trials.push(peer);
        else waiting.push({ peer, since: st.waitingSince, index });
      } else if (this.idleNow(peer, now)) {
        this.markIdle(peer, now);
        idle.push({ peer, since: st.waitingSince, index });
      } else if (st.trial) trials.push(peer);
      else if (st.idle) idle.push({ peer, since: st.waitingSince, index });
      else if (st.used && now - (st.slotSince as number) >= this.turnMs && st.lastBytes - st.slotBytes >= this.turnBytes) {
        hadTurn.push({ peer, rate, index });
      } else downloading.push({ peer, rate, index });
    });
    const byRate = (a: { rate: number; index: number }, b: { rate: number; index: number }): number => b.rate - a.rate || a.index - b.index;
    const byWait = (a: { since: number; index: number }, b: { since: number; index: number }): number => a.since - b.since || a.index - b.index;
    const keep = [
      ...downloading.sort(byRate),
      ...waiting.sort(byWait),
      ...hadTurn.sort(byRate),
      ...idle.sort(byWait),
    ]
      .slice(0, this.max)
      .map((e) => e.peer);
    const unchoked = new Set([...keep, ...trials]);
    for (const peer of peers) {
      if (!this.members.has(peer)) continue; // disconnected by a callback during this walk
      if (unchoked.has(peer)) {
        if (peer.isChoked()) this.unchoke(peer, now);
      } else if (!peer.isInterested()) {
        if (peer.isChoked()) this.unchoke(peer, now);
      } else if (!peer.isChoked()) {
        this.choke(peer, now);
      }
    }
    this.lastPreferred = keep;
    this.lastOptimistic = trials;
  }

  private unchoke(peer: P, now: number): void {
    peer.unchoke();
    const st = this.slots.get(peer);
    if (st && peer.isInterested()) this.startSlot(peer, st, now);
  }

  private choke(peer: P, now: number): void {
    peer.choke();
    const st = this.slots.get(peer);
    if (st) {
      st.waitingSince = now;
      st.slotSince = null;
      st.trial = false;
    }
  }

  private startSlot(peer: P, st: SlotState, now: number): void {
    const bytes = (peer.bytesUploaded as () => number).call(peer);
    st.slotSince = now;
    st.slotBytes = bytes;
    st.lastBytes = bytes;
    st.activeAt = now;
    st.used = false;
    st.trial = !st.hadSlot; // a newcomer's first slot
    st.hadSlot = true;
  }

  /**
   * Looks at what was uploaded to a tracked peer: starts its slot if it is unchoked and interested
   * without one, notes activity. Returns whether the peer holds a slot.
   */
  private observe(peer: P, now: number): boolean {
    const st = this.slots.get(peer);
    if (!st) return false;
    if (peer.isChoked() || !peer.isInterested()) {
      st.slotSince = null;
      st.trial = false;
      return false;
    }
    if (st.slotSince === null) {
      this.startSlot(peer, st, now);
      return true;
    }
    const bytes = (peer.bytesUploaded as () => number).call(peer);
    if (bytes !== st.lastBytes) {
      st.lastBytes = bytes;
      st.activeAt = now;
      st.used = true;
      st.trial = false;
      st.idle = false;
    }
    return true;
  }

  private idleNow(peer: P, now: number): boolean {
    const st = this.slots.get(peer);
    return this.idleMs > 0 && st !== undefined && st.slotSince !== null && now - st.activeAt >= this.idleMs;
  }

  /** Its slot was unused for idleMs: it goes to the back; if it keeps the slot, it has another idleMs. */
  private markIdle(peer: P, now: number): void {
    const st = this.slots.get(peer) as SlotState;
    st.idle = true;
    st.trial = false;
    st.activeAt = now;
    st.waitingSince = now; // it just had its turn: behind those that waited during it
  }

  /** Sets the idle timer to the earliest deadline of a slot that can be taken back. */
  private scheduleIdleCheck(): void {
    if (!this.started || this.idleMs === 0 || this.slots.size === 0) return this.clearIdleTimer();
    const rr = this.roundRobin();
    const preferred = new Set(rr ? [] : this.lastPreferred);
    let next = Infinity;
    for (const [peer, st] of this.slots) {
      if (st.slotSince !== null && !preferred.has(peer)) next = Math.min(next, st.activeAt + this.idleMs);
    }
    if (next === Infinity) return this.clearIdleTimer();
    if (this.idleTimer !== null && this.idleTimerAt === next) return;
    this.clearIdleTimer();
    this.idleTimerAt = next;
    this.idleTimer = this.clock.setTimeout(this.idleCheck, Math.max(0, next - this.clock.now()));
  }

  private clearIdleTimer(): void {
    if (this.idleTimer !== null) {
      this.clock.clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
  }

  /** A slot's deadline came: rechoke if a slot is idle now (activity seen meanwhile moves the deadline). */
  private readonly idleCheck = (): void => {
    this.idleTimer = null;
    const now = this.clock.now();
    const preferred = new Set(this.roundRobin() ? [] : this.lastPreferred);
    let found = false;
    for (const peer of this.list) {
      if (preferred.has(peer) || !this.observe(peer, now)) continue;
      if (this.idleNow(peer, now)) found = true;
    }
    if (found) this.rechoke();
    else this.scheduleIdleCheck();
  };
}
