// One DHT node (BEP 5, with 32, 42 and 43) over a datagram socket that its owner provides: it
// answers queries, keeps a routing table per address family, runs lookups for the client and
// stores the peers others announce. Time comes from an injected clock; nothing here opens a socket.
import { EventEmitter } from 'node:events';
import { lookup as dnsLookup } from 'node:dns/promises';
import { decode, encode, isBytes, isDict, type Encodable } from '@mainline/bencode';
import { systemClock, type Clock, type TimerHandle } from '@mainline/rate';
import { bep42Id, isBep42Exempt, isValidBep42Id } from './bep42.js';
import {
  addressKey,
  decodeAddresses,
  encodeAddresses,
  encodeNodes,
  encodePeer,
  familyOf,
  peerBytes,
  unmapHost,
  type Address,
  type Family,
  type NodeInfo,
  type Peer,
} from './compact.js';
import { DhtError } from './errors.js';
import { ID_BYTES, randomId, sameBytes, toHex } from './id.js';
import { IpVoter } from './ip-voter.js';
import {
  decodeKrpc,
  encodeError,
  encodeQuery,
  encodeResponse,
  ERROR_METHOD_UNKNOWN,
  ERROR_PROTOCOL,
  ERROR_SERVER,
  type Query,
  type Response,
  type Want,
} from './krpc.js';
import { Lookup, type LookupResult } from './lookup.js';
import { PeerStore, type PeerStoreOptions } from './peer-store.js';
import { PeerStream } from './peer-stream.js';
import { QueryRateLimiter, type RateLimitOptions } from './rate-limit.js';
import { K, QUESTIONABLE_AFTER_MS, RoutingTable, type TableStats } from './routing-table.js';
import type { DatagramSocket, DatagramSource } from './socket.js';
import { TokenSecrets, TOKEN_ROTATION_MS } from './tokens.js';
import { Transactions, type QueryOutcome } from './transactions.js';

/** The public routers used when no `bootstrap` is given. Tests always give their own. */
export const DEFAULT_BOOTSTRAP: readonly string[] = [
  'router.bittorrent.com:6881',
  'router.utorrent.com:6881',
  'dht.transmissionbt.com:6881',
  'dht.libtorrent.org:25401',
];

/** Our KRPC `v`: "MN" (mainline's peer-id code; "ML" is MLDonkey's) and version 0.1. */
export const CLIENT_VERSION = Uint8Array.of(0x4d, 0x4e, 0x00, 0x01);

export interface DhtOptions {
  /** Where our datagrams go; the owner passes incoming ones to {@link DhtNode.receive}. */
  readonly socket: DatagramSocket;
  readonly clock?: Clock;
  /** Our node id (kept even if it breaks BEP 42 for our address). Default: from `state`, else BEP 42 for `externalAddress`, else random. */
  readonly id?: Uint8Array;
  /** A node table saved by {@link DhtNode.saveState} (bencoded {id, nodes, nodes6}, like Transmission's dht.dat). */
  readonly state?: Uint8Array;
  /** Bootstrap nodes as `host:port` (`[v6]:port` for IPv6 literals; names are resolved). Default {@link DEFAULT_BOOTSTRAP}. */
  readonly bootstrap?: readonly string[];
  /** Address families to run (BEP 32: separate tables, same id). Default [4]. */
  readonly families?: readonly Family[];
  /** BEP 43: query only, never answer, and ask others not to add us (default false). */
  readonly readOnly?: boolean;
  /**
   * BEP 42 (default true): our id follows our external IP (learned by voting over replies' `ip`),
   * and nodes whose id does not fit their IP stay out of the routing table. Local addresses
   * (127/8, 10/8, 192.168/16, ...) are exempt, so loopback tests are unaffected either way.
   */
  readonly bep42?: boolean;
  /** Our external IP when the owner knows it (BEP 42 then uses it from the start). */
  readonly externalAddress?: string;
  /** At most one table node per public IP (libtorrent's `dht_restrict_routing_ips`; default true). */
  readonly onePerIp?: boolean;
  /** Bucket size and lookup width (default K = 8). */
  readonly k?: number;
  /** Queries a lookup keeps in flight (default α = 3). */
  readonly alpha?: number;
  /** A query's deadline (default 4 s). */
  readonly queryTimeoutMs?: number;
  /** After this a query no longer holds a lookup slot (default 1 s). */
  readonly slowQueryMs?: number;
  /** A lookup's deadline (default 30 s) and query budget (default 200). */
  readonly lookupTimeoutMs?: number;
  readonly maxLookupQueries?: number;
  /** Our queries in flight at most (default 512). */
  readonly maxPendingQueries?: number;
  /** Peers one get_peers search keeps at most (default 2000). */
  readonly maxPeersPerSearch?: number;
  /** Lookups running at once (default 16); more wait in a queue of up to 256, then end as `overloaded`. */
  readonly maxLookups?: number;
  /** Per-IP limit on incoming queries, or false for none (default {@link RateLimitOptions} defaults). */
  readonly rateLimit?: RateLimitOptions | false;
  /** Caps of the store of others' announces. */
  readonly storage?: PeerStoreOptions;
  /** How often the secret behind announce tokens changes (default 5 min; tokens live 1–2 periods). */
  readonly tokenRotationMs?: number;
  /** Period of the housekeeping tick: bucket refresh, pings of questionable nodes, expiry (default 60 s). */
  readonly tickMs?: number;
  /** Resolves a bootstrap host name (default node:dns lookup). */
  readonly resolve?: (host: string, family: Family) => Promise<string[]>;
  /** Our KRPC `v` (default {@link CLIENT_VERSION}). */
  readonly version?: Uint8Array;
}

const OPTION_NAMES = new Set([
  'socket',
  'clock',
  'id',
  'state',
  'bootstrap',
  'families',
  'readOnly',
  'bep42',
  'externalAddress',
  'onePerIp',
  'k',
  'alpha',
  'queryTimeoutMs',
  'slowQueryMs',
  'lookupTimeoutMs',
  'maxLookupQueries',
  'maxPendingQueries',
  'maxPeersPerSearch',
  'maxLookups',
  'rateLimit',
  'storage',
  'tokenRotationMs',
  'tickMs',
  'resolve',
  'version',
]);

/** How to announce: our TCP port, or `'implied'` (BEP 5 `implied_port`: the UDP source port). */
export type AnnouncePort = number | 'implied';

export interface SearchOptions {
  /** Also announce us (announce_peer) to the closest nodes that gave a token. */
  readonly announce?: AnnouncePort;
}

/** A lookup in one family. */
export interface FamilyLookup extends LookupResult {
  readonly family: Family;
}

export interface SearchResult {
  /** Every distinct peer found. */
  readonly peers: readonly Peer[];
  /** Nodes that accepted our announce_peer (0 without `announce`). */
  readonly announced: number;
  /** One lookup per family. */
  readonly lookups: readonly FamilyLookup[];
}

/** A running get_peers search: iterate it for peers as they come; `done` resolves when it ends. */
export interface PeerSearch extends AsyncIterable<Peer> {
  readonly done: Promise<SearchResult>;
  /** Peers found so far. */
  readonly found: readonly Peer[];
  /** Ends the search early (`done` still resolves). */
  cancel(): void;
}

export interface FamilyStats extends TableStats {
  readonly family: Family;
  /** Nodes in the table (good + questionable + bad). */
  readonly nodes: number;
}

export interface DhtStats {
  readonly id: string;
  /** Good and questionable nodes over all tables: what a progress line shows. */
  readonly nodes: number;
  readonly tables: readonly FamilyStats[];
  readonly storedTorrents: number;
  readonly storedPeers: number;
  readonly pendingQueries: number;
  readonly runningLookups: number;
  /** Lookups waiting for a slot (see `maxLookups`). */
  readonly queuedLookups: number;
  readonly externalAddress?: string;
  readonly ready: boolean;
  readonly readOnly: boolean;
  readonly received: { readonly queries: number; readonly responses: number; readonly errors: number; readonly malformed: number; readonly rateLimited: number; readonly unmatched: number };
  readonly sent: { readonly queries: number; readonly responses: number; readonly errors: number };
}

export interface DhtEvents {
  /** The first bootstrap finished (the table may still be empty if nobody answered). */
  ready: [];
  /** Something worth a log line (unresolvable bootstrap host, send failure, ...). */
  warning: [message: string];
  /** Voting over replies' `ip` fields settled on our external address. */
  'external-address': [address: string];
  /** Our node id changed (BEP 42, after learning our external address). */
  id: [id: Uint8Array];
  /** A node announced a peer to us and we stored it. */
  announce: [infoHash: Uint8Array, peer: Peer];
}

interface Counters {
  queries: number;
  responses: number;
  errors: number;
  malformed: number;
  rateLimited: number;
  unmatched: number;
  sentQueries: number;
  sentResponses: number;
  sentErrors: number;
}

/** A parsed bootstrap entry. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Saved-node addresses contacted at start at most, per family. */
const MAX_SEEDS = 64;
/** Nodes per family written by saveState. */
const MAX_SAVED_NODES = 200;
/** Query senders being pinged before they may enter the table, at most. */
const MAX_VERIFYING = 32;
/** Lookups waiting for a slot, at most; beyond that a lookup ends at once as `overloaded`. */
const MAX_WAITING_LOOKUPS = 256;
/** Stale-bucket refreshes and questionable-node pings per tick, at most. */
const REFRESHES_PER_TICK = 4;
const PINGS_PER_TICK = 8;

/** What a lookup is for: a find_node or get_peers for `target` in one family, seeded with `extra` too. */
interface LookupRequest {
  readonly target: Uint8Array;
  readonly family: Family;
  readonly method: 'find_node' | 'get_peers';
  readonly extra: readonly NodeInfo[];
  readonly onPeers?: (peers: readonly Peer[]) => void;
  /** Runs once, whatever happens. */
  readonly onDone: (result: FamilyLookup) => void;
}

interface LookupHandle {
  cancel(): void;
}

interface WaitingLookup {
  start(): void;
  /** Ends it without running (cancelled while waiting, or the node closed). */
  cancel(): void;
}

const NO_LOOKUP: LookupHandle = { cancel: () => undefined };

const emptyLookup = (family: Family, end: LookupResult['end']): FamilyLookup => ({ closest: [], queries: 0, responses: 0, rounds: 0, durationMs: 0, end, family });

export class DhtNode extends EventEmitter<DhtEvents> {
  readonly #socket: DatagramSocket;
  readonly #clock: Clock;
  readonly #families: readonly Family[];
  readonly #readOnly: boolean;
  readonly #bep42: boolean;
  readonly #onePerIp: boolean;
  readonly #k: number;
  readonly #alpha: number;
  readonly #queryTimeoutMs: number;
  readonly #slowQueryMs: number;
  readonly #lookupTimeoutMs: number;
  readonly #maxLookupQueries: number;
  readonly #maxPeersPerSearch: number;
  readonly #tickMs: number;
  readonly #version: Uint8Array;
  readonly #resolve: (host: string, family: Family) => Promise<string[]>;
  readonly #bootstrapNodes: readonly HostPort[];
  readonly #tx: Transactions;
  readonly #tokens: TokenSecrets;
  readonly #store: PeerStore;
  readonly #limiter: QueryRateLimiter | undefined;
  readonly #voter = new IpVoter();
  readonly #seeds = new Map<Family, Address[]>();
  readonly #lookups = new Set<Lookup>();
  readonly #waiting: WaitingLookup[] = [];
  readonly #maxLookups: number;
  readonly #verifying = new Set<string>();
  readonly #count: Counters = { queries: 0, responses: 0, errors: 0, malformed: 0, rateLimited: 0, unmatched: 0, sentQueries: 0, sentResponses: 0, sentErrors: 0 };
  #tables = new Map<Family, RoutingTable>();
  #id: Uint8Array;
  readonly #idFixed: boolean;
  #starting: Promise<void> | undefined;
  /**
   * Resolves once the saved and bootstrap nodes have been contacted (or the join ended): a search
   * need not wait for the rest of the join, whose lookups may spend seconds on dead nodes.
   */
  #contacted: Promise<void> | undefined;
  #markContacted: () => void = () => undefined;
  #ready = false;
  #closed = false;
  #tick: TimerHandle | undefined;

  constructor(options: DhtOptions) {
    super();
    for (const key of Object.keys(options)) {
      if (!OPTION_NAMES.has(key)) throw new DhtError('BAD_OPTION', `unknown DHT option ${JSON.stringify(key)}`);
    }
    if (!options.socket || typeof options.socket.send !== 'function') throw new DhtError('BAD_OPTION', 'socket must have a send(data, port, host) method');
    this.#socket = options.socket;
    this.#clock = options.clock ?? systemClock;
    this.#families = [...new Set<Family>(options.families ?? [4])];
    if (this.#families.length === 0 || this.#families.some((f) => f !== 4 && f !== 6)) throw new DhtError('BAD_OPTION', 'families must be a non-empty list of 4 and/or 6');
    this.#readOnly = options.readOnly ?? false;
    this.#bep42 = options.bep42 ?? true;
    this.#onePerIp = options.onePerIp ?? true;
    this.#k = positive('k', options.k ?? K);
    this.#alpha = positive('alpha', options.alpha ?? 3);
    this.#queryTimeoutMs = positive('queryTimeoutMs', options.queryTimeoutMs ?? 4000);
    this.#slowQueryMs = positive('slowQueryMs', options.slowQueryMs ?? 1000);
    this.#lookupTimeoutMs = positive('lookupTimeoutMs', options.lookupTimeoutMs ?? 30_000);
    this.#maxLookupQueries = positive('maxLookupQueries', options.maxLookupQueries ?? 200);
    this.#maxPeersPerSearch = positive('maxPeersPerSearch', options.maxPeersPerSearch ?? 2000);
    this.#maxLookups = positive('maxLookups', options.maxLookups ?? 16);
    this.#tickMs = positive('tickMs', options.tickMs ?? 60_000);
    this.#version = options.version ?? CLIENT_VERSION;
    this.#resolve = options.resolve ?? defaultResolve;
    this.#bootstrapNodes = (options.bootstrap ?? DEFAULT_BOOTSTRAP).map(parseHostPort);
    if (options.externalAddress !== undefined && familyOf(options.externalAddress) === undefined) {
      throw new DhtError('BAD_OPTION', `externalAddress must be an IP address, got ${JSON.stringify(options.externalAddress)}`);
    }
    this.#tx = new Transactions(this.#clock, positive('maxPendingQueries', options.maxPendingQueries ?? 512));
    this.#tokens = new TokenSecrets(this.#clock, positive('tokenRotationMs', options.tokenRotationMs ?? TOKEN_ROTATION_MS));
    this.#store = new PeerStore(options.storage);
    this.#limiter = options.rateLimit === false ? undefined : new QueryRateLimiter(options.rateLimit);

    const saved = options.state ? parseState(options.state) : undefined;
    if (saved) for (const f of this.#families) this.#seeds.set(f, (f === 4 ? saved.nodes : saved.nodes6).slice(0, MAX_SEEDS));
    if (options.id !== undefined && (!(options.id instanceof Uint8Array) || options.id.length !== ID_BYTES)) throw new DhtError('BAD_OPTION', 'id must be 20 bytes');
    this.#idFixed = options.id !== undefined;
    const ext = options.externalAddress;
    const wantsBep42Id = (id: Uint8Array | undefined): boolean => this.#bep42 && ext !== undefined && !isBep42Exempt(ext) && (id === undefined || !isValidBep42Id(id, ext));
    this.#id = options.id ? Uint8Array.from(options.id) : wantsBep42Id(saved?.id) ? bep42Id(ext!) : (saved?.id ?? randomId());
    this.#tables = this.#makeTables(this.#id);
  }

  /** Our node id (20 bytes). */
  get id(): Uint8Array {
    return this.#id;
  }

  /** Good and questionable nodes over all tables. */
  get nodeCount(): number {
    const now = this.#clock.now();
    let n = 0;
    for (const t of this.#tables.values()) {
      const s = t.stats(now);
      n += s.good + s.questionable;
    }
    return n;
  }

  /** Whether the first bootstrap has finished. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Our external IP as voted by the nodes that answered us, once known. */
  get externalAddress(): string | undefined {
    return this.#voter.address;
  }

  /**
   * Joins the DHT: contacts the saved nodes, then (if they were not enough) the bootstrap nodes,
   * then looks up our own id to fill the table. Resolves when that is done; idempotent.
   */
  start(): Promise<void> {
    if (this.#closed) return Promise.reject(new DhtError('CLOSED', 'the DHT node is closed'));
    if (!this.#starting) {
      this.#scheduleTick();
      this.#contacted = new Promise((resolve) => (this.#markContacted = resolve));
      this.#starting = Promise.all(this.#families.map((f) => this.#bootstrap(f))).then(() => {
        if (this.#closed) return;
        this.#ready = true;
        this.#markContacted();
        this.emit('ready');
      });
    }
    return this.#starting;
  }

  /** Hands us one datagram that arrived on the shared endpoint. Never throws for any content. */
  receive(data: Uint8Array, from: DatagramSource): void {
    if (this.#closed) return;
    const host = unmapHost(from.address);
    const family = familyOf(host);
    if (family === undefined || !this.#tables.has(family) || !Number.isInteger(from.port) || from.port <= 0 || from.port > 65535) return;
    const src: Address = { host, port: from.port };
    const decoded = decodeKrpc(data);
    if (!decoded.ok) {
      this.#count.malformed++;
      const t = decoded.error.replyTo;
      if (t && !this.#readOnly && this.#allowQuery(host)) this.#sendError(src, t, ERROR_PROTOCOL, decoded.error.message);
      return;
    }
    const msg = decoded.message;
    if (msg.kind === 'query') {
      this.#count.queries++;
      if (this.#readOnly || !this.#allowQuery(host)) return;
      this.#onQuery(msg, src, family);
    } else if (msg.kind === 'response') {
      this.#count.responses++;
      if (!this.#tx.answer(msg.t, src, { ok: true, response: msg })) this.#count.unmatched++;
    } else {
      this.#count.errors++;
      if (!this.#tx.answer(msg.t, src, { ok: false, reason: 'error', error: msg })) this.#count.unmatched++;
    }
  }

  /**
   * A node we heard of elsewhere (a BEP 5 `port` message, a torrent's `nodes`): pinged, and added
   * to the table if it answers.
   */
  addNode(addr: Address): void {
    const host = unmapHost(addr.host);
    const family = familyOf(host);
    if (this.#closed || family === undefined || !this.#tables.has(family) || !(addr.port > 0 && addr.port <= 65535)) return;
    const key = addressKey({ host, port: addr.port });
    if (this.#tables.get(family)!.get({ host, port: addr.port }) || this.#verifying.has(key) || this.#verifying.size >= MAX_VERIFYING) return;
    this.#verifying.add(key);
    this.#query({ host, port: addr.port }, family, 'ping', {}, () => this.#verifying.delete(key));
  }

  /** Iterative find_node for `target` in one family (default the first): the K closest nodes that answered. */
  findNode(target: Uint8Array, family: Family = this.#families[0]!): Promise<FamilyLookup> {
    checkHash(target, 'target');
    if (this.#closed) return Promise.reject(new DhtError('CLOSED', 'the DHT node is closed'));
    if (!this.#tables.has(family)) return Promise.reject(new DhtError('BAD_ARGUMENT', `the IPv${family} DHT is not running`));
    return new Promise((resolve) => this.#lookup({ target, family, method: 'find_node', extra: [], onDone: resolve }));
  }

  /**
   * Searches for peers of `infoHash` (get_peers, in every family that runs); with `announce`,
   * then announces us to the closest nodes that gave a token. During the join it waits only until the saved and bootstrap nodes were contacted.
   */
  getPeers(infoHash: Uint8Array, options: SearchOptions = {}): PeerSearch {
    checkHash(infoHash, 'infoHash');
    if (this.#closed) throw new DhtError('CLOSED', 'the DHT node is closed');
    const announce = options.announce;
    if (announce !== undefined && announce !== 'implied' && !(Number.isInteger(announce) && announce > 0 && announce <= 65535)) {
      throw new DhtError('BAD_ARGUMENT', `announce must be a port (1-65535) or 'implied', got ${String(announce)}`);
    }
    const stream = new PeerStream(this.#maxPeersPerSearch);
    const running = new Set<LookupHandle>();
    let cancelled = false;
    const runFamily = async (family: Family): Promise<{ lookup: FamilyLookup; announced: number }> => {
      const lookup = await new Promise<FamilyLookup>((resolve) => {
        const l = this.#lookup({ target: infoHash, family, method: 'get_peers', extra: [], onPeers: (peers) => stream.push(peers), onDone: resolve });
        running.add(l);
        if (cancelled) l.cancel();
      });
      if (announce === undefined || cancelled || this.#closed) return { lookup, announced: 0 };
      const acks = await Promise.all(lookup.closest.filter((n) => n.token).map((n) => this.#announceTo(n, family, infoHash, n.token!, announce)));
      return { lookup, announced: acks.filter(Boolean).length };
    };
    const done = (async (): Promise<SearchResult> => {
      if (this.#contacted && !this.#ready) await this.#contacted;
      const results = cancelled || this.#closed ? [] : await Promise.all(this.#families.map(runFamily));
      stream.end();
      return { peers: stream.found, announced: results.reduce((n, r) => n + r.announced, 0), lookups: results.map((r) => r.lookup) };
    })();
    return {
      done,
      get found() {
        return stream.found;
      },
      cancel: () => {
        cancelled = true;
        for (const l of running) l.cancel();
      },
      [Symbol.asyncIterator]: () => stream[Symbol.asyncIterator](),
    };
  }

  /** get_peers for `infoHash`, then announce_peer with `port` to the closest nodes; resolves with both. */
  announce(infoHash: Uint8Array, port: AnnouncePort): Promise<SearchResult> {
    return this.getPeers(infoHash, { announce: port }).done;
  }

  stats(): DhtStats {
    const now = this.#clock.now();
    const tables: FamilyStats[] = [...this.#tables].map(([family, t]) => ({ family, nodes: t.size, ...t.stats(now) }));
    const c = this.#count;
    return {
      id: toHex(this.#id),
      nodes: tables.reduce((n, t) => n + t.good + t.questionable, 0),
      tables,
      storedTorrents: this.#store.torrents,
      storedPeers: this.#store.peers,
      pendingQueries: this.#tx.size,
      runningLookups: this.#lookups.size,
      queuedLookups: this.#waiting.length,
      ...(this.#voter.address !== undefined ? { externalAddress: this.#voter.address } : {}),
      ready: this.#ready,
      readOnly: this.#readOnly,
      received: { queries: c.queries, responses: c.responses, errors: c.errors, malformed: c.malformed, rateLimited: c.rateLimited, unmatched: c.unmatched },
      sent: { queries: c.sentQueries, responses: c.sentResponses, errors: c.sentErrors },
    };
  }

  /**
   * The node table to keep for the next start: bencoded {id, nodes (6 bytes each), nodes6 (18
   * each)}, as Transmission's dht.dat; the most recently heard non-bad nodes first.
   */
  saveState(): Uint8Array {
    const now = this.#clock.now();
    const addrs = (family: Family): Uint8Array => {
      const t = this.#tables.get(family);
      const live = t ? t.nodes().filter((n) => t.state(n, now) !== 'bad') : [];
      live.sort((a, b) => b.lastReply - a.lastReply);
      return encodeAddresses(live.slice(0, MAX_SAVED_NODES), family);
    };
    const state: { [k: string]: Encodable } = { id: this.#id, nodes: addrs(4) };
    if (this.#tables.has(6)) state.nodes6 = addrs(6);
    return encode(state);
  }

  /** Stops: lookups end, pending queries fail, timers stop; later datagrams are ignored. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#markContacted();
    if (this.#tick) this.#clock.clearTimeout(this.#tick);
    for (const w of this.#waiting.splice(0)) w.cancel();
    for (const l of [...this.#lookups]) l.cancel();
    this.#tx.closeAll();
  }

  // ---- queries we answer -----------------------------------------------------------------

  #allowQuery(host: string): boolean {
    if (!this.#limiter || this.#limiter.allow(host, this.#clock.now())) return true;
    this.#count.rateLimited++;
    return false;
  }

  #onQuery(q: Query, src: Address, family: Family): void {
    const now = this.#clock.now();
    const body: { [key: string]: Encodable | undefined } = { id: this.#id };
    switch (q.method) {
      case 'ping':
        break;
      case 'find_node':
        Object.assign(body, this.#nodesFor(q.target, q.want, family, now));
        break;
      case 'get_peers': {
        // Withhold the token when the store is full (libtorrent does): announces go elsewhere.
        if (this.#store.accepts(q.infoHash, family)) body.token = this.#tokens.token(src.host, q.infoHash);
        const values = this.#store.get(q.infoHash, family, now);
        if (values.length > 0) body.values = values;
        Object.assign(body, this.#nodesFor(q.infoHash, q.want, family, now));
        break;
      }
      case 'announce_peer': {
        if (!this.#tokens.check(q.token, src.host, q.infoHash)) return this.#sendError(src, q.t, ERROR_PROTOCOL, 'invalid token');
        const peer: Peer = { host: src.host, port: q.impliedPort ? src.port : q.port!, family };
        if (!this.#store.add(q.infoHash, peer, now)) return this.#sendError(src, q.t, ERROR_SERVER, 'storage full');
        this.emit('announce', Uint8Array.from(q.infoHash), peer);
        break;
      }
      case 'unknown':
        return this.#sendError(src, q.t, ERROR_METHOD_UNKNOWN, 'Method Unknown');
    }
    this.#send(src, encodeResponse({ t: q.t, v: this.#version }, body, encodePeer(src, family)));
    this.#count.sentResponses++;
    if (!q.ro) this.#consider(q.id, src, family, now);
  }

  /** `nodes` / `nodes6` for a find_node or get_peers reply: the request's family, or what `want` asks. */
  #nodesFor(target: Uint8Array, want: Want | undefined, family: Family, now: number): { nodes?: Uint8Array; nodes6?: Uint8Array } {
    const out: { nodes?: Uint8Array; nodes6?: Uint8Array } = {};
    const n4 = want ? want.n4 : family === 4;
    const n6 = want ? want.n6 : family === 6;
    const t4 = this.#tables.get(4);
    const t6 = this.#tables.get(6);
    if (n4 && t4) out.nodes = encodeNodes(t4.closest(target, this.#k, now), 4);
    if (n6 && t6) out.nodes6 = encodeNodes(t6.closest(target, this.#k, now), 6);
    return out;
  }

  /** A node queried us: refresh it if known; otherwise ping it when the table could take it (verified nodes only). */
  #consider(id: Uint8Array, src: Address, family: Family, now: number): void {
    const table = this.#tables.get(family)!;
    const known = table.get(src);
    if (known && sameBytes(known.id, id)) return table.queriedBy(src, id, now);
    if (!table.wouldTake({ id, ...src }, now)) return;
    const key = addressKey(src);
    if (this.#verifying.has(key) || this.#verifying.size >= MAX_VERIFYING) return;
    this.#verifying.add(key);
    this.#query(src, family, 'ping', {}, () => this.#verifying.delete(key));
  }

  #sendError(to: Address, t: Uint8Array, code: number, message: string): void {
    this.#send(to, encodeError({ t, v: this.#version }, code, message));
    this.#count.sentErrors++;
  }

  #send(to: Address, data: Uint8Array): boolean {
    try {
      this.#socket.send(data, to.port, to.host);
      return true;
    } catch (e) {
      this.emit('warning', `cannot send to ${to.host}:${to.port}: ${(e as Error).message}`);
      return false;
    }
  }

  // ---- queries we send --------------------------------------------------------------------

  /** Sends a query; the table learns from the outcome before `done` sees it. */
  #query(to: Address, family: Family, method: string, args: { [key: string]: Encodable | undefined }, done: (outcome: QueryOutcome) => void): void {
    if (this.#closed) return done({ ok: false, reason: 'closed' });
    const t = this.#tx.open(to, this.#queryTimeoutMs, (outcome) => {
      this.#learn(to, family, outcome);
      done(outcome);
    });
    if (!t) return;
    const want = this.#families.length > 1 && (method === 'find_node' || method === 'get_peers') ? ['n4', 'n6'] : undefined;
    const data = encodeQuery({ t, v: this.#version }, method, { id: this.#id, ...args, ...(want ? { want } : {}) }, this.#readOnly);
    this.#count.sentQueries++;
    if (!this.#send(to, data)) this.#tx.cancel(t, 'unsendable');
  }

  #learn(from: Address, family: Family, outcome: QueryOutcome): void {
    if (this.#closed) return;
    const table = this.#tables.get(family);
    if (!table) return;
    const now = this.#clock.now();
    if (outcome.ok) {
      const r = outcome.response;
      if (r.ip && r.ip.family === family) this.#vote(from.host, r.ip.host);
      const added = table.heardFrom({ id: r.id, host: from.host, port: from.port }, now);
      if (!added.added && added.ping) this.#check(added.ping, family, 2);
    } else if (outcome.reason === 'timeout') table.failed(from, now);
  }

  /** Pings a questionable node up to `tries` times; failures make it bad and let a replacement in. */
  #check(node: Address, family: Family, tries: number): void {
    const key = addressKey(node);
    if (this.#verifying.has(key) || this.#verifying.size >= MAX_VERIFYING) return;
    this.#verifying.add(key);
    this.#query(node, family, 'ping', {}, (o) => {
      this.#verifying.delete(key);
      const table = this.#tables.get(family);
      if (!o.ok && o.reason === 'timeout' && tries > 1 && table?.get(node)) this.#check(node, family, tries - 1);
    });
  }

  #announceTo(node: NodeInfo, family: Family, infoHash: Uint8Array, token: Uint8Array, port: AnnouncePort): Promise<boolean> {
    const implied = port === 'implied';
    const args = { info_hash: infoHash, token, port: implied ? (this.#socket.localPort ?? 1) : port, ...(implied ? { implied_port: 1 } : {}) };
    return new Promise((resolve) => this.#query(node, family, 'announce_peer', args, (o) => resolve(o.ok)));
  }

  /**
   * A lookup seeded from the table (and `extra`); `onDone` always runs, once. At most
   * `maxLookups` run at a time (the rest wait in a bounded queue), so many torrents searching at
   * once do not overflow the transaction table and fail each other's queries.
   */
  #lookup(req: LookupRequest): LookupHandle {
    const { family, onDone } = req;
    const start = (): LookupHandle => this.#startLookup(req);
    if (this.#lookups.size < this.#maxLookups) return start();
    if (this.#waiting.length >= MAX_WAITING_LOOKUPS) {
      onDone(emptyLookup(family, 'overloaded'));
      return NO_LOOKUP;
    }
    let running: LookupHandle | undefined;
    const entry: WaitingLookup = {
      start: () => (running = start()),
      cancel: () => onDone(emptyLookup(family, 'cancelled')),
    };
    this.#waiting.push(entry);
    return {
      cancel: () => {
        if (running) return running.cancel();
        const i = this.#waiting.indexOf(entry);
        if (i < 0) return;
        this.#waiting.splice(i, 1);
        entry.cancel();
      },
    };
  }

  #startLookup({ target, family, method, extra, onPeers, onDone }: LookupRequest): LookupHandle {
    const now = this.#clock.now();
    const table = this.#tables.get(family)!;
    const seeds = [...table.closest(target, this.#k * 2, now), ...extra.filter((n) => !sameBytes(n.id, this.#id))];
    const arg = method === 'find_node' ? { target } : { info_hash: target };
    // onDone may run inside the constructor (no one to ask), before `lookup` is assigned.
    const ref: { lookup?: Lookup } = {};
    let finished = false;
    const lookup = new Lookup(
      this.#clock,
      {
        target,
        k: this.#k,
        alpha: this.#alpha,
        maxQueries: this.#maxLookupQueries,
        timeoutMs: this.#lookupTimeoutMs,
        slowMs: this.#slowQueryMs,
        maxCandidates: this.#k * 16,
        query: (node, done) => this.#query(node, family, method, arg, done),
        // Others list us too: never query ourselves.
        nodesOf: (r: Response) => ((family === 4 ? r.nodes : r.nodes6) ?? []).filter((n) => !sameBytes(n.id, this.#id)),
        ...(onPeers ? { onPeers: (peers: readonly Peer[]) => onPeers(peers.filter((p) => p.family === family)) } : {}),
        onDone: (result) => {
          finished = true;
          if (ref.lookup) this.#lookups.delete(ref.lookup);
          onDone({ ...result, family });
          if (!this.#closed && this.#lookups.size < this.#maxLookups) this.#waiting.shift()?.start();
        },
      },
      seeds,
    );
    if (finished) return NO_LOOKUP;
    ref.lookup = lookup;
    this.#lookups.add(lookup);
    return lookup;
  }

  // ---- bootstrap, refresh, BEP 42 ------------------------------------------------------------

  async #bootstrap(family: Family): Promise<void> {
    const table = (): RoutingTable => this.#tables.get(family)!;
    const learned: NodeInfo[] = [];
    const saved = this.#seeds.get(family) ?? [];
    if (saved.length > 0) await this.#contact(saved, family, learned);
    if (this.#closed) return;
    // A restart with a live saved table needs no bootstrap node.
    if (table().size < this.#k) {
      const routers = await this.#resolveBootstrap(family);
      if (this.#closed) return;
      await this.#contact(routers, family, learned);
    }
    if (this.#closed) return;
    // Searches may start now (from the nodes that answered); with several families, the first to get here lets them.
    if (table().size > 0) this.#markContacted();
    await this.#findNodes([this.#id], family, learned);
    // Kademlia's join: refresh the buckets farther than our neighbours, or they stay empty until
    // someone from there happens to query us.
    if (!this.#closed) await this.#findNodes(table().sparseDepths(), family, []);
  }

  /** find_node lookups for `targets`, all at once; resolves when all have ended. */
  #findNodes(targets: readonly Uint8Array[], family: Family, extra: readonly NodeInfo[]): Promise<void> {
    return Promise.all(targets.map((t) => new Promise<void>((resolve) => this.#lookup({ target: t, family, method: 'find_node', extra, onDone: () => resolve() })))).then(() => undefined);
  }

  /** Sends find_node(our id) to each address; the nodes they return seed the first lookup. */
  #contact(addrs: readonly Address[], family: Family, learned: NodeInfo[]): Promise<void> {
    return new Promise((resolve) => {
      let left = addrs.length;
      if (left === 0) return resolve();
      for (const a of addrs) {
        this.#query(a, family, 'find_node', { target: this.#id }, (o) => {
          if (o.ok) learned.push(...((family === 4 ? o.response.nodes : o.response.nodes6) ?? []).slice(0, this.#k * 2));
          if (--left === 0) resolve();
        });
      }
    });
  }

  async #resolveBootstrap(family: Family): Promise<Address[]> {
    const out: Address[] = [];
    await Promise.all(
      this.#bootstrapNodes.map(async ({ host, port }) => {
        const literal = familyOf(host);
        if (literal !== undefined) {
          if (literal === family) out.push({ host, port });
          return;
        }
        try {
          for (const ip of await this.#resolve(host, family)) if (familyOf(ip) === family) out.push({ host: ip, port });
        } catch (e) {
          this.emit('warning', `cannot resolve DHT bootstrap node ${host}: ${(e as Error).message}`);
        }
      }),
    );
    return out;
  }

  #scheduleTick(): void {
    if (this.#closed) return;
    this.#tick = this.#clock.setTimeout(() => {
      this.#housekeeping();
      this.#scheduleTick();
    }, this.#tickMs);
  }

  /** Expires stored peers, refreshes buckets unchanged for 15 min, pings questionable nodes, re-bootstraps an empty table. */
  #housekeeping(): void {
    const now = this.#clock.now();
    this.#store.expire(now);
    for (const [family, table] of this.#tables) {
      if (table.size === 0 && this.#ready) {
        void this.#bootstrap(family);
        continue;
      }
      for (const target of table.staleBuckets(now - QUESTIONABLE_AFTER_MS).slice(0, REFRESHES_PER_TICK)) {
        table.touchBucket(target, now);
        this.#lookup({ target, family, method: 'find_node', extra: [], onDone: () => undefined });
      }
      for (const n of table.questionable(now).slice(0, PINGS_PER_TICK)) this.#check(n, family, 1);
    }
  }

  #vote(voter: string, address: string): void {
    const winner = this.#voter.vote(voter, address);
    if (winner === undefined) return;
    this.emit('external-address', winner);
    if (this.#bep42 && !this.#idFixed && !isBep42Exempt(winner) && !isValidBep42Id(this.#id, winner)) this.#changeId(bep42Id(winner));
  }

  /** Takes a new id (BEP 42): the tables are rebuilt around it, and we look ourselves up again. */
  #changeId(id: Uint8Array): void {
    const old = this.#tables;
    this.#id = id;
    this.#tables = this.#makeTables(id);
    for (const [family, table] of old) {
      const fresh = this.#tables.get(family)!;
      for (const n of table.nodes()) {
        fresh.heardFrom(n, n.lastReply);
        const entry = fresh.get(n);
        if (entry) Object.assign(entry, { lastQuery: n.lastQuery, failures: n.failures });
      }
      this.#lookup({ target: id, family, method: 'find_node', extra: [], onDone: () => undefined });
    }
    this.emit('id', Uint8Array.from(id));
  }

  #makeTables(id: Uint8Array): Map<Family, RoutingTable> {
    const public_ = (host: string): boolean => !isBep42Exempt(host);
    const admit = (n: NodeInfo): boolean => !this.#bep42 || isBep42Exempt(n.host) || isValidBep42Id(n.id, n.host);
    const now = this.#clock.now();
    return new Map(this.#families.map((f) => [f, new RoutingTable({ id, k: this.#k, admit, onePerHost: this.#onePerIp ? public_ : () => false }, now)]));
  }
}

function positive(name: string, v: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new DhtError('BAD_OPTION', `${name} must be a positive number, got ${String(v)}`);
  return v;
}

function checkHash(v: Uint8Array, what: string): void {
  if (!(v instanceof Uint8Array) || v.length !== ID_BYTES) throw new DhtError('BAD_ARGUMENT', `${what} must be 20 bytes`);
}

/** `host:port`, `[v6]:port`. */
export function parseHostPort(text: string): HostPort {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]\s]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port > 0 && port <= 65535) || (text.startsWith('[') && familyOf(m[1]!) !== 6)) {
    throw new DhtError('BAD_OPTION', `bootstrap node must be host:port (or [ipv6]:port), got ${JSON.stringify(text)}`);
  }
  return { host: m[1]!, port };
}

async function defaultResolve(host: string, family: Family): Promise<string[]> {
  return (await dnsLookup(host, { all: true, family })).map((a) => a.address);
}

/** Reads a saved node table; a file that is not one is an error (the owner decides to start afresh). */
export function parseState(bytes: Uint8Array): { id: Uint8Array; nodes: Address[]; nodes6: Address[] } {
  let root;
  try {
    root = decode(bytes, { strict: false, maxDepth: 4 });
  } catch (e) {
    throw new DhtError('BAD_STATE', `DHT state is not bencoded: ${(e as Error).message}`);
  }
  if (!isDict(root)) throw new DhtError('BAD_STATE', 'DHT state is not a dictionary');
  const id = root.get('id');
  if (!isBytes(id) || id.length !== ID_BYTES) throw new DhtError('BAD_STATE', 'DHT state has no 20-byte id');
  const list = (key: string, family: Family): Address[] => {
    const v = root.get(key);
    if (v === undefined) return [];
    if (!isBytes(v) || v.length % peerBytes(family) !== 0) throw new DhtError('BAD_STATE', `DHT state: bad ${key}`);
    return decodeAddresses(v, family)
      .filter((a) => a.port > 0)
      .map(({ host, port }) => ({ host, port }));
  };
  return { id: Uint8Array.from(id), nodes: list('nodes', 4), nodes6: list('nodes6', 6) };
}
