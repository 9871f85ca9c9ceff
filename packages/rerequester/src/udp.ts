import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { BencodeDict } from '@mainline/bencode';
import { validateTrackerResponse, type ScrapeEntry, type TrackerSuccess } from '@mainline/metainfo';
import { UdpEndpoint } from '@mainline/rawserver';
import { systemClock, type Clock } from '@mainline/rate';
import { TrackerError, toTrackerError } from './errors.js';
import { UdpTrackerClient } from './udp-client.js';
import {
  checkAnnounceRequest,
  checkHash,
  hexOf,
  tellAttempt,
  type AnnounceRequest,
  type AnnounceResponse,
  type RequestOptions,
  type Tracker,
} from './types.js';

/** Options of {@link UdpTracker}. */
export interface UdpTrackerOptions {
  /** Retransmission base: the n-th try waits base·2^n ms (BEP 15: 15 s). */
  timeoutBaseMs?: number;
  /** Highest n before giving up (BEP 15: 8, i.e. 9 tries, about 2 h in all). */
  maxRetries?: number;
  /** How long a connection id is reused (BEP 15: one minute). */
  connectionIdTtlMs?: number;
  clock?: Clock;
  /**
   * The session's UDP tracker client, on its one UDP endpoint (the listen port). Without it the
   * tracker binds a UDP socket of its own (an ephemeral port), closed with the tracker.
   */
  client?: UdpTrackerClient;
}

export const UDP_PROTOCOL_ID = 0x41727101980n;
const ACTION_CONNECT = 0;
const ACTION_ANNOUNCE = 1;
const ACTION_SCRAPE = 2;
const ACTION_ERROR = 3;
/** Most info-hashes per UDP scrape packet (BEP 15). */
export const UDP_SCRAPE_MAX_HASHES = 74;
const EVENT_CODES = { none: 0, completed: 1, started: 2, stopped: 3 } as const;

interface Target {
  address: string;
  port: number;
  family: 4 | 6;
}


const TIMED_OUT = Symbol('timed out');

/** A UDP tracker (BEP 15): connect, announce and scrape with connection-id reuse and retransmission. */
export class UdpTracker implements Tracker {
  readonly #host: string;
  readonly #port: number;
  readonly #clock: Clock;
  readonly #base: number;
  readonly #maxRetries: number;
  readonly #ttl: number;
  readonly #shared: UdpTrackerClient | undefined;
  /** Without a shared client: our own endpoint and client, made at the first request. */
  #own: Promise<{ endpoint: UdpEndpoint; client: UdpTrackerClient }> | undefined;
  /** Requests in flight, failed at close(). */
  readonly #open = new Set<(err: TrackerError) => void>();
  #connection: { id: Buffer; at: number; key: string } | undefined;
  #closed = false;
  #ownEndpoint: UdpEndpoint | undefined;

  constructor(
    readonly url: string,
    options: UdpTrackerOptions = {},
  ) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new TrackerError('BAD_URL', `not a valid URL: ${JSON.stringify(url)}`, url);
    }
    if (u.protocol !== 'udp:') throw new TrackerError('UNSUPPORTED_PROTOCOL', `not a udp: URL`, url);
    const port = Number(u.port);
    if (!u.hostname || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new TrackerError('BAD_URL', 'a UDP tracker URL needs a host and a port', url);
    }
    this.#host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    this.#port = port;
    this.#clock = options.clock ?? systemClock;
    this.#base = options.timeoutBaseMs ?? 15_000;
    this.#maxRetries = options.maxRetries ?? 8;
    this.#ttl = options.connectionIdTtlMs ?? 60_000;
    this.#shared = options.client;
  }

  /**
   * Datagrams our own endpoint dropped because they matched no request in flight (a wrong
   * transaction id, another source, junk). With a shared client the session's endpoint counts
   * them (`UdpEndpoint.stats().unclaimed`), and this stays 0.
   */
  get ignoredPackets(): number {
    return this.#ownEndpoint?.stats().unclaimed ?? 0;
  }

  async announce(request: AnnounceRequest, options: RequestOptions = {}): Promise<AnnounceResponse> {
    checkAnnounceRequest(request);
    const reply = await this.#request(options, ACTION_ANNOUNCE, (cid, tid) => announcePacket(cid, tid, request));
    return parseUdpAnnounceReply(reply.buf, reply.target.family, this.url);
  }

  async scrape(infoHashes: readonly Uint8Array[], options: RequestOptions = {}): Promise<Map<string, ScrapeEntry>> {
    infoHashes.forEach((h, i) => checkHash(`infoHashes[${i}]`, h));
    if (infoHashes.length === 0) throw new TrackerError('BAD_ARGUMENT', 'a UDP scrape needs at least one info-hash', this.url);
    const out = new Map<string, ScrapeEntry>();
    for (let i = 0; i < infoHashes.length; i += UDP_SCRAPE_MAX_HASHES) {
      const batch = infoHashes.slice(i, i + UDP_SCRAPE_MAX_HASHES);
      const { buf } = await this.#request(options, ACTION_SCRAPE, (cid, tid) => scrapePacket(cid, tid, batch));
      for (const [hex, entry] of parseUdpScrapeReply(buf, batch, this.url)) out.set(hex, entry);
    }
    return out;
  }

  close(): void {
    this.#closed = true;
    for (const fail of [...this.#open]) fail(new TrackerError('ABORTED', 'tracker closed', this.url));
    this.#open.clear();
    const own = this.#own;
    this.#own = undefined;
    void own?.then(({ endpoint, client }) => {
      client.close();
      return endpoint.close();
    }, () => undefined);
  }

  /** The shared client, or our own on an endpoint of its own (dual-stack, ephemeral port, not keeping the process alive). */
  #client(): Promise<UdpTrackerClient> {
    if (this.#shared) return Promise.resolve(this.#shared);
    this.#own ??= (async () => {
      const endpoint = new UdpEndpoint({ unref: true, maxOwners: 1 });
      this.#ownEndpoint = endpoint;
      await endpoint.bind({ port: 0 });
      return { endpoint, client: new UdpTrackerClient(endpoint) };
    })();
    return this.#own.then((o) => o.client);
  }

  /**
   * Runs one request with BEP 15's schedule: the n-th transmission (connect or the request itself,
   * whichever is due) waits base·2^n; a connection id older than the TTL is renewed first. Each
   * try is told to `onAttempt` as it goes out.
   */
  async #request(options: RequestOptions, action: number, build: (cid: Buffer, tid: number) => Buffer): Promise<{ buf: Buffer; target: Target }> {
    const { signal } = options;
    if (this.#closed) throw new TrackerError('BAD_ARGUMENT', 'tracker is closed', this.url);
    if (signal?.aborted) throw new TrackerError('ABORTED', 'request cancelled', this.url);
    const target = await this.#resolve();
    const key = `${target.address}|${target.port}`;
    let justConnected = false;
    for (let n = 0; n <= this.#maxRetries; ) {
      const wait = this.#base * 2 ** n;
      tellAttempt(options.onAttempt, { attempt: n + 1, maxAttempts: this.#maxRetries + 1, timeoutMs: wait });
      const conn = this.#connection;
      if (!conn || conn.key !== key || (!justConnected && this.#clock.now() - conn.at >= this.#ttl)) {
        const reply = await this.#exchange(target, ACTION_CONNECT, (tid) => connectPacket(tid), wait, signal);
        if (reply === TIMED_OUT) {
          n++;
          continue;
        }
        this.#connection = { id: parseUdpConnectReply(reply, this.url), at: this.#clock.now(), key };
        justConnected = true;
        continue; // the request itself goes out with the same n
      }
      justConnected = false;
      let reply: Buffer | typeof TIMED_OUT;
      try {
        reply = await this.#exchange(target, action, (tid) => build(conn.id, tid), wait, signal);
      } catch (e) {
        // An error action may mean the tracker forgot our connection id: get a fresh one next time.
        if (e instanceof TrackerError && e.code === 'REJECTED') this.#connection = undefined;
        throw e;
      }
      if (reply === TIMED_OUT) {
        n++;
        continue;
      }
      return { buf: reply, target };
    }
    const total = this.#base * (2 ** (this.#maxRetries + 1) - 1);
    throw new TrackerError('TIMEOUT', `no reply after ${this.#maxRetries + 1} tries (${total} ms)`, this.url);
  }

  async #resolve(): Promise<Target> {
    const literal = isIP(this.#host);
    if (literal) return { address: this.#host, port: this.#port, family: literal as 4 | 6 };
    try {
      const r = await lookup(this.#host);
      return { address: r.address, port: this.#port, family: r.family === 6 ? 6 : 4 };
    } catch (e) {
      throw new TrackerError('NETWORK', `cannot resolve ${this.#host}: ${(e as Error).message}`, this.url, { cause: e });
    }
  }

  /** Sends one packet and waits up to `waitMs` for the reply with its transaction id. */
  async #exchange(target: Target, expect: number, build: (tid: number) => Buffer, waitMs: number, signal: AbortSignal | undefined): Promise<Buffer | typeof TIMED_OUT> {
    let client: UdpTrackerClient;
    try {
      client = await this.#client();
    } catch (e) {
      throw toTrackerError(e, this.url);
    }
    if (this.#closed) throw new TrackerError('ABORTED', 'tracker closed', this.url);
    return new Promise((resolve, reject) => {
      let forget = (): void => undefined;
      const cleanup = (): void => {
        this.#clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#open.delete(fail);
        forget();
      };
      const fail = (err: TrackerError): void => {
        cleanup();
        reject(err);
      };
      const onAbort = (): void => fail(new TrackerError('ABORTED', 'request cancelled', this.url));
      const timer = this.#clock.setTimeout(() => {
        cleanup();
        resolve(TIMED_OUT);
      }, waitMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#open.add(fail);
      // Send errors are left to the retransmission schedule; an error of the socket fails the request.
      forget = client.transaction(
        target,
        build,
        (reply) => {
          cleanup();
          try {
            resolve(checkUdpReply(reply, expect, this.url));
          } catch (e) {
            reject(toTrackerError(e, this.url));
          }
        },
        (error) => fail(toTrackerError(error, this.url)),
      );
    });
  }
}

// --- reading replies: pure functions (no socket), so they can be fuzzed on their own ----------

function bad(message: string, url: string): TrackerError {
  return new TrackerError('BAD_RESPONSE', message, url);
}

/** The transaction id of a datagram, or undefined when it is too short to carry one. */
export function udpTransactionId(msg: Uint8Array): number | undefined {
  return msg.length < 8 ? undefined : Buffer.from(msg.buffer, msg.byteOffset, msg.length).readUInt32BE(4);
}

/**
 * Checks the action of a reply to a request of action `expect` (0 connect, 1 announce, 2 scrape):
 * returns it as a Buffer, or throws TrackerError REJECTED (action 3, with the tracker's text) or
 * BAD_RESPONSE (too short, another action).
 */
export function checkUdpReply(msg: Uint8Array, expect: number, url = ''): Buffer {
  const b = Buffer.from(msg.buffer, msg.byteOffset, msg.length);
  if (b.length < 8) throw bad(`reply is ${b.length} bytes, too short for a header`, url);
  const action = b.readUInt32BE(0);
  if (action === ACTION_ERROR) {
    const text = b.subarray(8).toString('utf8').replace(/\0+$/, '');
    throw new TrackerError('REJECTED', `rejected by tracker: ${text || '(no message)'}`, url);
  }
  if (action !== expect) throw bad(`reply has action ${action}, expected ${expect}`, url);
  return b;
}

/** The connection id of a connect reply (BEP 15); TrackerError BAD_RESPONSE when too short. */
export function parseUdpConnectReply(reply: Uint8Array, url = ''): Buffer {
  if (reply.length < 16) throw bad(`connect reply is ${reply.length} bytes, expected 16`, url);
  return Buffer.from(reply.subarray(8, 16));
}

/** An announce reply (BEP 15) from a tracker reached over IPv4 (6-byte peers) or IPv6 (18-byte peers). */
export function parseUdpAnnounceReply(reply: Uint8Array, family: 4 | 6, url = ''): AnnounceResponse {
  const b = Buffer.from(reply.buffer, reply.byteOffset, reply.length);
  if (b.length < 20) throw bad(`announce reply is ${b.length} bytes, expected at least 20`, url);
  const peerBytes = b.subarray(20);
  const size = family === 6 ? 18 : 6;
  if (peerBytes.length % size !== 0) throw bad(`announce reply has ${peerBytes.length} peer bytes, not a multiple of ${size}`, url);
  // Reuse metainfo's compact-peer parser through a synthetic dict.
  const parsed = validateTrackerResponse(new BencodeDict([[size === 6 ? 'peers' : 'peers6', peerBytes]])) as TrackerSuccess;
  const out: AnnounceResponse = { peers: parsed.peers, droppedPeers: parsed.droppedPeers };
  const interval = b.readUInt32BE(8);
  if (interval > 0) out.interval = interval;
  out.incomplete = b.readUInt32BE(12);
  out.complete = b.readUInt32BE(16);
  return out;
}

/** A scrape reply (BEP 15) for `hashes`, in their order. */
export function parseUdpScrapeReply(reply: Uint8Array, hashes: readonly Uint8Array[], url = ''): Map<string, ScrapeEntry> {
  const b = Buffer.from(reply.buffer, reply.byteOffset, reply.length);
  if (b.length < 8 + 12 * hashes.length) throw bad(`scrape reply is ${b.length} bytes, expected ${8 + 12 * hashes.length}`, url);
  const out = new Map<string, ScrapeEntry>();
  hashes.forEach((hash, j) => {
    const off = 8 + 12 * j;
    out.set(hexOf(hash), { infoHash: hash, complete: b.readUInt32BE(off), downloaded: b.readUInt32BE(off + 4), incomplete: b.readUInt32BE(off + 8) });
  });
  return out;
}

function header(size: number, cid: Buffer, action: number, tid: number): Buffer {
  const b = Buffer.alloc(size);
  cid.copy(b, 0);
  b.writeUInt32BE(action, 8);
  b.writeUInt32BE(tid, 12);
  return b;
}

function connectPacket(tid: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64BE(UDP_PROTOCOL_ID, 0);
  b.writeUInt32BE(ACTION_CONNECT, 8);
  b.writeUInt32BE(tid, 12);
  return b;
}

function announcePacket(cid: Buffer, tid: number, r: AnnounceRequest): Buffer {
  const b = header(98, cid, ACTION_ANNOUNCE, tid);
  b.set(r.infoHash, 16);
  b.set(r.peerId, 36);
  b.writeBigUInt64BE(BigInt(r.downloaded), 56);
  b.writeBigUInt64BE(BigInt(r.left), 64);
  b.writeBigUInt64BE(BigInt(r.uploaded), 72);
  b.writeUInt32BE(EVENT_CODES[r.event ?? 'none'], 80);
  if (r.ip !== undefined && isIP(r.ip) === 4) {
    r.ip.split('.').forEach((octet, i) => b.writeUInt8(Number(octet), 84 + i));
  }
  b.writeUInt32BE(r.key >>> 0, 88);
  b.writeInt32BE(r.numwant ?? -1, 92);
  b.writeUInt16BE(r.port, 96);
  return b;
}

function scrapePacket(cid: Buffer, tid: number, hashes: readonly Uint8Array[]): Buffer {
  const b = header(16 + 20 * hashes.length, cid, ACTION_SCRAPE, tid);
  hashes.forEach((h, i) => b.set(h, 16 + 20 * i));
  return b;
}
