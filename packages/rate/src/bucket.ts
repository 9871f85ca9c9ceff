import { type Clock, systemClock, type TimerHandle } from './clock.js';
import { checkNumber, RateError } from './errors.js';

export interface TokenBucketOptions {
  /** Time source; defaults to {@link systemClock}. */
  clock?: Clock;
  /** Bytes per second; 0 (the default) means unlimited. */
  rate?: number;
  /**
   * Most bytes that may be granted at once after an idle spell. Defaults to
   * `max(16 KiB, rate × 0.25 s)` and then follows rate changes; an explicit value is kept.
   */
  burst?: number;
}

/** A queued {@link TokenBucket.take}; cancel it when its connection goes away. */
export interface TokenTicket {
  /** Drop the request if it is still waiting (its callback will not run). Returns whether it was waiting. */
  cancel(): boolean;
  /** True while the request is queued. */
  readonly pending: boolean;
}

/**
 * A limit as users set it: bytes per second (0 = unlimited), or 'none': no traffic at all
 * (Transmission's limit of 0 with the limit on). See {@link TokenBucket.setLimit}.
 */
export type RateLimit = number | 'none';

/** Smallest default burst: one BitTorrent block. */
export const MIN_DEFAULT_BURST = 16_384;

/**
 * What a sender needs of a limiter: a {@link TokenBucket}, or one of its {@link TokenLane}s.
 */
export interface Limiter {
  /** Everything is granted at once (no rate, not closed): a sender may skip asking. */
  readonly unlimited: boolean;
  /** Ask for `bytes`; `cb` runs once granted (synchronously when at once). See {@link TokenBucket.take}. */
  take(bytes: number, cb: () => void): TokenTicket;
}

/** @internal One class of a bucket's requests (see {@link TokenBucket.lane}): its own FIFO queue and weight. */
export class Lane {
  head: Waiter | null = null;
  tail: Waiter | null = null;
  /** Virtual time of the lane's next request (start-time fair queuing): bytes served / weight. */
  vtime = 0;
  constructor(public weight: number) {}
}

class Waiter implements TokenTicket {
  next: Waiter | null = null;
  prev: Waiter | null = null;
  queued = true;
  /** Set by {@link TokenBucket.request}: settles its promise as cancelled. */
  reject: ((e: Error) => void) | null = null;
  constructor(
    private readonly release: (w: Waiter) => boolean,
    readonly bytes: number,
    public cb: (() => void) | null,
    readonly lane: Lane,
  ) {}
  get pending(): boolean {
    return this.queued;
  }
  cancel(): boolean {
    return this.release(this);
  }
}

/** Slack for float rounding in token arithmetic (bytes). */
const EPSILON = 1e-6;

const GRANTED: TokenTicket = Object.freeze({ cancel: () => false, pending: false });

/**
 * A token-bucket rate limiter shared by many connections, fair between them.
 *
 * Callbacks run either synchronously inside {@link TokenBucket.take} (when granted at once) or
 * from a clock timer; never from inside `setRate`, `setBurst` or `cancel`.
 *
 * Tokens (bytes) accrue at `rate` per second up to `burst`. Requests are served strictly in FIFO
 * order: a request never overtakes an earlier one, so connections that each ask for one slice
 * at a time and ask again once served are served round-robin and get equal shares. The head of
 * the queue is granted as soon as the bucket holds `min(bytes, burst)` tokens; its full size is
 * then taken, possibly driving the balance negative (later requests wait for the debt to be
 * repaid). So requests larger than the burst still work, and the long-run rate is exact.
 *
 * One timer at most is pending on the clock, for the moment the head of the queue can be served.
 * Rate 0 means unlimited: everything is granted at once.
 */
export class TokenBucket {
  private readonly clock: Clock;
  private bytesPerSec: number;
  private burstBytes: number;
  private burstExplicit: boolean;
  private tokens: number;
  private lastRefill: number;
  private readonly defaultLane = new Lane(1);
  /** Lanes with requests waiting. */
  private readonly active = new Set<Lane>();
  /** Virtual time of the last request served: a lane that starts waiting starts from here. */
  private virtual = 0;
  private count = 0;
  private queuedBytes = 0;
  private timer: TimerHandle | null = null;
  private granted = 0;
  private draining = false;
  private closedValue = false;
  private readonly onTimer = (): void => {
    this.timer = null;
    this.drain();
  };
  private readonly release = (w: Waiter): boolean => {
    const wasHead = w === this.head;
    if (!this.unlink(w)) return false;
    // The timer was sized for the old head; re-time it for the new one.
    if (wasHead) this.retime();
    return true;
  };

  /**
   * The request served next: the first of the waiting lane with the least virtual time, so
   * lanes share the rate by weight (one lane: plain FIFO).
   */
  private get head(): Waiter | null {
    let best: Lane | undefined;
    for (const lane of this.active) if (!best || lane.vtime < best.vtime) best = lane;
    return best?.head ?? null;
  }

  /**
   * A lane of this bucket with `weight` (default 1): its requests share the bucket's rate with
   * the other lanes' in proportion to their weights while several wait (start-time fair
   * queuing), FIFO among themselves; with nobody else waiting a lane gets the whole rate. For
   * priorities among torrents under one global limit: each torrent asks through its own lane.
   */
  lane(weight = 1): TokenLane {
    return new TokenLane(this, new Lane(checkNumber('weight', weight, Number.MIN_VALUE)));
  }

  constructor(options: TokenBucketOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.bytesPerSec = checkNumber('rate', options.rate ?? 0);
    this.burstExplicit = options.burst !== undefined;
    this.burstBytes = this.burstExplicit ? checkNumber('burst', options.burst, 1) : this.defaultBurst();
    this.tokens = this.burstBytes;
    this.lastRefill = this.clock.now();
  }

  /** Bytes per second (0 = unlimited, unless closed: see {@link closed}). */
  get rate(): number {
    return this.bytesPerSec;
  }

  /** Nothing is granted: the limit is 'none' (requests wait until it is raised). */
  get closed(): boolean {
    return this.closedValue;
  }

  /** Everything is granted at once: rate 0 and not closed. */
  get unlimited(): boolean {
    return this.bytesPerSec === 0 && !this.closedValue;
  }

  /** The limit as set: 'none' while closed, else the rate. */
  get limit(): RateLimit {
    return this.closedValue ? 'none' : this.bytesPerSec;
  }

  /**
   * Set the limit: a rate (bytes/s, 0 = unlimited; see {@link setRate}) or 'none', which grants
   * nothing until the limit is raised: requests wait in their queue (senders keep their
   * connections, only the bytes stop) and are served in order once it opens again.
   */
  setLimit(limit: RateLimit): void {
    if (limit === 'none') {
      this.refill();
      this.closedValue = true;
      this.cancelTimer();
      return;
    }
    if (this.closedValue) {
      // Nothing was earned while closed: start from an empty bucket, not from a saved burst.
      this.closedValue = false;
      this.lastRefill = this.clock.now();
      this.tokens = Math.min(this.tokens, 0);
    }
    this.setRate(limit);
  }

  get burst(): number {
    return this.burstBytes;
  }

  /** Requests waiting. */
  get waiting(): number {
    return this.count;
  }

  /** Bytes asked for by the requests waiting. */
  get waitingBytes(): number {
    return this.queuedBytes;
  }

  /** Total bytes granted so far. */
  get totalGranted(): number {
    return this.granted;
  }

  /** Tokens available right now (negative while a large grant is being repaid). */
  available(): number {
    this.refill();
    return this.tokens;
  }

  /**
   * Change the rate (bytes/s, 0 = unlimited) at once; waiting requests are re-timed. Tokens
   * earned so far are kept (up to the new burst).
   */
  setRate(bytesPerSec: number): void {
    checkNumber('rate', bytesPerSec);
    this.refill();
    this.bytesPerSec = bytesPerSec;
    if (!this.burstExplicit) this.burstBytes = this.defaultBurst();
    if (this.tokens > this.burstBytes) this.tokens = this.burstBytes;
    this.retime();
  }

  /** Change the burst size (bytes ≥ 1); pass `undefined` to go back to the rate-derived default. */
  setBurst(bytes: number | undefined): void {
    this.refill();
    this.burstExplicit = bytes !== undefined;
    this.burstBytes = bytes === undefined ? this.defaultBurst() : checkNumber('burst', bytes, 1);
    if (this.tokens > this.burstBytes) this.tokens = this.burstBytes;
    this.retime();
  }

  /**
   * Take `bytes` now if nobody is waiting and the tokens allow, without queueing. The hot path
   * for a sender that can simply try again later.
   */
  tryTake(bytes: number): boolean {
    checkNumber('bytes', bytes);
    if (this.count > 0 || this.closedValue) return false;
    if (this.bytesPerSec === 0) {
      this.granted += bytes;
      return true;
    }
    this.refill();
    if (this.tokens + EPSILON < Math.min(bytes, this.burstBytes)) return false;
    this.tokens -= bytes;
    this.granted += bytes;
    return true;
  }

  /**
   * Ask for `bytes`; `cb` runs once they are granted. If they can be granted at once (nobody is
   * waiting and the tokens allow) `cb` runs synchronously, before `take` returns, and no object is
   * allocated. Otherwise the request joins the queue; cancel it through the returned ticket when
   * its connection closes.
   */
  take(bytes: number, cb: () => void): TokenTicket {
    return this.takeIn(this.defaultLane, bytes, cb);
  }

  /** @internal take() through a lane (TokenLane). */
  takeIn(lane: Lane, bytes: number, cb: () => void): TokenTicket {
    if (this.tryTake(bytes)) {
      cb();
      return GRANTED;
    }
    const w = new Waiter(this.release, bytes, cb, lane);
    this.enqueue(w);
    this.schedule();
    return w;
  }

  /**
   * Promise form of {@link take}. Rejects with `RateError('CANCELLED')` if `signal` aborts (or
   * {@link cancelAll} runs) before the bytes are granted.
   */
  request(bytes: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(cancelled());
    if (this.tryTake(bytes)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w = new Waiter(this.release, bytes, null, this.defaultLane);
      const onAbort = (): void => {
        if (this.release(w)) reject(cancelled());
      };
      w.cb = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      w.reject = (e: Error) => {
        signal?.removeEventListener('abort', onAbort);
        reject(e);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.enqueue(w);
      this.schedule();
    });
  }

  /** Drop every waiting request: callbacks of {@link take} never run, promises reject with CANCELLED. */
  cancelAll(): void {
    this.cancelTimer();
    while (this.head) {
      const w = this.head;
      this.unlink(w);
      w.reject?.(cancelled());
    }
  }

  private defaultBurst(): number {
    return Math.max(MIN_DEFAULT_BURST, this.bytesPerSec * 0.25);
  }

  private refill(): void {
    const now = this.clock.now();
    const dt = now - this.lastRefill;
    this.lastRefill = now;
    if (dt <= 0) return;
    const tokens = this.tokens + (dt * this.bytesPerSec) / 1000;
    // The burst caps what an idle bucket saves up. While someone waits, the timer (rounded up to
    // whole ms) may fire a hair late; keep that sliver so the long-run rate stays exact.
    this.tokens = this.count === 0 ? Math.min(this.burstBytes, tokens) : tokens;
  }

  private enqueue(w: Waiter): void {
    const lane = w.lane;
    if (lane.head === null) {
      // A lane that starts waiting joins at the current virtual time: no credit for its idle spell.
      lane.vtime = Math.max(lane.vtime, this.virtual);
      this.active.add(lane);
    }
    w.prev = lane.tail;
    if (lane.tail) lane.tail.next = w;
    else lane.head = w;
    lane.tail = w;
    this.count++;
    this.queuedBytes += w.bytes;
  }

  /** Unlink a waiter; false if it was not queued. */
  private unlink(w: Waiter): boolean {
    if (!w.queued) return false;
    w.queued = false;
    const lane = w.lane;
    if (w.prev) w.prev.next = w.next;
    else lane.head = w.next;
    if (w.next) w.next.prev = w.prev;
    else lane.tail = w.prev;
    w.next = w.prev = null;
    if (lane.head === null) this.active.delete(lane);
    this.count--;
    this.queuedBytes -= w.bytes;
    return true;
  }

  /** Throw away the pending timer and time the next grant afresh. */
  private retime(): void {
    this.cancelTimer();
    this.schedule();
  }

  /** Grant from the front of the queue while tokens allow, then time the next grant. */
  private drain(): void {
    this.refill();
    this.draining = true;
    try {
      while (!this.closedValue) {
        const w = this.head;
        if (w === null) break;
        if (this.bytesPerSec !== 0 && this.tokens + EPSILON < Math.min(w.bytes, this.burstBytes)) break;
        if (this.bytesPerSec !== 0) this.tokens -= w.bytes;
        this.virtual = w.lane.vtime;
        w.lane.vtime += w.bytes / w.lane.weight;
        this.granted += w.bytes;
        this.unlink(w);
        const cb = w.cb!;
        w.cb = null;
        cb(); // may take() again: it queues behind the others
      }
    } finally {
      this.draining = false;
      this.schedule();
    }
  }

  /** Set the one timer for when the head of the queue can be served (0 ms if it can be now). */
  private schedule(): void {
    const head = this.head;
    if (this.draining || this.timer !== null || head === null || this.closedValue) return;
    let ms = 0;
    if (this.bytesPerSec !== 0) {
      this.refill();
      const need = Math.min(head.bytes, this.burstBytes) - this.tokens;
      if (need > EPSILON) ms = Math.ceil((need * 1000) / this.bytesPerSec);
    }
    this.timer = this.clock.setTimeout(this.onTimer, ms);
  }

  private cancelTimer(): void {
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
  }
}

/**
 * One class of a {@link TokenBucket}'s requests, made by {@link TokenBucket.lane}: asks the
 * bucket with its weight. Senders use it as they would the bucket (it is a {@link Limiter}).
 */
export class TokenLane implements Limiter {
  /** @internal */
  constructor(
    readonly bucket: TokenBucket,
    private readonly laneState: Lane,
  ) {}

  get weight(): number {
    return this.laneState.weight;
  }

  /** Changes the lane's share from the next request on (a torrent's bandwidth priority changed). */
  setWeight(weight: number): void {
    this.laneState.weight = checkNumber('weight', weight, Number.MIN_VALUE);
  }

  get unlimited(): boolean {
    return this.bucket.unlimited;
  }

  take(bytes: number, cb: () => void): TokenTicket {
    return this.bucket.takeIn(this.laneState, bytes, cb);
  }
}

function cancelled(): RateError {
  return new RateError('CANCELLED', 'token bucket request cancelled');
}
