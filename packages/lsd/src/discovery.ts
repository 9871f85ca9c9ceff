import { randomBytes } from 'node:crypto';
import { TokenBucket, systemClock, type Clock, type TimerHandle, type TokenTicket } from '@mainline/rate';
import { LsdError, type LsdErrorCode } from './errors.js';
import { MAX_ANNOUNCE_BYTES, encodeAnnounce, infoHashHex, infoHashesPerAnnounce, parseAnnounce, type LsdFamily } from './message.js';
import type { LsdSender, LsdTransport } from './transport.js';

/** A peer found on the local network: the announce's source address and its `Port`. */
export interface LsdPeer {
  ip: string;
  port: number;
}

/** Why a received datagram was not used. */
export type LsdDropReason =
  /** From an address outside our interfaces' networks (a unicast from afar, or spoofed). */
  | 'off-link'
  /** Its sender exceeded its own rate (perSourceBurst, perSourceIntervalMs). */
  | 'source-rate'
  /** All senders together exceeded receiveBurst / receiveIntervalMs. */
  | 'global-rate'
  /** Not a valid announce (see LsdError codes: TOO_LARGE, NOT_TEXT, BAD_PORT...). */
  | 'malformed'
  /** Our own announce, looped back (our cookie). */
  | 'own';

export const LSD_DROP_REASONS: readonly LsdDropReason[] = ['off-link', 'source-rate', 'global-rate', 'malformed', 'own'];

export type LsdLogEvent =
  | { type: 'sent'; family: LsdFamily; infoHashes: number; bytes: number }
  | { type: 'dropped'; reason: LsdDropReason; from: string; code?: LsdErrorCode; message?: string }
  | { type: 'peer'; infoHash: string; peer: LsdPeer };

export interface LocalDiscoveryOptions {
  /** The sockets (createUdpTransport) or a fake. Closed by close(). */
  transport: LsdTransport;
  /** Our listening TCP port: the `Port` of our announces. */
  port: number;
  clock?: Clock;
  /** Our cookie (default 8 random hex digits). */
  cookie?: string;
  /** Each torrent is announced at most this often (default 5 min, libtorrent's). */
  announceIntervalMs?: number;
  /** A torrent's first announce waits this long for others registering with it to share the datagram (default 250 ms). */
  batchDelayMs?: number;
  /** Announce datagrams that may go out back to back (default 3)... */
  sendBurst?: number;
  /** ...and then at most one per this many ms, for all torrents together (default 20 s). */
  sendIntervalMs?: number;
  /** Longest announce (default 1400 bytes, BEP 14's limit); info-hashes are batched up to it. */
  maxAnnounceBytes?: number;
  /** Datagrams one sender address may have read back to back (default 10)... */
  perSourceBurst?: number;
  /** ...then one per this many ms (default 1000: libtorrent sends one datagram per torrent). */
  perSourceIntervalMs?: number;
  /** Datagrams read back to back from everyone (default 50)... */
  receiveBurst?: number;
  /** ...then one per this many ms (default 100, Transmission's 10 a second). */
  receiveIntervalMs?: number;
  /** Sender addresses whose rate is tracked (default 256; the least recently heard is forgotten). */
  maxSources?: number;
  /** Every datagram sent, every one dropped (with its reason) and every peer found. */
  log?: (event: LsdLogEvent) => void;
}

export interface LsdStats {
  /** Announce datagrams sent (one per family per batch). */
  sent: number;
  /** Info-hash lines in them. */
  sentInfoHashes: number;
  /** Datagrams received. */
  received: number;
  /** Received datagrams not used, by reason. */
  dropped: Record<LsdDropReason, number>;
  /** Peers handed to registered torrents (one per torrent an announce named). */
  peers: number;
  /** Info-hashes announced by others that are none of ours. */
  unknownInfoHashes: number;
  /** Torrents registered. */
  torrents: number;
}

interface Entry {
  readonly hex: string;
  readonly listeners: Set<(peer: LsdPeer) => void>;
  dueAt: number;
  sentAt: number | undefined;
}

interface Source {
  readonly bucket: TokenBucket;
  /** Over its rate (its drops after the first are not logged one by one). */
  limited: boolean;
}

function positive(name: string, v: number | undefined, fallback: number, min = 1): number {
  const n = v ?? fallback;
  if (!Number.isFinite(n) || n < min) throw new LsdError('BAD_ARGUMENT', `${name} must be a number >= ${min}, got ${String(v)}`);
  return n;
}

/**
 * BEP 14 local service discovery for a whole session: torrents register their info-hash with
 * add(), and are announced to the local network on registration and then every
 * `announceIntervalMs` (5 min), several per datagram (up to `maxAnnounceBytes`, 1400), with a
 * token bucket over all of them (`sendBurst` 3, then one datagram per `sendIntervalMs`, 20 s).
 * Received announces are checked cheapest first: on our networks, the sender's own rate, everyone's
 * rate, then parsed strictly (parseAnnounce); our own cookie is ignored, and each info-hash that
 * matches a registered torrent hands it the sender (source address of the datagram, `Port` of the
 * message). Nothing is queued: peers go to the torrents' callbacks as the datagram is read.
 * Timers run on the injected clock, so every rule is testable on a ManualClock.
 */
export class LocalDiscovery {
  readonly cookie: string;
  readonly port: number;
  readonly #transport: LsdTransport;
  readonly #clock: Clock;
  readonly #log: ((event: LsdLogEvent) => void) | undefined;
  readonly #intervalMs: number;
  readonly #batchDelayMs: number;
  readonly #maxBytes: number;
  readonly #sendBucket: TokenBucket;
  readonly #receiveBucket: TokenBucket;
  readonly #perSource: { burst: number; rate: number };
  readonly #maxSources: number;
  readonly #entries = new Map<string, Entry>();
  /** When torrents no longer registered were last announced: a quick restart does not announce again early. */
  readonly #recentlySent = new Map<string, number>();
  readonly #sources = new Map<string, Source>();
  readonly #stats: LsdStats;
  #globalLimited = false;
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;
  #ticket: TokenTicket | undefined;
  #closed = false;

  constructor(options: LocalDiscoveryOptions) {
    this.#transport = options.transport;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log;
    this.cookie = options.cookie ?? randomBytes(4).toString('hex');
    this.port = options.port;
    this.#intervalMs = positive('announceIntervalMs', options.announceIntervalMs, 5 * 60_000);
    this.#batchDelayMs = positive('batchDelayMs', options.batchDelayMs, 250, 0);
    this.#maxBytes = positive('maxAnnounceBytes', options.maxAnnounceBytes, MAX_ANNOUNCE_BYTES, 100);
    this.#sendBucket = new TokenBucket({
      clock: this.#clock,
      rate: 1000 / positive('sendIntervalMs', options.sendIntervalMs, 20_000),
      burst: positive('sendBurst', options.sendBurst, 3),
    });
    this.#receiveBucket = new TokenBucket({
      clock: this.#clock,
      rate: 1000 / positive('receiveIntervalMs', options.receiveIntervalMs, 100),
      burst: positive('receiveBurst', options.receiveBurst, 50),
    });
    this.#perSource = {
      burst: positive('perSourceBurst', options.perSourceBurst, 10),
      rate: 1000 / positive('perSourceIntervalMs', options.perSourceIntervalMs, 1000),
    };
    this.#maxSources = positive('maxSources', options.maxSources, 256);
    // Checks the port and cookie now rather than at the first announce.
    for (const family of ['IPv4', 'IPv6'] as const) {
      if (infoHashesPerAnnounce({ family, port: this.port, cookie: this.cookie }, this.#maxBytes) === 0) {
        throw new LsdError('BAD_ARGUMENT', `maxAnnounceBytes ${this.#maxBytes} leaves no room for an info-hash`);
      }
    }
    this.#stats = { sent: 0, sentInfoHashes: 0, received: 0, dropped: Object.fromEntries(LSD_DROP_REASONS.map((r) => [r, 0])) as Record<LsdDropReason, number>, peers: 0, unknownInfoHashes: 0, torrents: 0 };
    this.#transport.receive((d, from) => this.#onDatagram(d, from));
  }

  /**
   * Registers a torrent: it is announced `batchDelayMs` later or as soon as the send rate allows
   * (unless it was announced less than `announceIntervalMs` ago, before a quick restart), with
   * the others registered meanwhile, then every `announceIntervalMs`;
   * `onPeer` gets the peers that announce it. Private torrents must not be registered.
   * Returns the function that unregisters it.
   * @throws LsdError BAD_ARGUMENT for a bad info-hash, CLOSED after close()
   */
  add(infoHash: string | Uint8Array, onPeer: (peer: LsdPeer) => void): () => void {
    if (this.#closed) throw new LsdError('CLOSED', 'local discovery is closed');
    const hex = infoHashHex(infoHash);
    let e = this.#entries.get(hex);
    if (!e) {
      const last = this.#recentlySent.get(hex);
      this.#recentlySent.delete(hex);
      const now = this.#clock.now();
      e = { hex, listeners: new Set(), dueAt: Math.max(now + this.#batchDelayMs, last === undefined ? 0 : last + this.#intervalMs), sentAt: last };
      this.#entries.set(hex, e);
      this.#stats.torrents = this.#entries.size;
    }
    const entry = e;
    const listener = (peer: LsdPeer): void => onPeer(peer);
    entry.listeners.add(listener);
    this.#wake();
    return () => {
      if (!entry.listeners.delete(listener) || entry.listeners.size > 0) return;
      if (this.#entries.get(hex) !== entry) return;
      this.#entries.delete(hex);
      this.#stats.torrents = this.#entries.size;
      if (entry.sentAt !== undefined) this.#recentlySent.set(hex, entry.sentAt);
      this.#wake();
    };
  }

  /** Counters since the start (a copy). */
  stats(): LsdStats {
    return { ...this.#stats, dropped: { ...this.#stats.dropped } };
  }

  /** Stops announcing and listening, closes the transport. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearTimer();
    this.#ticket?.cancel();
    this.#ticket = undefined;
    this.#entries.clear();
    this.#stats.torrents = 0;
    await this.#transport.close();
  }

  // --- sending -------------------------------------------------------------------------------

  /** Asks for a send token when a torrent is due, or arms the timer for the next one to be. */
  #wake(): void {
    if (this.#closed || this.#ticket) return;
    let next = Infinity;
    for (const e of this.#entries.values()) if (e.dueAt < next) next = e.dueAt;
    if (next === Infinity) return this.#clearTimer();
    if (next > this.#clock.now()) return this.#arm(next);
    this.#clearTimer();
    const ticket = this.#sendBucket.take(1, () => {
      this.#ticket = undefined;
      this.#sendDue();
      this.#wake();
    });
    if (ticket.pending) this.#ticket = ticket;
  }

  /** One announce per family with the torrents that are due, longest waiting first. */
  #sendDue(): void {
    if (this.#closed) return;
    const now = this.#clock.now();
    const due = [...this.#entries.values()].filter((e) => e.dueAt <= now).sort((a, b) => a.dueAt - b.dueAt);
    if (due.length === 0) return;
    const fits = Math.min(...(['IPv4', 'IPv6'] as const).map((family) => infoHashesPerAnnounce({ family, port: this.port, cookie: this.cookie }, this.#maxBytes)));
    const batch = due.slice(0, fits);
    const infoHashes = batch.map((e) => e.hex);
    for (const family of this.#transport.families) {
      const datagram = encodeAnnounce({ family, port: this.port, cookie: this.cookie, infoHashes });
      this.#transport.send(family, datagram);
      this.#stats.sent++;
      this.#stats.sentInfoHashes += infoHashes.length;
      this.#log?.({ type: 'sent', family, infoHashes: infoHashes.length, bytes: datagram.length });
    }
    for (const e of batch) {
      e.sentAt = now;
      e.dueAt = now + this.#intervalMs;
    }
    for (const [hex, at] of this.#recentlySent) if (at + this.#intervalMs <= now) this.#recentlySent.delete(hex);
  }

  #arm(at: number): void {
    if (at >= this.#timerAt) return;
    this.#clearTimer();
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#wake();
    }, at - this.#clock.now());
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
  }

  // --- receiving -----------------------------------------------------------------------------

  #onDatagram(datagram: Uint8Array, from: LsdSender): void {
    if (this.#closed) return;
    this.#stats.received++;
    if (!this.#transport.onLink(from.address)) return this.#drop('off-link', from.address);
    if (!this.#sourceAllows(from.address)) return;
    if (!this.#receiveBucket.tryTake(1)) {
      if (!this.#globalLimited) this.#log?.({ type: 'dropped', reason: 'global-rate', from: from.address });
      this.#globalLimited = true;
      this.#stats.dropped['global-rate']++;
      return;
    }
    this.#globalLimited = false;
    let announce;
    try {
      announce = parseAnnounce(datagram);
    } catch (err) {
      if (!(err instanceof LsdError)) throw err;
      this.#stats.dropped.malformed++;
      this.#log?.({ type: 'dropped', reason: 'malformed', from: from.address, code: err.code, message: err.message });
      return;
    }
    if (announce.cookie === this.cookie) return this.#drop('own', from.address);
    const peer: LsdPeer = { ip: from.address, port: announce.port };
    for (const hex of announce.infoHashes) {
      const e = this.#entries.get(hex);
      if (!e) {
        this.#stats.unknownInfoHashes++;
        continue;
      }
      this.#stats.peers++;
      this.#log?.({ type: 'peer', infoHash: hex, peer });
      for (const l of [...e.listeners]) l({ ...peer });
    }
  }

  #drop(reason: LsdDropReason, from: string): void {
    this.#stats.dropped[reason]++;
    this.#log?.({ type: 'dropped', reason, from });
  }

  /** The sender's own token bucket; the least recently heard sender is forgotten when the table is full. */
  #sourceAllows(address: string): boolean {
    let s = this.#sources.get(address);
    if (s) {
      this.#sources.delete(address); // re-inserted last: the map's order is least recently heard first
    } else {
      s = { bucket: new TokenBucket({ clock: this.#clock, rate: this.#perSource.rate, burst: this.#perSource.burst }), limited: false };
      if (this.#sources.size >= this.#maxSources) {
        const oldest = this.#sources.keys().next();
        if (!oldest.done) this.#sources.delete(oldest.value);
      }
    }
    this.#sources.set(address, s);
    if (s.bucket.tryTake(1)) {
      s.limited = false;
      return true;
    }
    this.#stats.dropped['source-rate']++;
    if (!s.limited) this.#log?.({ type: 'dropped', reason: 'source-rate', from: address });
    s.limited = true;
    return false;
  }
}
