import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { WireHub, type WireLogEvent } from '@mainline/connecter';
import { parseMagnet, parseTorrent, type MagnetLink, type Metainfo } from '@mainline/metainfo';
import { RawServerError, UdpEndpoint, type Transport } from '@mainline/rawserver';
import { TimerQueue, TokenBucket, systemClock, type Clock, type RateLimit } from '@mainline/rate';
import { DEFAULT_TRACKER_REQUESTS, RequestGate, UdpTrackerClient, type AnnouncerOptions } from '@mainline/rerequester';
import { createPieceHasher, type DeleteDataResult, type HashPool } from '@mainline/storage';
import { AddressFilter } from './address-filter.js';
import { SessionDht, type DhtRegistry, type DhtStatus, type SessionDhtOptions } from './dht.js';
import { SessionLsd, type LsdRegistry, type LsdStatus, type SessionLsdOptions } from './local-discovery.js';
import { MagnetDownload, type MagnetOptions } from './magnet.js';
import type { PeerListOptions } from './peer-list.js';
import { makePeerId } from './peer-id.js';
import { Torrent, type TorrentEvent, type TorrentHost, type TorrentOptions } from './torrent.js';
import { makeWarning, type TorrentWarning } from './warning.js';

const SHARED_READ_BUFFER_BYTES = 256 * 1024;

/** The session's tracker gate: `limit` requests at once (a positive integer). */
function trackerGate(limit = DEFAULT_TRACKER_REQUESTS, clock: Clock): RequestGate {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`maxTrackerRequests must be a positive integer, got ${String(limit)}`);
  return new RequestGate({ limit, clock });
}

export interface SessionOptions {
  /** Listen on the first free port of this range (seed: 6881–6999). */
  portRange?: [number, number];
  /** Local address to listen on and dial from ('' = all). */
  bind?: string;
  peerId?: Uint8Array;
  /** Global limits in bytes/s (0 = unlimited; 'none': no piece data moves that way). */
  uploadLimit?: RateLimit;
  downloadLimit?: RateLimit;
  /** Most open connections in the session (seed: max_allow_in 55 per torrent; here global). */
  maxConnections?: number;
  /** Idle timeout for peer sockets (seed 300 s). */
  timeoutMs?: number;
  /** Directory for resume records (`<infohash>.resume`); none = always recheck on start. */
  stateDir?: string;
  clock?: Clock;
  /** Tracker client settings passed to every torrent's announcer (intervals, timeouts). */
  announcer?: Partial<AnnouncerOptions>;
  /**
   * Most tracker requests (announces and scrapes, HTTP and UDP) in flight at once across the
   * session (default 20, as many as Transmission starts per upkeep); the others wait their turn,
   * first come first served. A `stopped` announce never waits. A request unanswered after 5 s
   * stops counting, so a dead tracker cannot hold the others up. Not with `announcer.gate` (a
   * gate of one's own, e.g. shared by sessions).
   */
  maxTrackerRequests?: number;
  /** Told about peers dropped for protocol violations. */
  log?: (event: WireLogEvent) => void;
  /** Every torrent's peer list: size (3000), backoff (15 s doubling to 30 min), failures before giving up (5). */
  peerList?: Omit<PeerListOptions, 'clock' | 'filter'>;
  /** Dial peers on ports below 1024 too (default false; peers the user names are dialled on any port). */
  allowPrivilegedPorts?: boolean;
  /**
   * Local service discovery (BEP 14): finds peers of our torrents on the local network by
   * multicast. Off unless asked for (`true`, or an object that sets its interfaces and limits): a
   * library does not multicast on its own; the CLI turns it on unless `--no-lsd`. Private
   * torrents are never announced, and announces of them are ignored.
   */
  lsd?: boolean | SessionLsdOptions;
  /** Peer exchange (BEP 11) with the peers of non-private torrents (default on, as libtorrent and Transmission); `setPex` switches it. */
  pex?: boolean;
  /**
   * The mainline DHT (BEP 5) on the session's UDP endpoint: every running non-private torrent and
   * magnet searches it for peers and announces itself there. Off unless asked for (`true`, or an
   * object with its bootstrap nodes, state directory, BEP 42 setting): a library does not talk to
   * the public DHT on its own, and tests give their own loopback bootstrap nodes; the CLI turns it
   * on unless `--no-dht`. Needs the UDP endpoint (`udp`). `{ enabled: false, ... }` keeps the
   * settings for a later setDht(true).
   */
  dht?: boolean | SessionDhtOptions;
  /**
   * How peers are reached (default: TCP on `bind` and the port range). Tests give in-memory
   * transports (`MemoryNetwork` of `@mainline/rawserver`) to run sessions without the network;
   * uTP will be one more. Their clock must be the session's.
   */
  transports?: readonly Transport[];
  /**
   * Bind one UDP endpoint on the listen port (same number as TCP), for the UDP trackers now and
   * the DHT and uTP later (default: true with the default TCP transport, false with `transports`).
   */
  udp?: boolean;
}

export interface SessionEvents {
  'torrent-added': [torrent: Torrent];
  'torrent-removed': [torrent: Torrent];
  /** A magnet link started fetching its metadata (its torrent is 'torrent-added' later). */
  'magnet-added': [download: MagnetDownload];
  /** Once a second while listening: the one timer a host (the daemon) hangs its periodic work on. */
  tick: [];
  /** A torrent or magnet of the session had a trouble that did not stop it (see TorrentWarning). */
  warning: [warning: TorrentWarning];
  /**
   * Every event of every torrent of the session (the torrent, the event's name, its arguments),
   * after the torrent's own listeners: one listener here follows them all, with no listener (and
   * no closure) on each torrent. A torrent's `error` event fires only when the torrent itself has
   * a listener for it; its `state` event with 'error' always does (the cause in `torrent.error`).
   */
  'torrent-event': [torrent: Torrent, ...event: TorrentEvent];
}

/**
 * A BitTorrent session: one peer id, one listening port and many torrents, with global rate
 * limits. Each torrent is wired as mainline's download.py wires one download.
 */
export class Session extends EventEmitter<SessionEvents> implements TorrentHost {
  readonly hub: WireHub;
  readonly peerId: Uint8Array;
  readonly clock: Clock;
  readonly uploadLimiter: TokenBucket;
  readonly downloadLimiter: TokenBucket;

  /** The addresses no torrent of this session dials (unspecified, multicast, privileged ports, ourselves). */
  readonly addressFilter: AddressFilter;
  readonly peerList: Omit<PeerListOptions, 'clock' | 'filter'> | undefined;
  /**
   * The threads that hash and write received pieces, shared by all torrents: a daemon with ten
   * downloads runs one or two of them, not ten or twenty (each is a JS engine of its own).
   */
  readonly pieceHasher: HashPool = createPieceHasher();
  /**
   * The torrents' announcers set their timers here: one timer of `clock` for the earliest of them,
   * so idle torrents with trackers cost no timer each (their re-announces wait in one heap).
   */
  readonly timers: TimerQueue;
  /** Where running torrents register for local service discovery (whether it is on or not). */
  readonly lsd: LsdRegistry;
  #pex: boolean;
  readonly #lsd: SessionLsd;
  /** Where running torrents register for DHT searches (whether it is on or not). */
  readonly dht: DhtRegistry;
  readonly #dht: SessionDht;
  readonly #options: SessionOptions;
  #udp: UdpEndpoint | undefined;
  #udpTrackers: UdpTrackerClient | undefined;
  /** Every announce and scrape of the session waits here for one of maxTrackerRequests slots. */
  readonly trackerGate: RequestGate;
  /** announcer's answer, made once per UDP tracker client: every announcer then shares its objects. */
  #announcerOptions: { for: UdpTrackerClient | undefined; options: Partial<AnnouncerOptions> } | undefined;
  readonly #torrents = new Map<string, Torrent>();
  readonly #magnets = new Map<string, MagnetDownload>();
  #port = 0;
  #closed = false;
  #ticker: ReturnType<Clock['setTimeout']> | undefined;

  constructor(options: SessionOptions = {}) {
    super();
    this.#options = options;
    this.clock = options.clock ?? systemClock;
    this.timers = new TimerQueue(this.clock);
    this.trackerGate = options.announcer?.gate ?? trackerGate(options.maxTrackerRequests, this.timers);
    if (options.announcer?.gate && options.maxTrackerRequests !== undefined) throw new Error('maxTrackerRequests: the announcer option gives a gate of its own (announcer.gate); set its limit there');
    this.peerId = options.peerId ?? makePeerId();
    this.peerList = options.peerList;
    this.addressFilter = new AddressFilter({ allowPrivilegedPorts: options.allowPrivilegedPorts ?? false });
    this.#pex = options.pex !== false;
    this.#lsd = new SessionLsd({
      enabled: options.lsd !== undefined && options.lsd !== false,
      options: typeof options.lsd === 'object' ? options.lsd : {},
      clock: this.clock,
      bind: options.bind ?? '',
    });
    this.lsd = this.#lsd.registry;
    this.#dht = new SessionDht({
      enabled: options.dht === true || (typeof options.dht === 'object' && options.dht.enabled !== false),
      options: typeof options.dht === 'object' ? options.dht : {},
      clock: this.clock,
      stateDir: options.stateDir,
    });
    this.dht = this.#dht.registry;
    if (this.#dht.enabled && (options.udp === false || (options.transports !== undefined && options.udp !== true))) {
      throw new Error('dht: the DHT needs the session\'s UDP endpoint, and udp is off');
    }
    this.uploadLimiter = new TokenBucket({ clock: this.clock });
    this.uploadLimiter.setLimit(options.uploadLimit ?? 0);
    this.downloadLimiter = new TokenBucket({ clock: this.clock });
    this.downloadLimiter.setLimit(options.downloadLimit ?? 0);
    const tcp = options.transports === undefined;
    this.hub = new WireHub({
      peerId: this.peerId,
      clock: this.clock,
      ...(options.transports ? { transports: options.transports } : {}),
      rawServer: {
        // Limits of every transport's connections.
        ...(options.maxConnections !== undefined ? { maxAllowIn: options.maxConnections } : {}),
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        // The default TCP transport: outgoing peers' data arrives in one reused buffer (fewer
        // reads, no garbage per read).
        ...(tcp ? { sharedReadBufferSize: SHARED_READ_BUFFER_BYTES } : {}),
        ...(tcp && options.bind ? { bind: options.bind } : {}),
      },
      ...(options.log ? { log: options.log } : {}),
      dht: this.#dht.wire,
    });
  }

  /**
   * Tracker client settings for every torrent: the `announcer` option, with the session's
   * tracker gate, and its UDP tracker client (on its UDP endpoint) once listening.
   */
  get announcer(): Partial<AnnouncerOptions> {
    const client = this.#udpTrackers;
    const made = this.#announcerOptions;
    if (made && made.for === client) return made.options;
    const o = { ...this.#options.announcer, gate: this.trackerGate };
    const withUdp = client ? { ...o, udp: { ...o.udp, client } } : o;
    // HTTP announces leave from the bind address too (UDP ones already do: the endpoint is bound
    // there), so a tracker records the address we listen on.
    const bind = this.#options.bind;
    const options = !bind || bind === '0.0.0.0' || bind === '::' || withUdp.http?.localAddress !== undefined ? withUdp : { ...withUdp, http: { ...withUdp.http, localAddress: bind } };
    this.#announcerOptions = { for: client, options };
    return options;
  }

  /** The session's UDP endpoint on the listen port (after listen(), unless `udp` is off): register DHT and uTP owners here. */
  get udp(): UdpEndpoint | undefined {
    return this.#udp;
  }

  /** The listening port (0 before listen()). */
  get port(): number {
    return this.#port;
  }

  /**
   * Binds the first port of the range that is free for TCP (every transport) and, unless `udp`
   * is off, for the UDP endpoint too: one port number for peers, trackers, the DHT and uTP. Then
   * opens the LSD sockets (if on; see lsdStatus()).
   */
  async listen(): Promise<number> {
    const [first, last] = this.#options.portRange ?? [6881, 6999];
    const udp = this.#options.udp ?? this.#options.transports === undefined;
    this.#port = udp ? await this.#listenWithUdp(first, last) : (await this.hub.listen({ minPort: first, maxPort: last })).port;
    this.addressFilter.listening(this.#port, this.#options.bind ?? '');
    this.#tick();
    await this.#lsd.listening(this.#port);
    await this.#dht.listening(this.#port, this.#udp);
    return this.#port;
  }

  /**
   * Moves the peer port while running (Transmission's peer-port): TCP and the UDP endpoint (UDP
   * trackers, the DHT) go to `port` together, every connection stays open, and the trackers,
   * the DHT and LSD hear the new port at once. A port that cannot be had for both leaves
   * everything on the old one.
   * @throws RawServerError NO_FREE_PORT when `port` is taken; Error before listen() or after close()
   */
  async setPort(port: number): Promise<number> {
    if (this.#closed) throw new Error('session is closed');
    if (this.#port === 0) throw new Error('the session is not listening yet');
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port must be an integer in 1..65535, got ${String(port)}`);
    if (port === this.#port) return port;
    const old = this.#port;
    const udp = this.#udp;
    const hosts = this.#options.bind ? [this.#options.bind] : undefined;
    // UDP first (its move is cheap to undo), then TCP on the same number.
    if (udp) await udp.rebind({ port, ...(hosts ? { hosts } : {}) });
    try {
      await this.hub.relisten({ minPort: port, maxPort: port });
    } catch (err) {
      if (udp) await udp.rebind({ port: old, ...(hosts ? { hosts } : {}) }).catch(() => undefined);
      throw err;
    }
    this.#port = port;
    this.addressFilter.listening(port, this.#options.bind ?? '');
    for (const t of this.#torrents.values()) t.portChanged(port);
    for (const m of this.#magnets.values()) m.portChanged(port);
    this.#dht.moved(port);
    await this.#lsd.moved(port);
    return port;
  }

  /** The most open connections in the session (`maxConnections`; every transport, both ways). */
  get maxConnections(): number {
    return this.hub.gate.maxAllowIn;
  }

  /**
   * Changes `maxConnections` while running (Transmission's peer-limit-global): lowered below the
   * connections open, the least useful are closed at once (WireHub.setMaxConnections); torrents
   * dial no further than the cap, and incoming connections over it are refused. Returns how many
   * connections were closed.
   */
  setMaxConnections(max: number): number {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxConnections must be a positive integer, got ${String(max)}`);
    return this.hub.setMaxConnections(max);
  }

  /** Whether the DHT is on and running, its table size and counters. */
  dhtStatus(): DhtStatus {
    return this.#dht.status();
  }

  /**
   * Switches the DHT on or off while the session runs: the node starts on the session's UDP port
   * (from its saved table, else the bootstrap nodes) and the running torrents search it, or the
   * node stops and its table is saved.
   */
  async setDht(enabled: boolean): Promise<void> {
    if (this.#closed) throw new Error('session is closed');
    if (enabled && this.#port !== 0 && !this.#udp) throw new Error('dht: the DHT needs the session\'s UDP endpoint, and udp is off');
    await this.#dht.set(enabled);
  }

  /** Whether local service discovery is on and running, where, and its counters. */
  lsdStatus(): LsdStatus {
    return this.#lsd.status();
  }

  /**
   * Switches local service discovery on or off while the session runs: its sockets open or close,
   * and the running torrents are announced (again) or no longer.
   */
  /** Whether peer exchange runs (TorrentHost). */
  get pexEnabled(): boolean {
    return this.#pex;
  }

  /**
   * Switches peer exchange: at once for running torrents (nothing is sent or taken while off),
   * and torrents started while it is off do not offer ut_pex at all.
   */
  setPex(enabled: boolean): void {
    this.#pex = enabled;
  }

  async setLsd(enabled: boolean): Promise<void> {
    if (this.#closed) throw new Error('session is closed');
    await this.#lsd.set(enabled);
  }

  /** UDP first (its bind is cheap to undo), then TCP on the same port; a port taken by either moves on. */
  async #listenWithUdp(first: number, last: number): Promise<number> {
    const hosts = this.#options.bind ? [this.#options.bind] : undefined;
    const attempts = first === 0 ? 5 : last - first + 1;
    let taken: unknown;
    for (let i = 0; i < attempts; i++) {
      const endpoint = new UdpEndpoint();
      try {
        const port = await endpoint.bind({ port: first === 0 ? 0 : first + i, ...(hosts ? { hosts } : {}) });
        await this.hub.listen({ minPort: port, maxPort: port });
        this.#udp = endpoint;
        this.#udpTrackers = new UdpTrackerClient(endpoint);
        return port;
      } catch (err) {
        await endpoint.close();
        if (!(err instanceof RawServerError) || err.code !== 'NO_FREE_PORT') throw err;
        taken = err;
      }
    }
    throw new RawServerError('NO_FREE_PORT', `Couldn't listen - no port in ${first}-${last} free for both TCP and UDP`, { cause: taken });
  }

  #tick(): void {
    this.#ticker = this.clock.setTimeout(() => {
      for (const t of this.#torrents.values()) t.checkSeedLimits();
      if (this.#closed) return;
      this.#tick();
      this.emit('tick');
    }, 1000);
  }

  /** TorrentHost: each torrent's events reach the session here (its warnings become the session's). */
  torrentEvent(torrent: Torrent, ...event: TorrentEvent): void {
    if (event[0] === 'warning') this.emit('warning', event[1]);
    if (this.listenerCount('torrent-event') > 0) this.emit('torrent-event', torrent, ...event);
  }

  get torrents(): Torrent[] {
    return [...this.#torrents.values()];
  }

  get(infoHash: string): Torrent | undefined {
    return this.#torrents.get(infoHash.toLowerCase());
  }

  /** Adds a torrent (from .torrent bytes or parsed metainfo) and starts it unless `paused`. */
  async add(torrent: Uint8Array | Metainfo, options: TorrentOptions): Promise<Torrent> {
    const meta = torrent instanceof Uint8Array ? parseTorrent(torrent) : torrent;
    if (this.#magnets.has(meta.infoHash)) throw new Error(`torrent ${meta.infoHash} is already in the session (fetching its metadata)`);
    return this.#add(meta, options);
  }

  async #add(meta: Metainfo, options: TorrentOptions): Promise<Torrent> {
    if (this.#closed) throw new Error('session is closed');
    if (this.#torrents.has(meta.infoHash)) throw new Error(`torrent ${meta.infoHash} (${meta.name}) is already in the session`);
    const resumeFile = options.resumeFile ?? (this.#options.stateDir ? join(this.#options.stateDir, `${meta.infoHash}.resume`) : undefined);
    const t = new Torrent(meta, this, { ...options, ...(resumeFile ? { resumeFile } : {}) });
    this.#torrents.set(meta.infoHash, t);
    this.emit('torrent-added', t);
    await t.start();
    return t;
  }

  /**
   * Adds a magnet link: fetches the metadata from peers (BEP 9) found through the link's trackers,
   * its `x.pe` peers and `options.peers`, saves it as `<stateDir>/<infohash>.torrent` (or
   * `options.torrentFile`), then adds and starts the torrent as `add()` does. Progress and the
   * torrent come from the returned download; `remove(infoHash)` or `close()` cancel it.
   * @throws Error for a bad link, a closed session, or an info-hash already in the session
   */
  addMagnet(link: string | MagnetLink, options: MagnetOptions): MagnetDownload {
    if (this.#closed) throw new Error('session is closed');
    const magnet = typeof link === 'string' ? parseMagnet(link) : link;
    const hash = magnet.infoHash;
    if (this.#torrents.has(hash) || this.#magnets.has(hash)) throw new Error(`torrent ${hash} is already in the session`);
    const torrentFile = options.torrentFile ?? (this.#options.stateDir ? join(this.#options.stateDir, `${hash}.torrent`) : undefined);
    const portNow = (): number => this.#port;
    const download = new MagnetDownload(
      magnet,
      {
        hub: this.hub,
        peerId: this.peerId,
        // Read when its announcer starts: the port may have moved since the magnet was added.
        get port() {
          return portNow();
        },
        clock: this.clock,
        addressFilter: this.addressFilter,
        dht: this.dht,
        lsd: this.lsd,
        ...(this.peerList ? { peerList: this.peerList } : {}),
        pieceHasher: this.pieceHasher,
        announcer: this.announcer,
        addTorrent: (meta, o) => this.#add(meta, o),
        removeTorrent: async (h) => void (await this.remove(h)),
        settled: (d) => {
          if (this.#magnets.get(d.infoHash) === d) this.#magnets.delete(d.infoHash);
        },
      },
      { ...options, ...(torrentFile ? { torrentFile } : {}) },
    );
    this.#magnets.set(hash, download);
    download.on('warning', (w) => this.emit('warning', w));
    this.emit('magnet-added', download);
    download.start();
    return download;
  }

  /** Magnet links still fetching their metadata. */
  get magnets(): MagnetDownload[] {
    return [...this.#magnets.values()];
  }

  getMagnet(infoHash: string): MagnetDownload | undefined {
    return this.#magnets.get(infoHash.toLowerCase());
  }

  /**
   * Stops a torrent and forgets it; cancels a magnet still fetching its metadata. The data stays
   * on disk unless `deleteData`: then exactly the torrent's files go, and the directories that
   * became empty (Torrent.deleteData), and the answer says what was removed and what kept.
   */
  async remove(infoHash: string, options: { deleteData?: boolean } = {}): Promise<DeleteDataResult | undefined> {
    await this.getMagnet(infoHash)?.cancel();
    const t = this.get(infoHash);
    if (!t) return undefined;
    await t.stop();
    this.#torrents.delete(t.infoHash);
    this.emit('torrent-removed', t);
    return options.deleteData === true ? t.deleteData() : undefined;
  }

  /** The global limits in bytes/s (0 = unlimited; 'none': no piece data moves that way, the protocol runs on). */
  setLimits(limits: { upload?: RateLimit; download?: RateLimit }): void {
    if (limits.upload !== undefined) this.uploadLimiter.setLimit(limits.upload);
    if (limits.download !== undefined) this.downloadLimiter.setLimit(limits.download);
  }

  /** Clean shutdown: every torrent tells its trackers `stopped` and flushes resume data. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ticker) this.clock.clearTimeout(this.#ticker);
    await Promise.all(this.magnets.map((m) => m.cancel()));
    await Promise.all(this.torrents.map((t) => t.stop().catch((e: unknown) => this.emit('warning', makeWarning('stop', t, e)))));
    await this.#lsd.close();
    await this.#dht.close();
    await this.hub.close();
    this.#udpTrackers?.close();
    await this.#udp?.close();
    await this.pieceHasher.close();
    this.timers.close();
  }
}
