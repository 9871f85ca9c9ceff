import type { Clock, TimerHandle } from '@mainline/rate';
import { AddressFilter, canonicalHost, type AddressRejection } from './address-filter.js';

/**
 * Where an address came from. `incoming`: the peer connected to us (its port is not one we can
 * dial). `user`: named by the user (`--peer`, addPeers). `magnet`: a magnet link's `x.pe`.
 * `resume`, `dht`, `pex`, `lsd`: for the features that will feed the list later.
 */
export type PeerSource = 'tracker' | 'incoming' | 'user' | 'magnet' | 'resume' | 'dht' | 'pex' | 'lsd';

export const PEER_SOURCES: readonly PeerSource[] = ['tracker', 'incoming', 'user', 'magnet', 'resume', 'dht', 'pex', 'lsd'];

/** What the peer list dials through: the running swarm of the torrent. */
export interface PeerDialer {
  /** Outgoing connections that may start now: the swarm's maxInitiate minus its open connections. */
  readonly outgoingSlots: number;
  /** Every wanted piece is here: seeds have nothing for us. */
  readonly finished: boolean;
  /**
   * Starts one outgoing connection; false when it cannot start (stopped, banned...). Its outcome
   * comes back as PeerList.connected, .connectFailed or .closed. `source` is the first source
   * that gave the address (the swarm shows it in the peer's view).
   */
  connect(host: string, port: number, peerId?: Uint8Array, source?: PeerSource): boolean;
}

export interface PeerListOptions {
  clock: Clock;
  /** Which addresses may be dialled (the session's: it knows our own address and port). */
  filter?: AddressFilter;
  /** Most addresses kept (default 3000, libtorrent's max_peerlist_size). */
  maxSize?: number;
  /** Wait after a failed dial or a dropped connection; doubles with each one (default 15 s). */
  retryBaseMs?: number;
  /** Longest wait between two dials of one address (default 30 min). */
  retryMaxMs?: number;
  /** Failed dials in a row after which an address is not dialled again (default 5; not for `user` peers). */
  maxFailures?: number;
  /**
   * First wait between dials of a peer the user named, while it is not connected (default 15 s);
   * it doubles with each failed dial or drop in a row, up to `userRetryMaxMs`. Never given up on.
   */
  userRetryMs?: number;
  /** Longest wait between two dials of a peer the user named (default 2 min). */
  userRetryMaxMs?: number;
}

/** A read-only snapshot of the list, for status displays and the daemon's `peersFrom`. */
export interface PeerListCounts {
  /** Addresses known. */
  size: number;
  /** Of them, by each source that reported them (an address two sources gave counts in both). */
  known: Record<PeerSource, number>;
  /** Connected peers, by the source that told us of them first (incoming: `incoming`). */
  connected: Record<PeerSource, number>;
  /** Dials in progress. */
  dialing: number;
  /** Addresses given up on (too many failed dials, or banned): kept only until room is needed. */
  dead: number;
  /** Addresses refused by the filter, by reason, since the list was made. */
  rejected: Record<AddressRejection, number>;
  /** New addresses left out because the list was full of better ones. */
  dropped: number;
}

/** What add() did with a batch of addresses. */
export interface PeerAddResult {
  /** New addresses now in the list. */
  added: number;
  /** Addresses already in it (their source is recorded). */
  known: number;
  /** Refused by the filter. */
  rejected: number;
  /** Left out because the list was full. */
  dropped: number;
}

type State = 'idle' | 'dialing' | 'connected';

interface Entry {
  readonly host: string;
  readonly port: number;
  readonly key: string;
  /** Sources in the order they reported the address. */
  readonly sources: PeerSource[];
  peerId: Uint8Array | undefined;
  state: State;
  /** Failed dials in a row (reset by a dial that gets through the handshake). */
  failures: number;
  /** Connections that were open and closed. */
  drops: number;
  /** Not dialled before this clock time. */
  nextDialAt: number;
  lastFailureAt: number;
  /** It was a seed when it left: not dialled while we are finished. */
  seed: boolean;
  banned: boolean;
}

const zero = <K extends string>(keys: readonly K[]): Record<K, number> => Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
const REJECTIONS: readonly AddressRejection[] = ['invalid', 'unspecified', 'multicast', 'privileged-port', 'self', 'banned'];
const NO_SOURCES: Readonly<Record<PeerSource, number>> = Object.freeze(zero(PEER_SOURCES));
const NO_REJECTIONS: Readonly<Record<AddressRejection, number>> = Object.freeze(zero(REJECTIONS));
type Counts<K extends string> = Partial<Record<K, number>>;

function count<K extends string>(counts: Counts<K>, key: K, delta: number): void {
  counts[key] = (counts[key] ?? 0) + delta;
}

type Settings = Readonly<Required<Omit<PeerListOptions, 'clock' | 'filter'>>>;
const SETTING_KEYS = ['maxSize', 'retryBaseMs', 'retryMaxMs', 'maxFailures', 'userRetryMs', 'userRetryMaxMs'] as const;
/** The settings of the last list made: the next one with the same settings shares them (a session's lists all do). */
let lastSettings: Settings | undefined;

function shared(settings: Settings): Settings {
  const last = lastSettings;
  if (last && SETTING_KEYS.every((k) => last[k] === settings[k])) return last;
  return (lastSettings = Object.freeze(settings));
}

/**
 * The peer list of one torrent (libtorrent's peer_list): every address we could dial, from every
 * source, with its failures and the time it may next be dialled; it decides whom to dial when
 * the swarm has free outgoing slots. A failed dial or a dropped connection backs off
 * exponentially (15 s, 30 s, 1 min... up to 30 min); after 5 failed dials in a row an address is
 * dead. The list holds at most `maxSize` addresses: a new one pushes out a dead one, else one that
 * failed; when every address is untried or good, the new one is left out. Driven by one timer on
 * the injected clock, armed only while something waits for its backoff to end.
 */
const NO_ENTRIES: ReadonlyMap<string, Entry> = new Map();
const NO_CONNECTIONS: ReadonlyMap<string, PeerSource> = new Map();

export class PeerList {
  readonly #clock: Clock;
  readonly #filter: AddressFilter;
  readonly #o: Settings;
  // Both tables are made at their first entry (a seed nobody asks for has none); reads go through
  // the getters, which give an empty table until then.
  #entryMap: Map<string, Entry> | undefined;
  /**
   * Eviction candidates in the order they became so, worst kind first: given up on, then failed.
   * These and #banned are made at their first member: most torrents of a big session never have one.
   */
  #dead: Set<Entry> | undefined;
  #failed: Set<Entry> | undefined;
  /** Connections by address, with the source that counts for them (incoming ones are not in #entries). */
  #connectionMap: Map<string, PeerSource> | undefined;
  #banned: Set<string> | undefined;
  // Counters by source and by reason, made at their first count and holding only the keys counted
  // (most lists of a big session have none, or the one rejection of our own address).
  #known: Counts<PeerSource> | undefined;
  #connected: Counts<PeerSource> | undefined;
  #rejected: Counts<AddressRejection> | undefined;
  #dropped = 0;
  #dialing = 0;
  #dialer: PeerDialer | undefined;
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;
  #filling = false;
  #fillAgain = false;

  #knownBy(source: PeerSource, delta: number): void {
    count((this.#known ??= {}), source, delta);
  }

  #connectedBy(source: PeerSource, delta: number): void {
    count((this.#connected ??= {}), source, delta);
  }

  get #entries(): ReadonlyMap<string, Entry> {
    return this.#entryMap ?? NO_ENTRIES;
  }

  get #connections(): ReadonlyMap<string, PeerSource> {
    return this.#connectionMap ?? NO_CONNECTIONS;
  }

  constructor(options: PeerListOptions) {
    this.#clock = options.clock;
    this.#filter = options.filter ?? new AddressFilter();
    const o: Settings = {
      maxSize: options.maxSize ?? 3000,
      retryBaseMs: options.retryBaseMs ?? 15_000,
      retryMaxMs: options.retryMaxMs ?? 30 * 60_000,
      maxFailures: options.maxFailures ?? 5,
      userRetryMs: options.userRetryMs ?? 15_000,
      userRetryMaxMs: Math.max(options.userRetryMaxMs ?? 120_000, options.userRetryMs ?? 15_000),
    };
    for (const [k, v] of Object.entries(o)) {
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`${k} must be a number >= 0, got ${String(v)}`);
    }
    if (o.maxSize < 1) throw new RangeError('maxSize must be at least 1');
    this.#o = shared(o);
  }

  /** Addresses known. */
  get size(): number {
    return this.#entries.size;
  }

  /** The source a connection to `host:port` counts for (incoming ones: `incoming`); undefined when not connected. */
  connectionSource(host: string, port: number): PeerSource | undefined {
    return this.#connections.get(keyOf(canonicalHost(host), port));
  }

  /** Whether `host:port` is in the list. */
  has(host: string, port: number): boolean {
    return this.#entries.has(keyOf(canonicalHost(host), port));
  }

  /**
   * Milliseconds until `host:port` may be dialled again (0: now); undefined when it is not in the
   * list, is being dialled or is connected, or was given up on.
   */
  retryIn(host: string, port: number): number | undefined {
    const e = this.#entries.get(keyOf(canonicalHost(host), port));
    if (!e || e.state !== 'idle' || this.#isDead(e)) return undefined;
    return Math.max(0, e.nextDialAt - this.#clock.now());
  }

  counts(): PeerListCounts {
    return {
      size: this.#entries.size,
      known: { ...NO_SOURCES, ...this.#known },
      connected: { ...NO_SOURCES, ...this.#connected },
      dialing: this.#dialing,
      dead: this.#dead?.size ?? 0,
      rejected: { ...NO_REJECTIONS, ...this.#rejected },
      dropped: this.#dropped,
    };
  }

  /** Adds addresses from `source` and dials what the free slots allow. */
  add(peers: readonly { ip: string; port: number; peerId?: Uint8Array }[], source: Exclude<PeerSource, 'incoming'>): PeerAddResult {
    const result: PeerAddResult = { added: 0, known: 0, rejected: 0, dropped: 0 };
    const named = source === 'user';
    for (const p of peers) {
      const host = typeof p.ip === 'string' ? canonicalHost(p.ip) : '';
      const why = this.#banned?.has(host) ? 'banned' : this.#filter.check(host, p.port, named);
      if (why) {
        count((this.#rejected ??= {}), why, 1);
        result.rejected++;
        continue;
      }
      const key = keyOf(host, p.port);
      const old = this.#entries.get(key);
      if (old) {
        this.#addSource(old, source);
        if (p.peerId && !old.peerId) old.peerId = p.peerId;
        // The user asking for a peer again means now, whatever its backoff.
        if (named && old.state === 'idle') old.nextDialAt = 0;
        this.#revive(old);
        result.known++;
        continue;
      }
      if (this.#entries.size >= this.#o.maxSize && !this.#evictOne(named)) {
        this.#dropped++;
        result.dropped++;
        continue;
      }
      const entry: Entry = {
        host,
        port: p.port,
        key,
        sources: [],
        peerId: p.peerId,
        state: this.#connections.has(key) ? 'connected' : 'idle',
        failures: 0,
        drops: 0,
        nextDialAt: 0,
        lastFailureAt: 0,
        seed: false,
        banned: false,
      };
      (this.#entryMap ??= new Map()).set(key, entry);
      this.#addSource(entry, source);
      result.added++;
    }
    this.#fill();
    return result;
  }

  /** Starts dialling through a running swarm (a start or resume: the user's peers are dialled at once). */
  attach(dialer: PeerDialer): void {
    this.#dialer = dialer;
    for (const e of this.#entries.values()) if (this.#isUser(e)) e.nextDialAt = 0;
    this.#fill();
  }

  /** The swarm stopped: its connections and dials are over; what was learnt stays. */
  detach(): void {
    this.#dialer = undefined;
    this.#clearTimer();
    for (const e of this.#entries.values()) {
      if (e.state === 'idle') continue;
      e.state = 'idle';
      this.#mark(e);
    }
    for (const source of this.#connections.values()) this.#connectedBy(source, -1);
    this.#connectionMap = undefined;
    this.#dialing = 0;
  }

  /** A connection to `host:port` completed its handshake (ours, or theirs when `incoming`). */
  connected(host: string, port: number, incoming: boolean): void {
    const key = keyOf(canonicalHost(host), port);
    if (this.#connections.has(key)) return;
    const e = this.#entries.get(key);
    if (e) {
      if (e.state === 'dialing') this.#dialing--;
      e.state = 'connected';
      e.failures = 0;
      this.#unmark(e);
    }
    const source = incoming || !e ? 'incoming' : e.sources[0]!;
    (this.#connectionMap ??= new Map()).set(key, source);
    this.#connectedBy(source, 1);
  }

  /** Our dial of `host:port` did not get through the handshake (refused, timed out, wrong peer...). */
  connectFailed(host: string, port: number): void {
    const e = this.#entries.get(keyOf(canonicalHost(host), port));
    if (!e || e.state !== 'dialing') return;
    this.#dialing--;
    e.state = 'idle';
    e.failures++;
    e.lastFailureAt = this.#clock.now();
    this.#backOff(e);
    this.#fill();
  }

  /** An open connection to `host:port` closed; `seed`: the peer had every piece. */
  closed(host: string, port: number, info: { seed: boolean } = { seed: false }): void {
    const key = keyOf(canonicalHost(host), port);
    const source = this.#connections.get(key);
    if (source !== undefined) {
      this.#connectionMap?.delete(key);
      this.#connectedBy(source, -1);
    }
    const e = this.#entries.get(key);
    if (e && e.state === 'connected') {
      e.state = 'idle';
      e.drops++;
      e.seed = info.seed;
      this.#backOff(e);
    }
    this.#fill();
  }

  /** Never dials `host` again (any port), and refuses it from now on. */
  ban(host: string): void {
    const h = canonicalHost(host);
    (this.#banned ??= new Set()).add(h);
    for (const e of this.#entries.values()) {
      if (e.host !== h) continue;
      e.banned = true;
      this.#mark(e);
    }
  }

  /** We want pieces again: the seeds that left when we finished may be dialled at once. */
  retrySeeds(): void {
    for (const e of this.#entries.values()) {
      if (e.seed && e.state === 'idle') e.nextDialAt = 0;
    }
    this.#fill();
  }

  /** Stops the timer (the torrent is going away). */
  close(): void {
    this.detach();
  }

  // --- internals ---------------------------------------------------------------------------

  #isUser(e: Entry): boolean {
    return e.sources.includes('user');
  }

  #addSource(e: Entry, source: PeerSource): void {
    if (e.sources.includes(source)) return;
    e.sources.push(source);
    this.#knownBy(source, 1);
    // A peer the user names is never given up on.
    if (source === 'user' && !e.banned) this.#unmark(e);
  }

  #isDead(e: Entry): boolean {
    return e.banned || (!this.#isUser(e) && e.failures >= this.#o.maxFailures);
  }

  /** A dead address reported again long after its last failure gets one more try. */
  #revive(e: Entry): void {
    if (e.banned || !this.#isDead(e)) return;
    if (this.#clock.now() - e.lastFailureAt < this.#o.retryMaxMs) return;
    e.failures = this.#o.maxFailures - 1;
    e.nextDialAt = 0;
    this.#mark(e);
  }

  #backOff(e: Entry): void {
    const strikes = Math.min(e.failures + e.drops - 1, 30);
    const wait = this.#isUser(e)
      ? Math.min(this.#o.userRetryMs * 2 ** strikes, this.#o.userRetryMaxMs)
      : Math.min(this.#o.retryBaseMs * 2 ** strikes, this.#o.retryMaxMs);
    e.nextDialAt = this.#clock.now() + wait;
    this.#mark(e);
  }

  /** Files an idle entry under the eviction candidates it belongs to (none for untried or good ones). */
  #mark(e: Entry): void {
    this.#unmark(e);
    if (e.state !== 'idle') return;
    if (this.#isDead(e)) (this.#dead ??= new Set()).add(e);
    else if (e.failures > 0 && !this.#isUser(e)) (this.#failed ??= new Set()).add(e);
  }

  #unmark(e: Entry): void {
    this.#dead?.delete(e);
    this.#failed?.delete(e);
  }

  /** Makes room: the oldest dead address, else the oldest failed one; for a user's peer, any idle non-user one. */
  #evictOne(named: boolean): boolean {
    let victim: Entry | undefined = first(this.#dead) ?? first(this.#failed);
    if (!victim && named) {
      for (const e of this.#entries.values()) {
        if (e.state === 'idle' && !this.#isUser(e)) {
          victim = e;
          break;
        }
      }
    }
    if (!victim) return false;
    this.#unmark(victim);
    this.#entryMap?.delete(victim.key);
    for (const s of victim.sources) this.#knownBy(s, -1);
    return true;
  }

  #candidate(e: Entry, now: number, finished: boolean): boolean {
    return e.state === 'idle' && !this.#isDead(e) && e.nextDialAt <= now && !(finished && e.seed);
  }

  /**
   * Dials as many candidates as the swarm has free slots: the user's peers first, then by fewest
   * failures and drops, oldest first. Arms the timer for the next backoff to end.
   */
  #fill(): void {
    if (this.#filling) {
      this.#fillAgain = true;
      return;
    }
    this.#filling = true;
    try {
      do {
        this.#fillAgain = false;
        this.#fillOnce();
      } while (this.#fillAgain);
    } finally {
      this.#filling = false;
    }
  }

  #fillOnce(): void {
    const dialer = this.#dialer;
    if (!dialer) return;
    const slots = dialer.outgoingSlots - this.#dialing;
    if (slots <= 0) return;
    const now = this.#clock.now();
    const finished = dialer.finished;
    // One pass: the best `slots` candidates, bucketed by strikes (user peers in bucket 0).
    const buckets: Entry[][] = [];
    let next = Infinity;
    for (const e of this.#entries.values()) {
      if (e.state !== 'idle' || this.#isDead(e) || (finished && e.seed)) continue;
      if (e.nextDialAt > now) {
        next = Math.min(next, e.nextDialAt);
        continue;
      }
      const b = this.#isUser(e) ? 0 : e.failures + e.drops;
      const bucket = (buckets[b] ??= []);
      if (bucket.length < slots) bucket.push(e);
    }
    let left = slots;
    for (const bucket of buckets) {
      for (const e of bucket ?? []) {
        if (left === 0) break;
        if (!this.#candidate(e, now, finished)) continue; // changed by a dial's synchronous failure
        e.state = 'dialing';
        this.#dialing++;
        this.#unmark(e);
        if (dialer.connect(e.host, e.port, e.peerId, e.sources[0])) {
          left--;
          continue;
        }
        // Could not even start (e.g. banned by the swarm): counts as a failure.
        if (e.state === 'dialing') {
          this.#dialing--;
          e.state = 'idle';
          e.failures++;
          e.lastFailureAt = now;
          this.#backOff(e);
          if (!this.#isDead(e)) next = Math.min(next, e.nextDialAt);
        }
      }
    }
    this.#arm(next);
  }

  /** One timer: at the earliest end of a backoff, when that is sooner than the one armed. */
  #arm(at: number): void {
    if (at === Infinity || at >= this.#timerAt) return;
    this.#clearTimer();
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#fill();
    }, at - this.#clock.now());
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }
}

function keyOf(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function first<T>(set: Set<T> | undefined): T | undefined {
  for (const v of set ?? []) return v;
  return undefined;
}
