import { join } from 'node:path';
import { DEFAULT_BOOTSTRAP, DhtError, DhtNode, type DhtOptions, type DhtStats, type PeerSearch } from '@mainline/dht';
import type { DhtWire } from '@mainline/connecter';
import { isDhtDatagram, type DatagramRoute, type UdpEndpoint } from '@mainline/rawserver';
import type { Clock, TimerHandle } from '@mainline/rate';
import { OnOff } from './on-off.js';
import { readFileIfExists, writeFileAtomic } from './atomic-file.js';

/** The DHT node's own settings a session passes through (timeouts, sizes, limits). */
export type DhtNodeTuning = Partial<Omit<DhtOptions, 'socket' | 'clock' | 'state' | 'bootstrap' | 'bep42' | 'id'>>;

/** How the session runs the mainline DHT (BEP 5). */
export interface SessionDhtOptions {
  /** Whether it runs from the start (default true; false: these settings wait for setDht(true)). */
  enabled?: boolean;
  /** Bootstrap nodes as `host:port` (default the public routers, DEFAULT_BOOTSTRAP of @mainline/dht). Tests give their own. */
  bootstrap?: readonly string[];
  /**
   * Where the node table is kept (`dht.dat`: id and good nodes, as Transmission's), read at start
   * so a restart needs no bootstrap node (default the session's stateDir; none: not kept).
   */
  stateDir?: string;
  /** BEP 42: keep nodes whose id does not fit their public IP out of the table (default true; local addresses are exempt). */
  bep42?: boolean;
  /** A torrent with enough peers searches again after this long (default 15 min, libtorrent's). */
  announceIntervalMs?: number;
  /** A torrent short of peers searches again after this, doubling each time up to announceIntervalMs (default 30 s). */
  retryMinMs?: number;
  /** The node table is saved this often while running (default 10 min), and when the DHT stops. */
  saveIntervalMs?: number;
  /** Our node id (default: the saved one, else BEP 42 / random). */
  id?: Uint8Array;
  /** The node's own tuning (timeouts, K, alpha, rate limits...). */
  node?: DhtNodeTuning;
}

/** What a torrent registers with the DHT. */
export interface DhtTorrent {
  /** Peers found for it (by a search, or announced to our node). */
  onPeers(peers: { ip: string; port: number }[]): void;
  /** Whether it wants more peers now: then it searches again sooner (with backoff). */
  shortOfPeers(): boolean;
}

/**
 * Where running torrents and magnets register: searched and announced while registered (and the
 * DHT is on; those registered while it is off search once it is switched on).
 */
export interface DhtRegistry {
  /** Registers `torrent` for `infoHash` (40 hex digits), in place of any registered before. */
  add(infoHash: string, torrent: DhtTorrent): void;
  /** Unregisters it; nothing when another torrent took its place since. */
  remove(infoHash: string, torrent: DhtTorrent): void;
}

/** What `Session.dhtStatus()` says. */
export interface DhtStatus {
  /** On (SessionOptions.dht, setDht). */
  enabled: boolean;
  /** The node runs on the session's UDP port. */
  running: boolean;
  /** Good + questionable nodes in the routing table (0 when not running). */
  nodes: number;
  /** Torrents and magnets registered for searches. */
  torrents: number;
  /** Searches (get_peers + announce_peer) finished, peers they found, nodes that took our announce: since the session started. */
  searches: number;
  peersFound: number;
  announces: number;
  /** Where the node table is kept, if anywhere. */
  stateFile: string | undefined;
  /** Why it is not running although enabled. */
  error: string | undefined;
  /** The latest warnings (unresolvable bootstrap host, unreadable state...), at most 10. */
  warnings: string[];
  stats: DhtStats | undefined;
}

interface Registered {
  /** Its info-hash in lower-case hex (the table's key, not a copy). */
  readonly key: string;
  readonly torrent: DhtTorrent;
  timer: TimerHandle | undefined;
  search: PeerSearch | undefined;
  /** The wait after the last search when short of peers (doubles up to the interval). */
  backoffMs: number;
}

const STATE_FILE = 'dht.dat';
const MAX_WARNINGS = 10;
const DEFAULT_ANNOUNCE_INTERVAL_MS = 15 * 60_000;
const DEFAULT_RETRY_MIN_MS = 30_000;
const DEFAULT_SAVE_INTERVAL_MS = 10 * 60_000;

/**
 * The session's DHT: one DhtNode on the session's UDP endpoint (it takes the datagrams that start
 * with `d`), the registry where every running non-private torrent and magnet searches for peers
 * (get_peers, then announce_peer with our port) on start and again every 15 min, sooner while short
 * of peers; the BEP 5 wire hook (DHT bit, `port` messages feed the table); the node table kept in
 * the state directory. Can be switched on and off while the session runs (the daemon's
 * `dht-enabled`): torrents stay registered across the switch.
 */
export class SessionDht {
  readonly registry: DhtRegistry;
  /** For the WireHub: our DHT port while the node runs; ports peers tell us are pinged. */
  readonly wire: DhtWire;
  readonly #options: SessionDhtOptions;
  readonly #clock: Clock;
  readonly #stateFile: string | undefined;
  readonly #torrents = new Map<string, Registered>();
  readonly #warnings: string[] = [];
  readonly #announceIntervalMs: number;
  readonly #retryMinMs: number;
  readonly #saveIntervalMs: number;
  #endpoint: UdpEndpoint | undefined;
  #tcpPort = 0;
  #node: DhtNode | undefined;
  #route: DatagramRoute | undefined;
  #saveTimer: TimerHandle | undefined;
  #error: string | undefined;
  readonly #count = { searches: 0, peersFound: 0, announces: 0 };
  readonly #switch: OnOff;

  /** @throws DhtError BAD_OPTION for a malformed bootstrap entry or interval */
  constructor(options: { enabled: boolean; options: SessionDhtOptions; clock: Clock; stateDir: string | undefined }) {
    this.#switch = new OnOff(options.enabled, () => this.#start(), () => this.#stop());
    this.#options = options.options;
    this.#clock = options.clock;
    const stateDir = this.#options.stateDir ?? options.stateDir;
    this.#stateFile = stateDir ? join(stateDir, STATE_FILE) : undefined;
    this.#announceIntervalMs = positive('announceIntervalMs', this.#options.announceIntervalMs ?? DEFAULT_ANNOUNCE_INTERVAL_MS);
    this.#retryMinMs = positive('retryMinMs', this.#options.retryMinMs ?? DEFAULT_RETRY_MIN_MS);
    this.#saveIntervalMs = positive('saveIntervalMs', this.#options.saveIntervalMs ?? DEFAULT_SAVE_INTERVAL_MS);
    // Every setting is checked now, not when the DHT first starts: a node that never runs (no socket, no timers) says what is wrong.
    new DhtNode(this.#nodeOptions({ send: () => undefined })).close();
    this.registry = { add: (infoHash, torrent) => this.#add(infoHash, torrent), remove: (infoHash, torrent) => this.#remove(infoHash, torrent) };
    this.wire = {
      port: () => (this.#node ? this.#route?.port : undefined),
      onPort: (address, port) => this.#node?.addNode({ host: address, port }),
    };
  }

  get enabled(): boolean {
    return this.#switch.enabled;
  }

  /** The running node (for tests and status displays). */
  get node(): DhtNode | undefined {
    return this.#node;
  }

  status(): DhtStatus {
    const node = this.#node;
    return {
      enabled: this.#switch.enabled,
      running: node !== undefined,
      nodes: node?.nodeCount ?? 0,
      torrents: this.#torrents.size,
      ...this.#count,
      stateFile: this.#stateFile,
      error: this.#error,
      warnings: [...this.#warnings],
      stats: node?.stats(),
    };
  }

  /** The session listens now (TCP on `port`, UDP on `endpoint` if it has one): start if enabled. */
  listening(port: number, endpoint: UdpEndpoint | undefined): Promise<void> {
    this.#tcpPort = port;
    this.#endpoint = endpoint;
    return this.set(this.#switch.enabled);
  }

  /**
   * The session's port moved (the endpoint was rebound there): searches announce the new TCP
   * port; running searches start again so the nodes hear it at once.
   */
  moved(port: number): void {
    this.#tcpPort = port;
    for (const entry of this.#torrents.values()) {
      this.#unschedule(entry);
      if (this.#node) this.#schedule(entry, 0);
    }
  }

  /** Switches the DHT on or off; resolves when the node runs (its bootstrap goes on behind) or has stopped and saved its table. */
  set(enabled: boolean): Promise<void> {
    return this.#switch.set(enabled);
  }

  close(): Promise<void> {
    return this.#switch.close();
  }

  #add(infoHash: string, torrent: DhtTorrent): void {
    const key = infoHash.toLowerCase();
    if (!/^[0-9a-f]{40}$/.test(key)) throw new DhtError('BAD_ARGUMENT', `info-hash must be 40 hex digits, got ${JSON.stringify(infoHash)}`);
    this.#unschedule(this.#torrents.get(key));
    const entry: Registered = { key, torrent, timer: undefined, search: undefined, backoffMs: this.#retryMinMs };
    this.#torrents.set(key, entry);
    if (this.#node) this.#schedule(entry, 0);
  }

  #remove(infoHash: string, torrent: DhtTorrent): void {
    const key = infoHash.toLowerCase();
    const entry = this.#torrents.get(key);
    if (entry?.torrent !== torrent) return;
    this.#torrents.delete(key);
    this.#unschedule(entry);
  }

  #schedule(entry: Registered, ms: number): void {
    if (entry.timer) this.#clock.clearTimeout(entry.timer);
    entry.timer = this.#clock.setTimeout(() => {
      entry.timer = undefined;
      this.#search(entry);
    }, ms);
  }

  #unschedule(entry: Registered | undefined): void {
    if (!entry) return;
    if (entry.timer) this.#clock.clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.search?.cancel();
    entry.search = undefined;
  }

  /** get_peers, then announce_peer to the closest nodes; peers go to the torrent as they come. */
  #search(entry: Registered): void {
    const node = this.#node;
    const port = this.#route?.port;
    if (!node || port === undefined || entry.search) return;
    // One port number for TCP and UDP: implied_port says so and survives a NAT that keeps the port.
    const search = node.getPeers(Buffer.from(entry.key, 'hex'), { announce: port === this.#tcpPort ? 'implied' : this.#tcpPort });
    entry.search = search;
    void (async () => {
      for await (const p of search) {
        this.#count.peersFound++;
        entry.torrent.onPeers([{ ip: p.host, port: p.port }]);
      }
    })().catch((e: unknown) => this.#warn(`DHT search: ${(e as Error).message}`));
    void search.done.then((result) => {
      this.#count.searches++;
      this.#count.announces += result.announced;
      if (entry.search !== search) return; // cancelled: unregistered, or the DHT stopped
      entry.search = undefined;
      if (this.#torrents.get(entry.key) !== entry || !this.#node) return;
      if (entry.torrent.shortOfPeers()) {
        this.#schedule(entry, entry.backoffMs);
        entry.backoffMs = Math.min(entry.backoffMs * 2, this.#announceIntervalMs);
      } else {
        entry.backoffMs = this.#retryMinMs;
        this.#schedule(entry, this.#announceIntervalMs);
      }
    });
  }

  #nodeOptions(socket: DhtOptions['socket']): DhtOptions {
    const o = this.#options;
    return { ...o.node, socket, clock: this.#clock, bootstrap: o.bootstrap ?? DEFAULT_BOOTSTRAP, bep42: o.bep42 ?? true, ...(o.id ? { id: o.id } : {}) };
  }

  async #start(): Promise<void> {
    if (this.#node || this.#tcpPort === 0) return;
    this.#error = undefined;
    const endpoint = this.#endpoint;
    if (!endpoint?.bound) {
      this.#error = 'the session has no UDP endpoint (SessionOptions.udp is off): the DHT cannot run';
      return;
    }
    const state = await this.#loadState();
    const ref: { node?: DhtNode } = {};
    const route = endpoint.register({
      name: 'dht',
      claims: isDhtDatagram,
      onMessage: (data, from) => ref.node?.receive(data, from),
      onError: () => undefined, // ICMP noise and sends to vanished nodes: the DHT copes
    });
    const base = this.#nodeOptions({ send: (data, port, host) => route.send(data, port, host, () => undefined), localPort: route.port ?? 0 });
    let node: DhtNode;
    try {
      node = new DhtNode(state ? { ...base, state } : base);
    } catch (err) {
      if (!(err instanceof DhtError) || err.code !== 'BAD_STATE') {
        route.close();
        this.#error = (err as Error).message;
        return;
      }
      this.#warn(`${this.#stateFile}: ${err.message}; starting with an empty table`);
      node = new DhtNode(base);
    }
    node.on('warning', (m) => this.#warn(m));
    node.on('announce', (hash, peer) => this.#torrents.get(toHex(hash))?.torrent.onPeers([{ ip: peer.host, port: peer.port }]));
    ref.node = node;
    this.#node = node;
    this.#route = route;
    void node.start().catch(() => undefined);
    for (const entry of this.#torrents.values()) this.#schedule(entry, 0);
    this.#scheduleSave();
  }

  async #stop(): Promise<void> {
    const node = this.#node;
    if (!node) return;
    this.#node = undefined;
    for (const entry of this.#torrents.values()) {
      this.#unschedule(entry);
      entry.backoffMs = this.#retryMinMs;
    }
    if (this.#saveTimer) this.#clock.clearTimeout(this.#saveTimer);
    this.#saveTimer = undefined;
    const state = node.saveState();
    node.close();
    this.#route?.close();
    this.#route = undefined;
    await this.#writeState(state);
  }

  #scheduleSave(): void {
    if (!this.#stateFile) return;
    this.#saveTimer = this.#clock.setTimeout(() => {
      const node = this.#node;
      if (!node) return;
      void this.#writeState(node.saveState());
      this.#scheduleSave();
    }, this.#saveIntervalMs);
  }

  async #loadState(): Promise<Uint8Array | undefined> {
    if (!this.#stateFile) return undefined;
    try {
      return await readFileIfExists(this.#stateFile);
    } catch (err) {
      this.#warn(`cannot read ${this.#stateFile}: ${(err as Error).message}`);
      return undefined;
    }
  }

  async #writeState(state: Uint8Array): Promise<void> {
    if (!this.#stateFile) return;
    await writeFileAtomic(this.#stateFile, state).catch((err: unknown) => this.#warn(`cannot save ${this.#stateFile}: ${(err as Error).message}`));
  }

  #warn(message: string): void {
    this.#warnings.push(message);
    if (this.#warnings.length > MAX_WARNINGS) this.#warnings.shift();
  }
}

const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0) throw new DhtError('BAD_OPTION', `dht.${name} must be a positive number of ms, got ${String(v)}`);
  return v;
}

/** Connected peers below which a downloading torrent searches the DHT sooner (with backoff). */
export const DHT_ENOUGH_PEERS = 10;

/** A running torrent's DhtTorrent.shortOfPeers: not finished, and fewer than DHT_ENOUGH_PEERS connected. */
export function swarmShortOfPeers(swarm: { readonly finished: boolean; readonly peers: { readonly size: number } }): boolean {
  return !swarm.finished && swarm.peers.size < DHT_ENOUGH_PEERS;
}
