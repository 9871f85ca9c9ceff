import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { decode, encode, type Encodable } from '@mainline/bencode';
import type { LsdPeer } from '@mainline/lsd';
import type { Metainfo } from '@mainline/metainfo';
import { PiecePicker } from '@mainline/piecepicker';
import { EtaEstimator, RecentRate, TokenBucket, type Clock, type RateLimit, type TokenLane } from '@mainline/rate';
import type { Announcer, AnnouncerOptions, AnnouncerStats, TrackerPeer } from '@mainline/rerequester';
import { startAnnouncer, trackerReport, type AnnounceOwner, type TrackerInfo, type TrackerState } from './announce.js';
import { ReportingSwarm } from './dial-failures.js';
import { makeWarning, type TorrentWarning, type WarningKind } from './warning.js';
import { clientName } from './peer-id.js';
import {
  PieceStore,
  Storage,
  StorageError,
  decodeResume,
  deleteTorrentData,
  encodeResume,
  type DeleteDataResult,
  type FilePriority,
  type HashPool,
  type RecheckProgress,
} from '@mainline/storage';
import {
  DEFAULT_MAX_INITIATE,
  PexExtension,
  type ExtensionHandshake,
  type PeerCloseReason,
  type PeerConnection,
  type PeerHandler,
  type PeerHandOff,
  type PeerView,
  type TorrentWire,
  type WireHub,
  type WireLimits,
} from '@mainline/connecter';
import { rm } from 'node:fs/promises';
import type { AddressFilter } from './address-filter.js';
import { swarmShortOfPeers, type DhtRegistry, type DhtTorrent } from './dht.js';
import type { LsdRegistry, LsdTorrent } from './local-discovery.js';
import { readFileIfExists, writeFileAtomic } from './atomic-file.js';
import { asError } from './as-error.js';
import { PeerList, type PeerDialer, type PeerListOptions, type PeerSource } from './peer-list.js';

const NO_PEERS: ReadonlySet<PeerView> = new Set();

/** The ETA's rate looks this far back: steadier than the 2 s display rates, current unlike a lifetime average. */
const ETA_WINDOW_MS = 10_000;
/** Peers remembered for peerTransfers() (the ones that gave or took least are forgotten first). */
const MAX_PEER_TRANSFERS = 1000;

export type TorrentState = 'stopped' | 'checking' | 'downloading' | 'seeding' | 'paused' | 'error';

export interface TorrentOptions {
  /** Directory the torrent's files go in (a multi-file torrent gets its own folder named after it). */
  savePath: string;
  /** Start paused (nothing checked, nothing announced) until resume(). */
  paused?: boolean;
  /** Per-file priorities, in metainfo file order. */
  filePriorities?: FilePriority[];
  /** Upload/download limits of this torrent in bytes/s (0 = unlimited; 'none': no traffic). */
  uploadLimit?: RateLimit;
  downloadLimit?: RateLimit;
  maxPeers?: number;
  maxUploads?: number;
  /** Stop seeding at this upload/download ratio (0 or undefined = never). */
  seedRatio?: number;
  /** Stop seeding after this many seconds of seeding (0 or undefined = never). */
  seedTimeSeconds?: number;
  /** Sequential picking, for streaming. */
  sequential?: boolean;
  /** Extra peers to dial (besides trackers); redialled while not connected, on any port. */
  peers?: { ip: string; port: number }[];
  /** The `x.pe` peers of the magnet link the torrent came from (counted as source `magnet`). */
  magnetPeers?: { ip: string; port: number }[];
  /** Peers trackers gave before the torrent was added (while its magnet fetched the metadata): source `tracker`. */
  trackerPeers?: { ip: string; port: number }[];
  /**
   * The peer list to carry on with (a magnet's, which its metadata fetch dialled through): every
   * address, source, backoff and connection it knows stays; a new one is made otherwise.
   */
  peerList?: PeerList;
  /**
   * Open connections to adopt when the torrent first joins the swarm (a magnet's metadata
   * connections: no redial). Released (closed) if the torrent stops or fails before that.
   */
  handOff?: PeerHandOff;
  /**
   * First wait before peers named in `peers`/addPeers() are redialled while not connected
   * (default 15 s); it doubles with each failure in a row, up to 2 min.
   */
  peerRedialMs?: number;
  /** Where the resume record lives (default: none, i.e. always recheck). */
  resumeFile?: string;
  /** Skip the announce to trackers (direct peers only). */
  noTrackers?: boolean;
  /** Tracker tiers to announce to instead of the metainfo's (a user's edits of the list). */
  trackers?: string[][];
  /**
   * Each file's path under savePath instead of the metainfo's (files renamed by the user), in
   * metainfo file order; the first component of every path is the new top name when renamed.
   */
  filePaths?: string[][];
  /** False: only this torrent's own limits apply, not the session's (Transmission's honorsSessionLimits). Default true. */
  honorsSessionLimits?: boolean;
  /**
   * Its share of the session's limits while other torrents want them too (Transmission's
   * bandwidthPriority): high gets 4 parts, normal 2, low 1 (default normal); see setBandwidthPriority.
   */
  bandwidthPriority?: BandwidthPriority;
  /**
   * Seed existing data only: the files are opened read-only (nothing is created, truncated or
   * written) and a torrent whose wanted pieces are not all verified stops with an error instead
   * of downloading.
   */
  readOnly?: boolean;
  /**
   * Create the files even when the wanted ones need more than the free space of the download
   * file system (by default the start stops with a NO_SPACE error and nothing is created).
   */
  ignoreFreeSpace?: boolean;
}

/** The options a torrent reads after its constructor; the others are used there and let go. */
const KEPT_OPTIONS = [
  'resumeFile',
  'noTrackers',
  'trackers',
  'filePaths',
  'honorsSessionLimits',
  'maxPeers',
  'maxUploads',
  'seedRatio',
  'seedTimeSeconds',
  'readOnly',
] as const;
type KeptOptions = Readonly<Pick<TorrentOptions, (typeof KEPT_OPTIONS)[number]>>;
const NO_OPTIONS: KeptOptions = Object.freeze({});

/** Those of the kept options that are set (a torrent added with none shares one empty object). */
function keptOptions(options: TorrentOptions): KeptOptions {
  const kept: Record<string, unknown> = {};
  let any = false;
  for (const k of KEPT_OPTIONS) {
    if (options[k] === undefined) continue;
    kept[k] = options[k];
    any = true;
  }
  return any ? (kept as KeptOptions) : NO_OPTIONS;
}

export interface TorrentStats {
  infoHash: string;
  name: string;
  /** 'seeding' once every wanted piece is verified, also when files are skipped (a partial seed). */
  state: TorrentState;
  /** Verified fraction of the whole torrent, 0..1 (below 1 for a partial seed; see wantedProgress). */
  progress: number;
  totalLength: number;
  /** Bytes verified on disk. */
  haveBytes: number;
  /** Bytes of the whole torrent not verified yet (what trackers are told as `left`). */
  left: number;
  /**
   * Bytes of the pieces that hold a wanted (not skipped) file: the size when finished
   * (libtorrent's total_wanted). totalLength when nothing is skipped.
   */
  wantedLength: number;
  /** Of wantedLength, bytes not verified yet (Transmission's leftUntilDone); 0 once finished. */
  wantedLeft: number;
  /** Verified fraction of the wanted bytes, 0..1 (libtorrent's progress): what a progress bar shows. */
  wantedProgress: number;
  piecesHave: number;
  pieceCount: number;
  downloaded: number;
  uploaded: number;
  /** mainline's rates (20 s window, with a head start): what choking works from. */
  downloadRate: number;
  uploadRate: number;
  /** Bytes/s over the last ~2 s: what a display shows (follows a change of speed within ~2 s). */
  recentDownloadRate: number;
  recentUploadRate: number;
  /** Seconds left (mainline's estimator), or undefined when unknown. */
  eta: number | undefined;
  /** Seconds left at the rate pieces were verified over the last ~10 s; undefined before the first piece of this run. */
  recentEta: number | undefined;
  ratio: number;
  peers: number;
  seeds: number;
  /** Bytes thrown away (duplicates, failed pieces). */
  wasted: number;
  hashFails: number;
  /** Recheck progress while checking, 0..1. */
  checkProgress: number;
  /** Seconds spent seeding since the last start of seeding. */
  seedingTime: number;
  error: string | undefined;
  /** The latest trouble that did not stop the torrent and is not cleared yet (see TorrentWarning), as `<what>: <message>`. */
  warning: string | undefined;
  trackerError: string | undefined;
  trackerPeers: number;
  /** Each tracker: what it is doing, what it last said or what failed (empty without trackers or while stopped). */
  trackers: TrackerInfo[];
  /** Seconds until the trackers are asked again (a retry after a failure too); undefined while asking or without trackers. */
  nextAnnounceIn: number | undefined;
}

/** What Torrent.activity() gives: the fields of TorrentStats a once-a-second poll needs. */
export type TorrentActivity = Pick<TorrentStats, 'state' | 'downloadRate' | 'uploadRate' | 'wantedLeft' | 'haveBytes'>;

/** What one peer gave and took during this run of the torrent (see Torrent.peerTransfers). */
export interface PeerTransfer {
  /** `ip:port` of its (last) connection. */
  address: string;
  /** From its peer id, e.g. `libtorrent (Rasterbar) 2.0.8.0`; '' when unknown. */
  client: string;
  downloaded: number;
  uploaded: number;
  /** Connected now. */
  connected: boolean;
  /** Where its address came from (`tracker`, `incoming`, `user`, `lsd`...); undefined when not known. */
  source: string | undefined;
}

export interface TorrentEvents {
  state: [state: TorrentState];
  checking: [progress: RecheckProgress];
  piece: [index: number];
  /**
   * Every wanted piece was verified during this run (all pieces, or those of the files not
   * skipped): the torrent is seeding now. Emitted again if priorities later want more and that
   * finishes too; not emitted for data that was already complete at start.
   */
  done: [];
  error: [error: Error];
  'peer-connected': [address: string];
  'peer-dropped': [address: string, reason: string];
  /**
   * A peer we dialled could not be connected: refused, no answer, closed the connection after
   * the handshake (it may require encryption)... `reason` is for people. Emitted for each failed
   * dial (a named peer is dialled again every 15 s while not connected).
   */
  'peer-failed': [address: string, reason: string];
  /**
   * The resume record could not be written (e.g. the state directory is not writable): nothing
   * is lost now, but the next start will recheck the data. Emitted at each failed write.
   */
  'resume-save-failed': [error: Error];
  /** Something failed without stopping the torrent (a failed resume write too): what, and the error. */
  warning: [warning: TorrentWarning];
  'tracker-error': [message: string];
  banned: [key: string, reason: string];
  'seeding-done': [reason: string];
}

export type BandwidthPriority = 'low' | 'normal' | 'high';

/** How many parts of a session limit each priority gets while torrents compete for it. */
const PRIORITY_WEIGHTS: Record<BandwidthPriority, number> = { low: 1, normal: 2, high: 4 };

/** What a Torrent needs from its Session. */
export interface TorrentHost {
  readonly hub: WireHub;
  readonly peerId: Uint8Array;
  readonly port: number;
  readonly clock: Clock;
  readonly uploadLimiter: TokenBucket;
  readonly downloadLimiter: TokenBucket;
  readonly announcer?: Partial<AnnouncerOptions>;
  /** Where the announcers' timers go: one underlying timer for every torrent (see TimerQueue); `clock` otherwise. */
  readonly timers?: Clock;
  /** Hashing/writing threads shared by the host's torrents (each torrent has its own otherwise). */
  readonly pieceHasher?: HashPool;
  /** Which peer addresses may be dialled (knows our own address and port); a permissive one otherwise. */
  readonly addressFilter?: AddressFilter;
  /** Peer list settings (size, backoff) for every torrent. */
  readonly peerList?: Omit<PeerListOptions, 'clock' | 'filter'>;
  /** Local service discovery: a running torrent that is not private registers here. */
  readonly lsd?: LsdRegistry;
  /** The DHT: a running torrent that is not private registers here. */
  readonly dht?: DhtRegistry;
  /** Peer exchange (BEP 11) for non-private torrents (default on); read at each exchange, so a switch applies at once. */
  readonly pexEnabled?: boolean;
  /**
   * Told of every event a torrent emits, after its own listeners: a host following all its
   * torrents needs no listener (closures, an events table) on each one.
   */
  torrentEvent?(torrent: Torrent, ...event: TorrentEvent): void;
}

/** One event of a torrent as its host hears it: the name, then the event's arguments. */
export type TorrentEvent = { [K in keyof TorrentEvents]: [name: K, ...args: TorrentEvents[K]] }[keyof TorrentEvents];

/** What a torrent's peer list tells the outside: its size and its counts by source. */
export type PeerListView = Pick<PeerList, 'size' | 'has' | 'counts' | 'retryIn' | 'connectionSource'>;

/** What SwarmDoor reads of its torrent (set in Torrent's static block): its swarm, if any. */
let swarmOf: (t: Torrent) => ReportingSwarm | undefined;
/** The swarm, made now if need be; undefined while the torrent is not running. */
let liveSwarmOf: (t: Torrent) => ReportingSwarm | undefined;
/** Every wanted piece is verified. */
let isFinished: (t: Torrent) => boolean;
let peerListOf: (t: Torrent) => PeerList;
// A store's listeners: two functions for every torrent's store, which finds its torrent here
// (two closures and their context per torrent were ~160 bytes of every idle torrent).
const storeOwners = new WeakMap<PieceStore, Torrent>();
let onStoreError: (this: PieceStore, e: Error) => void;
let onStoreVerified: (this: PieceStore, i: number) => void;

/**
 * One torrent: download.py's wiring as an object. Storage and its verified pieces, the picker,
 * the swarm of peers (with its choker) and the tracker announcer; start / pause / resume /
 * recheck / remove; stats and events. Verified pieces are only ever recorded after their hash
 * matched, and the resume record is written atomically, so a crash loses no verified piece.
 */
export class Torrent extends EventEmitter<TorrentEvents> {
  readonly meta: Metainfo;
  readonly infoHash: string;
  readonly savePath: string;
  readonly #host: TorrentHost;
  readonly #options: KeptOptions;
  /** The next start only marks it paused (options.paused; cleared by that start and by recheck). */
  #startPaused: boolean;
  /** Create the files even without the free space for them (options.ignoreFreeSpace, or resume's). */
  #ignoreFreeSpace: boolean;
  #sequential: boolean;
  // The limiters and lanes are made at first use (a limit set, a swarm made): a seed nobody asks
  // for moves no bytes and needs none of them.
  #uploadLimiter: TokenBucket | undefined;
  #downloadLimiter: TokenBucket | undefined;
  #priority: BandwidthPriority;
  #uploadLane: TokenLane | undefined;
  #downloadLane: TokenLane | undefined;
  #state: TorrentState = 'stopped';
  #storage: Storage | undefined;
  #store: PieceStore | undefined;
  /** Made at the first peer or dial of a seed (see #startNetwork); undefined while stopped. */
  #swarm: ReportingSwarm | undefined;
  /** Between #startNetwork and #stopNetwork: registered on the hub, with or without a swarm. */
  #online = false;
  #announcer: Announcer | undefined;
  #eta: EtaEstimator | undefined;
  /** Per file, in metainfo order; undefined while every file is 'normal' and nobody asked (most torrents). */
  #priorities: FilePriority[] | undefined;
  /** Per piece: 0 = only skipped files, 1 = wanted, 2 = high priority (see pieceLevels); undefined: all 1. */
  #levels: Uint8Array | undefined;
  #wantedLength = 0;
  /** Bytes of wanted pieces not verified (kept up to date from the store's `verified`). */
  #wantedLeft = 0;
  /** `completed` was (or, for data complete at start, need not be) told to trackers: never twice. */
  #completedAnnounced = false;
  #error: Error | undefined;
  readonly #tracker: TrackerState = { peers: 0, error: undefined };
  #checkProgress = 0;
  #hashFails = 0;
  /** Totals carried across restarts of the swarm (and from the resume record). */
  #downloadedBefore = 0;
  #totalsLoaded = false;
  #uploadedBefore = 0;
  #seedingSince: number | undefined;
  #seedTimer: ReturnType<Clock['setTimeout']> | undefined;
  /** Every address we could dial and whom to dial next: kept across pause/resume. */
  readonly #peerList: PeerList;
  #saveTimer: ReturnType<Clock['setTimeout']> | undefined;
  #starting: Promise<void> | undefined;
  /** The display rates over the last 10 s; made with the first swarm (no byte moves before one). */
  #recent: { down: RecentRate; up: RecentRate } | undefined;
  /** Verified wanted bytes over the last 10 s, from this run's first piece (with the bytes then). */
  #etaRate: { rate: RecentRate; base: number } | undefined;
  /** What peers gave and took, kept when they leave; keyed by IP and peer id (a reconnect adds up). */
  #transfers: Map<string, PeerTransfer> | undefined; // made at the first peer that moved bytes
  /** Its hub entry and the peer list's dialer in one, made at the first start. */
  #door: SwarmDoor | undefined;
  /** Troubles not cleared yet, by kind (a later success of the same kind clears it). */
  #warnings: Map<WarningKind, TorrentWarning> | undefined; // made at the first warning (most torrents never have one)
  /** A magnet's connections, until the first swarm adopts them. */
  #handOff: PeerHandOff | undefined;

  constructor(meta: Metainfo, host: TorrentHost, options: TorrentOptions) {
    super();
    // EventEmitter keeps listeners in a null-prototype object made with a literal, which V8 holds
    // as a dictionary (~150 bytes more than a plain object); most torrents are never listened to
    // (hosts hear them through TorrentHost.torrentEvent). Same null prototype, a fast object.
    (this as unknown as { _events: object })._events = Object.setPrototypeOf({}, null) as object;
    this.meta = meta;
    this.infoHash = meta.infoHash;
    this.savePath = options.savePath;
    this.#host = host;
    this.#options = keptOptions(options);
    this.#startPaused = options.paused === true;
    this.#ignoreFreeSpace = options.ignoreFreeSpace === true;
    this.#sequential = options.sequential ?? false;
    if (options.filePriorities && options.filePriorities.length !== meta.files.length) {
      throw new RangeError(`filePriorities has ${options.filePriorities.length} entries for ${meta.files.length} files`);
    }
    this.#setPriorities(options.filePriorities);
    this.#countWanted();
    this.setLimits({ upload: options.uploadLimit, download: options.downloadLimit });
    this.#priority = options.bandwidthPriority ?? 'normal';
    this.#peerList =
      options.peerList ??
      new PeerList({
        ...host.peerList,
        clock: host.clock,
        ...(host.addressFilter ? { filter: host.addressFilter } : {}),
        ...(options.peerRedialMs !== undefined ? { userRetryMs: options.peerRedialMs } : {}),
      });
    this.#peerList.add(options.magnetPeers ?? [], 'magnet');
    this.#peerList.add(options.trackerPeers ?? [], 'tracker');
    this.#handOff = options.handOff;
    this.#peerList.add(options.peers ?? [], 'user');
  }

  /** This torrent's own upload limiter (unlimited unless setLimits gave it a rate). */
  get uploadLimiter(): TokenBucket {
    return (this.#uploadLimiter ??= new TokenBucket({ clock: this.#host.clock }));
  }

  get downloadLimiter(): TokenBucket {
    return (this.#downloadLimiter ??= new TokenBucket({ clock: this.#host.clock }));
  }

  /** This torrent's lanes into the session's limiters: its share by bandwidth priority. */
  #uploadLaneOf(): TokenLane {
    return (this.#uploadLane ??= this.#host.uploadLimiter.lane(PRIORITY_WEIGHTS[this.#priority]));
  }

  #downloadLaneOf(): TokenLane {
    return (this.#downloadLane ??= this.#host.downloadLimiter.lane(PRIORITY_WEIGHTS[this.#priority]));
  }

  /** The peer list: how many addresses are known, from which sources, and how many are connected. */
  get peerList(): PeerListView {
    return this.#peerList;
  }

  get state(): TorrentState {
    return this.#state;
  }

  get name(): string {
    return this.meta.name;
  }

  /** The verified-piece store (undefined until started). */
  get store(): PieceStore | undefined {
    return this.#store;
  }

  /**
   * Whether the torrent has its swarm (picker, choker, peers) now: from the start when it has
   * pieces to fetch; a seed makes it at its first peer (incoming, or a dial), and none while stopped.
   */
  get hasSwarm(): boolean {
    return this.#swarm !== undefined;
  }

  /** Connected peers (empty when not running). */
  get peers(): readonly PeerView[] {
    return this.#swarm ? [...this.#swarm.peers] : [];
  }

  get trackers(): string[][] {
    return this.#announcer?.tiers ?? this.#tiers().map((t) => [...t]);
  }

  /** The files on disk: the metainfo's own list (the storage keeps it, no copy), or the renamed paths of the options. */
  #files(): readonly { readonly path: readonly string[]; readonly length: number }[] {
    const renamed = this.#options.filePaths;
    if (!renamed) return this.meta.files;
    return this.meta.files.map((f, i) => ({ path: renamed[i] ?? f.path, length: f.length }));
  }

  /** The tiers announced to: the options' edit of the list, else the metainfo's. */
  #tiers(): readonly (readonly string[])[] {
    return this.#options.trackers ?? this.meta.trackers;
  }

  /** Every event goes to the host too (TorrentHost.torrentEvent). */
  override emit<K extends keyof TorrentEvents>(name: K, ...args: TorrentEvents[K]): boolean {
    const heard = (super.emit as (name: K, ...args: TorrentEvents[K]) => boolean).call(this, name, ...args);
    const host = this.#host;
    (host.torrentEvent as ((torrent: Torrent, name: K, ...args: TorrentEvents[K]) => void) | undefined)?.call(host, this, name, ...args);
    return heard;
  }

  #setState(state: TorrentState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }

  /** Opens storage (resume record or full recheck), then joins the swarm and announces. */
  start(): Promise<void> {
    if (this.#starting) return this.#starting;
    if (this.#state !== 'stopped' && this.#state !== 'error') return Promise.resolve();
    this.#starting = this.#start().finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    this.#error = undefined;
    if (this.#startPaused) {
      this.#releaseHandOff();
      this.#startPaused = false;
      this.#setState('paused');
      return;
    }
    this.#setState('checking');
    try {
      await this.#openStorage();
    } catch (err) {
      return this.#fail(err);
    }
    if (this.#options.readOnly && this.#wantedLeft > 0) {
      const store = this.#store!;
      return this.#fail(new Error(`the data in ${this.savePath} is incomplete (${store.haveCount} of ${this.meta.pieceCount} pieces verified) and the torrent is read-only`));
    }
    this.#startNetwork();
  }

  async #openStorage(): Promise<void> {
    const meta = this.meta;
    this.#storage = new Storage({
      root: this.savePath,
      files: this.#files(),
      pieceLength: meta.pieceLength,
      priorities: this.#priorities, // undefined: every file normal
      name: meta.infoHash,
      readOnly: this.#options.readOnly === true,
      checkFreeSpace: !this.#ignoreFreeSpace,
    });
    await this.#storage.open();
    const hasher = this.#host.pieceHasher;
    const store = new PieceStore(this.#storage, { pieceHashes: meta.pieces, ...(hasher ? { pieceHasher: hasher } : {}) });
    this.#store = store;
    // Progress comes only from the check that start() may run (a recheck reopens the storage):
    // a callback, not one more listener kept by every store.
    const onProgress = (p: RecheckProgress): void => {
      this.#checkProgress = p.totalBytes === 0 ? 1 : p.checkedBytes / p.totalBytes;
      this.emit('checking', p);
    };
    storeOwners.set(store, this);
    store.on('error', onStoreError);
    store.on('verified', onStoreVerified);
    const resume = await this.#loadResume();
    await store.start({ resume: resume?.record, onProgress });
    this.#checkProgress = 1;
    this.#countWanted();
    // Lifetime totals come from the record only on the first open: a later reopen (recheck,
    // resume after an error) keeps the totals this object already counted.
    if (resume && !this.#totalsLoaded) {
      this.#downloadedBefore = resume.downloaded;
      this.#uploadedBefore = resume.uploaded;
      // Saved totals are history, not traffic: the recent rates start from them.
      this.#recent?.down.restartAt(this.downloaded);
      this.#recent?.up.restartAt(this.uploaded);
      this.#completedAnnounced ||= resume.completed;
    }
    this.#totalsLoaded = true;
  }

  /** Recounts wantedLength / wantedLeft from the piece levels and the verified pieces. */
  #countWanted(): void {
    const meta = this.meta;
    const store = this.#store;
    let length = 0;
    let left = 0;
    for (let i = 0; i < meta.pieceCount; i++) {
      if (this.#levels?.[i] === 0) continue;
      const size = i === meta.pieceCount - 1 ? meta.totalLength - i * meta.pieceLength : meta.pieceLength;
      length += size;
      if (!store?.hasPiece(i)) left += size;
    }
    this.#wantedLength = length;
    this.#wantedLeft = left;
  }

  async #loadResume(): Promise<{ record: unknown; downloaded: number; uploaded: number; completed: boolean } | undefined> {
    if (!this.#options.resumeFile) return undefined;
    // An unreadable record (the state directory is a file, no permission...) only costs a
    // recheck; writing it later fails too, and that is reported (`resume-save-failed`).
    const bytes = await readFileIfExists(this.#options.resumeFile).catch((e: unknown) => this.#warn('resume-read', e));
    if (!bytes) return undefined;
    try {
      const d = decode(bytes);
      const get = (k: string): unknown => (d as { get?: (k: string) => unknown }).get?.(k);
      const num = (v: unknown): number => (typeof v === 'number' ? v : 0);
      return { record: get('storage'), downloaded: num(get('downloaded')), uploaded: num(get('uploaded')), completed: num(get('completed')) === 1 };
    } catch {
      return undefined; // a damaged record only costs a recheck
    }
  }

  /** Writes the resume record (have-bitfield, file sizes/mtimes, totals) atomically; false when there is none to write. */
  async saveResume(): Promise<boolean> {
    const store = this.#store;
    if (!this.#options.resumeFile || !store || store.state !== 'ready') return false;
    const record = encodeResume(await store.resumeRecord());
    // Decoding our own output first: a record that would not read back is never written.
    decodeResume(record);
    const data: Encodable = {
      storage: record as unknown as Encodable,
      downloaded: this.downloaded,
      uploaded: this.uploaded,
      priorities: this.#priorities ?? this.#allNormal(),
      paused: this.#state === 'paused' ? 1 : 0,
      completed: this.#completedAnnounced ? 1 : 0,
    };
    await writeFileAtomic(this.#options.resumeFile, encode(data));
    return true;
  }

  /** Writes the resume record; a failure is reported (`resume-save-failed`), never fatal. */
  async #saveResumeReporting(): Promise<void> {
    try {
      if (await this.saveResume()) {
        // The record is on disk now: the next start reads it, whatever failed before.
        this.#warnings?.delete('resume-save');
        this.#warnings?.delete('resume-read');
      }
    } catch (err) {
      this.emit('resume-save-failed', asError(err));
      this.#warn('resume-save', err);
    }
  }

  /**
   * Joins the network: announcer, peer list, LSD and DHT. A torrent with pieces to fetch (or a
   * magnet's connections to adopt) gets its swarm at once; a seed only registers on the hub and
   * makes its swarm (picker, choker, upload side) when the first peer comes: an incoming handshake
   * for its info-hash, or a dial of an address the tracker, DHT, PEX, LSD or the user gave. Most
   * torrents of a big session are seeds nobody asks for, and they then cost no swarm at all.
   */
  #startNetwork(): void {
    const host = this.#host;
    const meta = this.meta;
    // Pieces to fetch (on start and on resume): the piece thread boots while we connect, not
    // while the first pieces wait.
    if (this.#wantedLeft > 0) host.pieceHasher?.prestart();
    this.#online = true;
    this.#etaRate = undefined;
    const handOff = this.#handOff;
    this.#handOff = undefined;
    const finished = this.#wantedLeft === 0;
    // The ETA is read only while downloading: a seed gets one if priorities later want more (#downloadMore).
    this.#eta = finished ? undefined : new EtaEstimator({ clock: host.clock, left: this.#wantedLeft });
    const door = (this.#door ??= new SwarmDoor(this));
    if (finished && !handOff) {
      if (!host.hub.hasTorrent(meta.infoHashBytes)) host.hub.addTorrent(meta.infoHashBytes, door);
    } else this.#makeSwarm(handOff);
    // Finished before this run (data complete, or every wanted piece there): nothing to announce.
    if (finished) this.#completedAnnounced = true;
    this.#setState(finished ? 'seeding' : 'downloading');
    if (finished) this.#startSeedClock();
    if (!this.#options.noTrackers && this.#tiers().length > 0) this.#startAnnouncer(door);
    const peerList = this.#peerList;
    // Whom to dial, when, and how often again is the peer list's decision from here on.
    peerList.attach(door);
    // BEP 14 peers on the local network and the DHT; never for a private torrent (its peers come
    // from its tracker only). Registered while they are off too: they may be switched on later.
    if (!meta.private) {
      host.lsd?.add(meta.infoHash, door);
      host.dht?.add(meta.infoHash, door);
    }
  }

  static {
    // SwarmDoor's way in: functions made once for every torrent (not a closure per torrent).
    swarmOf = (t) => t.#swarm;
    liveSwarmOf = (t) => (t.#online ? (t.#swarm ?? t.#makeSwarm(undefined)) : undefined);
    isFinished = (t) => t.#wantedLeft === 0;
    peerListOf = (t) => t.#peerList;
    onStoreError = function (this: PieceStore, e: Error): void {
      const t = storeOwners.get(this);
      if (t) t.#fail(e);
    };
    onStoreVerified = function (this: PieceStore, i: number): void {
      const t = storeOwners.get(this);
      if (t && t.#levels?.[i] !== 0) t.#wantedLeft -= this.pieceSize(i);
    };
  }

  /** Samples the display rates (stats() and activity() both do, so they stay as fine-grained). */
  #observeRecent(): void {
    const recent = this.#recent;
    if (!recent) return;
    recent.down.observe(this.downloaded);
    recent.up.observe(this.uploaded);
  }

  /** The swarm: picker, peers, choker; registered on the hub (or taking a magnet's place there). */
  #makeSwarm(handOff: PeerHandOff | undefined): ReportingSwarm {
    // Until now nothing moved: the recent rates measure from the totals at this moment.
    if (!this.#recent) {
      const clock = this.#host.clock;
      this.#recent = { down: new RecentRate({ clock }), up: new RecentRate({ clock }) };
      this.#recent.down.restartAt(this.downloaded);
      this.#recent.up.restartAt(this.uploaded);
    }
    const store = this.#store!;
    const host = this.#host;
    const meta = this.meta;
    const picker = new PiecePicker<PeerView>({
      pieceCount: meta.pieceCount,
      pieceLength: meta.pieceLength,
      totalLength: meta.totalLength,
      have: store.haveBitfield(),
    });
    this.#applyPriorities(picker);
    if (this.#sequential) picker.setSequential(true);
    const peerList = this.#peerList;
    // BEP 11 peer exchange: never on a private torrent (its peers come from its tracker only).
    let peers: Iterable<PeerView> = [];
    // With PEX switched off we tell no one of our peers and take none from them.
    const pexOn = (): boolean => host.pexEnabled !== false;
    const pex = new PexExtension({
      clock: host.clock,
      peerId: host.peerId,
      peers: () => (pexOn() ? peers : []),
      onPeers: (found) => {
        if (pexOn()) peerList.add(found, 'pex');
      },
    });
    const swarm = new ReportingSwarm({
      hub: host.hub,
      infoHash: meta.infoHashBytes,
      store,
      picker,
      clock: host.clock,
      uploadLimiters: this.#options.honorsSessionLimits === false ? [this.uploadLimiter] : [this.uploadLimiter, this.#uploadLaneOf()],
      downloadLimiters: this.#options.honorsSessionLimits === false ? [this.downloadLimiter] : [this.downloadLimiter, this.#downloadLaneOf()],
      ...(this.#options.maxPeers !== undefined ? { maxPeers: this.#options.maxPeers } : {}),
      ...(this.#options.maxUploads !== undefined ? { maxUploads: this.#options.maxUploads } : {}),
      // BEP 9: peers that came by magnet link fetch the info dict from us (never for private
      // torrents: the extension host leaves public-only extensions out of those).
      metadata: meta.infoBytes,
      private: meta.private,
      listenPort: () => host.port,
      extensions: meta.private || !pexOn() ? [] : [pex],
    });
    this.#swarm = swarm;
    peers = swarm.peers;
    swarm.on('piece', (i) => {
      this.#eta?.dataCameIn(store.pieceSize(i));
      this.#etaRate ??= { rate: new RecentRate({ clock: host.clock, windowMs: ETA_WINDOW_MS }), base: this.#wantedLength - this.#wantedLeft };
      this.emit('piece', i);
      this.#scheduleResumeSave();
    });
    // The ETA only ever counted verified pieces, so a failed one has nothing to refund.
    swarm.on('hashfail', () => {
      this.#hashFails++;
    });
    swarm.on('finished', () => this.#finished());
    swarm.on('error', (e) => this.#fail(e));
    swarm.on('banned', (k, r) => {
      // Bans on loopback are per peer id (see banKey); only a plain address can be refused by the list.
      if (isIP(k) !== 0) peerList.ban(k);
      this.emit('banned', k, r);
    });
    swarm.on('peer-connected', (p) => {
      peerList.connected(p.remoteAddress, p.remotePort, p.incoming);
      this.emit('peer-connected', p.address);
    });
    swarm.on('peer-dropped', (p, r) => {
      this.#countTransfer(p);
      peerList.closed(p.remoteAddress, p.remotePort, { seed: p.seed });
      this.emit('peer-dropped', p.address, r);
    });
    swarm.on('connect-failed', (host, port) => peerList.connectFailed(host, port));
    swarm.onDialFailed = (address, reason) => this.emit('peer-failed', address, reason);
    swarm.start(handOff);
    return swarm;
  }

  #startAnnouncer(door: SwarmDoor): void {
    const host = this.#host;
    this.#announcer = startAnnouncer(
      {
        infoHash: this.meta.infoHashBytes,
        peerId: host.peerId,
        port: host.port,
        ...(this.#options.trackers ? { announceList: this.#options.trackers } : { ...(this.meta.announce !== undefined ? { announce: this.meta.announce } : {}), announceList: this.meta.announceList }),
        clock: host.timers ?? host.clock,
        ...host.announcer,
      },
      this.#tracker,
      door,
      host.addressFilter,
    );
  }

  /**
   * Every wanted piece is verified: seed what we have (uploads go on, interest in peers is gone),
   * tell trackers `completed` once in the torrent's life (Transmission does so for a partial
   * seed too; `left` stays the bytes of the whole torrent still missing, so trackers do not take
   * a partial seed for a seed), save the resume record and emit `done`.
   */
  #finished(): void {
    if (this.#state !== 'downloading') return;
    if (!this.#completedAnnounced) {
      this.#completedAnnounced = true;
      this.#announcer?.completed();
    }
    this.#setState('seeding');
    this.#startSeedClock();
    void this.#saveResumeReporting(); // never rejects: a failed write is a warning
    this.emit('done');
  }

  /** Priorities now want pieces we lack: download again (libtorrent's resume_download). */
  #downloadMore(): void {
    if (this.#seedTimer) this.#host.clock.clearTimeout(this.#seedTimer);
    this.#seedTimer = undefined;
    this.#seedingSince = undefined;
    this.#eta = new EtaEstimator({ clock: this.#host.clock, left: this.#wantedLeft });
    this.#setState('downloading');
    // Seeds were closed when we finished: ask the trackers at once (setFilePriorities redials them).
    this.#announcer?.reannounce();
  }

  #startSeedClock(): void {
    this.#seedingSince = this.#host.clock.now();
    const limit = this.#options.seedTimeSeconds;
    if (limit && limit > 0) {
      this.#seedTimer = this.#host.clock.setTimeout(() => this.#seedingDone(`seeded for ${limit}s`), limit * 1000);
    }
  }

  /** Seeding stops when the ratio or the time limit is reached (checked by the session's ticks too). */
  checkSeedLimits(): void {
    const ratioLimit = this.#options.seedRatio;
    if (this.#state === 'seeding' && ratioLimit && ratioLimit > 0 && this.ratio >= ratioLimit) {
      this.#seedingDone(`ratio ${this.ratio.toFixed(2)} reached`);
    }
  }

  #seedingDone(reason: string): void {
    if (this.#state !== 'seeding') return;
    this.pause().then(
      () => this.emit('seeding-done', reason),
      (e: unknown) => this.#fail(e),
    );
  }

  #scheduleResumeSave(): void {
    if (this.#saveTimer || !this.#options.resumeFile) return;
    // Batch: at most one resume write every 5 s while pieces arrive.
    this.#saveTimer = this.#host.clock.setTimeout(() => {
      this.#saveTimer = undefined;
      void this.#saveResumeReporting(); // never rejects: a failed write is a warning
    }, 5000);
  }

  #applyPriorities(picker: PiecePicker<PeerView>): void {
    const levels = this.#levels;
    for (let k = 0; k < this.meta.pieceCount; k++) {
      if (picker.hasPiece(k)) continue;
      const level = levels?.[k] ?? 1;
      picker.setPriority(k, level === 0 ? 'skip' : level === 2 ? 'high' : 'normal');
    }
  }

  /**
   * Changes file priorities (skip files are not downloaded, and not created on disk). A seeding
   * torrent that now wants pieces it lacks goes back to downloading (and emits `done` again when
   * they are verified); a downloading one whose missing pieces are all skipped now is done.
   */
  async setFilePriorities(priorities: FilePriority[]): Promise<void> {
    if (priorities.length !== this.meta.files.length) throw new RangeError('one priority per file');
    this.#setPriorities(priorities);
    this.#countWanted();
    await this.#storage?.setPriorities(this.#priorities ?? this.#allNormal());
    // A seed with no swarm yet needs one only if it now wants pieces it lacks.
    const swarm = this.#swarm ?? (this.#online && this.#wantedLeft > 0 ? this.#makeSwarm(undefined) : undefined);
    if (!swarm) return;
    this.#applyPriorities(swarm.picker);
    const more = this.#state === 'seeding' && !swarm.picker.isWantedComplete;
    if (more) this.#downloadMore();
    swarm.wantedChanged();
    // Now that the swarm is no longer finished, the seeds that left are worth dialling again.
    if (more) this.#peerList.retrySeeds();
  }

  /** Per file, in metainfo order (an all-normal list is made at the first read and kept, so reads in a loop are cheap). */
  get filePriorities(): readonly FilePriority[] {
    return (this.#priorities ??= this.#allNormal());
  }

  #allNormal(): FilePriority[] {
    return this.meta.files.map(() => 'normal' as const);
  }

  /** Keeps a copy of `priorities` and their piece levels, or neither while every file is 'normal'. */
  #setPriorities(priorities: readonly FilePriority[] | undefined): void {
    const all = priorities !== undefined && priorities.some((p) => p !== 'normal') ? [...priorities] : undefined;
    this.#priorities = all;
    this.#levels = all ? pieceLevels(this.meta, all) : undefined;
  }

  /** Sequential picking (lowest piece first, for streaming) on or off: now, and after a resume. */
  setSequential(on: boolean): void {
    this.#sequential = on;
    this.#swarm?.picker.setSequential(on);
  }

  get sequential(): boolean {
    return this.#sequential;
  }

  /** This torrent's limits in bytes/s (0 = unlimited; 'none': no piece data moves that way, the connections stay). */
  setLimits(limits: { upload?: RateLimit; download?: RateLimit }): void {
    // Unlimited is what a limiter not made yet means: it stays unmade.
    if (limits.upload !== undefined && (limits.upload !== 0 || this.#uploadLimiter)) this.uploadLimiter.setLimit(limits.upload);
    if (limits.download !== undefined && (limits.download !== 0 || this.#downloadLimiter)) this.downloadLimiter.setLimit(limits.download);
  }

  /**
   * Asks the trackers for peers as soon as they allow (Transmission's torrent-reannounce): now,
   * or once the tracker's `min interval` since the last announce has passed. Nothing while the
   * torrent is not announcing (stopped, or without trackers).
   */
  reannounce(): void {
    this.#announcer?.reannounce();
  }

  get bandwidthPriority(): BandwidthPriority {
    return this.#priority;
  }

  /** Changes this torrent's share of the session's limits at once (from its next request on). */
  setBandwidthPriority(priority: BandwidthPriority): void {
    this.#priority = priority;
    this.#uploadLane?.setWeight(PRIORITY_WEIGHTS[priority]);
    this.#downloadLane?.setWeight(PRIORITY_WEIGHTS[priority]);
  }

  /** The session's peer port moved: the trackers hear the new one at once (nothing while not announcing). */
  portChanged(port: number): void {
    this.#announcer?.setPort(port);
  }

  /**
   * Scrapes one tracker of each tier (seeders, leechers, completed downloads), recorded in the
   * stats' `trackers`. Nothing while not announcing (stopped, or without trackers). Never rejects.
   */
  async scrape(): Promise<void> {
    await this.#announcer?.scrapeEach();
  }

  /** Leaves the swarm (telling trackers), keeps storage open; resume() continues. */
  async pause(): Promise<void> {
    // Wait for a start in progress to end; its failure is its own caller's (start() rejects) and the state's.
    if (this.#starting) await this.#starting.catch(() => undefined);
    if (this.#state === 'paused' || this.#state === 'stopped') return;
    await this.#stopNetwork();
    await this.#saveResumeReporting();
    this.#setState('paused');
  }

  /**
   * Continues a paused torrent, or starts a stopped or failed one again (reopening its files).
   * `ignoreFreeSpace` insists on a torrent that stopped for lack of free space (kept from then on).
   */
  async resume(options: { ignoreFreeSpace?: boolean } = {}): Promise<void> {
    if (options.ignoreFreeSpace === true) this.#ignoreFreeSpace = true;
    if (this.#state === 'paused') {
      if (!this.#store) {
        this.#setState('stopped');
        return this.start();
      }
      this.#startNetwork();
    } else if (this.#state === 'stopped' || this.#state === 'error') {
      await this.#closeStorage();
      this.#setState('stopped');
      return this.start();
    }
  }

  /** Hashes every piece on disk again (the torrent pauses while checking). */
  async recheck(): Promise<void> {
    const wasRunning = this.#state === 'downloading' || this.#state === 'seeding';
    await this.#stopNetwork();
    await this.#closeStorage();
    if (this.#options.resumeFile) {
      await writeFileAtomic(this.#options.resumeFile, encode({})).catch((e: unknown) => {
        this.emit('resume-save-failed', asError(e));
        this.#warn('resume-save', e);
      });
    }
    this.#setState('stopped');
    if (!wasRunning) this.#startPaused = false;
    await this.start();
  }

  /** Stops everything: trackers get `stopped`, resume data is flushed, files are closed. */
  async stop(): Promise<void> {
    // Wait for a start in progress to end; its failure is its own caller's (start() rejects) and the state's.
    if (this.#starting) await this.#starting.catch(() => undefined);
    await this.#stopNetwork();
    await this.#saveResumeReporting();
    await this.#closeStorage();
    if (this.#state !== 'error') this.#setState('stopped');
  }

  /**
   * Deletes the torrent's data (its files, zero-length ones too, its parts file, the directories
   * that became empty; nothing else, see `deleteTorrentData`) and its resume record. Stops it first.
   */
  async deleteData(): Promise<DeleteDataResult> {
    await this.stop();
    const result = await deleteTorrentData({ root: this.savePath, files: this.#files(), name: this.meta.infoHash });
    if (this.#options.resumeFile) await rm(this.#options.resumeFile, { force: true });
    return result;
  }

  /** The held magnet connections will not be adopted (stopped or failed before joining the swarm). */
  #releaseHandOff(): void {
    this.#handOff?.release();
    this.#handOff = undefined;
  }

  async #stopNetwork(): Promise<void> {
    this.#releaseHandOff();
    const door = this.#door;
    if (door) {
      this.#host.lsd?.remove(this.meta.infoHash, door);
      this.#host.dht?.remove(this.meta.infoHash, door);
    }
    if (this.#seedTimer) this.#host.clock.clearTimeout(this.#seedTimer);
    this.#peerList.detach();
    if (this.#saveTimer) this.#host.clock.clearTimeout(this.#saveTimer);
    this.#seedTimer = this.#saveTimer = undefined;
    if (this.#swarm) {
      this.#downloadedBefore += this.#swarm.downloaded;
      this.#uploadedBefore += this.#swarm.uploaded;
      this.#swarm.onDialFailed = undefined;
      this.#swarm.stop();
      this.#swarm = undefined;
    } else if (this.#online) this.#host.hub.removeTorrent(this.meta.infoHashBytes);
    this.#online = false;
    const announcer = this.#announcer;
    this.#announcer = undefined;
    if (announcer) await announcer.stop().catch((e: unknown) => this.#warn('tracker-stop', e));
  }

  async #closeStorage(): Promise<void> {
    const store = this.#store;
    this.#store = undefined;
    this.#storage = undefined;
    if (store) await store.close().catch((e: unknown) => this.#warn('storage-close', e));
  }

  /** Reports a trouble that does not stop the torrent: the `warning` event and stats().warning. */
  #warn(what: WarningKind, err: unknown): undefined {
    const warning = makeWarning(what, this, err);
    const warnings = (this.#warnings ??= new Map());
    warnings.delete(what); // re-inserted last: the latest is shown
    warnings.set(what, warning);
    this.emit('warning', warning);
    return undefined;
  }

  /** Troubles not cleared yet, oldest first. */
  get warnings(): readonly TorrentWarning[] {
    return [...(this.#warnings?.values() ?? [])];
  }

  #fail(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    if (error instanceof StorageError && error.code === 'CLOSED') return;
    this.#error = error;
    this.#setState('error');
    // A disk error pauses the torrent: drop peers, tell trackers, keep what was verified.
    // Fire-and-forget: #stopNetwork's only awaited step (the announcer) reports its own failure.
    void this.#stopNetwork();
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  /** Why the torrent is in the 'error' state (a StorageError for disk trouble, e.g. code NO_SPACE). */
  get error(): Error | undefined {
    return this.#error;
  }

  get downloaded(): number {
    return this.#downloadedBefore + (this.#swarm?.downloaded ?? 0);
  }

  get uploaded(): number {
    return this.#uploadedBefore + (this.#swarm?.uploaded ?? 0);
  }

  get ratio(): number {
    const base = this.downloaded > 0 ? this.downloaded : this.meta.totalLength;
    return base > 0 ? this.uploaded / base : 0;
  }

  /** A snapshot of everything a UI shows. */
  stats(): TorrentStats {
    const store = this.#store;
    const swarm = this.#swarm;
    const total = this.meta.totalLength;
    const left = store ? store.amountLeft : total;
    const have = total - left;
    const wantedLength = this.#wantedLength;
    const wantedLeft = this.#wantedLeft;
    const etaMs = this.#state === 'downloading' ? this.#eta?.timeLeft() : undefined;
    this.#observeRecent();
    return {
      infoHash: this.infoHash,
      name: this.meta.name,
      state: this.#state,
      progress: total === 0 ? (store?.isComplete() ? 1 : 0) : have / total,
      totalLength: total,
      haveBytes: have,
      left,
      wantedLength,
      wantedLeft,
      wantedProgress: wantedLength === 0 ? (store && this.#state !== 'checking' ? 1 : 0) : (wantedLength - wantedLeft) / wantedLength,
      piecesHave: store?.haveCount ?? 0,
      pieceCount: this.meta.pieceCount,
      downloaded: this.downloaded,
      uploaded: this.uploaded,
      downloadRate: swarm ? swarm.downRate.rate() : 0,
      uploadRate: swarm ? swarm.upRate.rate() : 0,
      recentDownloadRate: this.#recent?.down.rate() ?? 0,
      recentUploadRate: this.#recent?.up.rate() ?? 0,
      eta: etaMs === null || etaMs === undefined ? undefined : etaMs / 1000,
      recentEta: this.#state === 'downloading' ? this.#recentEta() : undefined,
      ratio: this.ratio,
      peers: swarm?.peers.size ?? 0,
      seeds: swarm?.seedCount ?? 0,
      wasted: swarm?.wasted ?? 0,
      hashFails: this.#hashFails,
      checkProgress: this.#checkProgress,
      seedingTime: this.#state === 'seeding' && this.#seedingSince !== undefined ? (this.#host.clock.now() - this.#seedingSince) / 1000 : 0,
      error: this.#error?.message,
      warning: [...(this.#warnings?.values() ?? [])].pop()?.message,
      trackerError: this.#tracker.error,
      trackerPeers: this.#tracker.peers,
      ...trackerReport(this.#announcer, this.#host.clock),
    };
  }

  /**
   * The part of stats() a host reads of every torrent once a second (the daemon's tick), without
   * building the rest: state, the choker's rates, the wanted bytes left and the verified bytes. It
   * samples the display rates as stats() does, so they stay as fine-grained as before.
   */
  activity(): TorrentActivity {
    this.#observeRecent();
    const swarm = this.#swarm;
    const store = this.#store;
    return {
      state: this.#state,
      downloadRate: swarm ? swarm.downRate.rate() : 0,
      uploadRate: swarm ? swarm.upRate.rate() : 0,
      wantedLeft: this.#wantedLeft,
      haveBytes: store ? this.meta.totalLength - store.amountLeft : 0,
    };
  }

  #recentEta(): number | undefined {
    const eta = this.#etaRate;
    if (!eta) return undefined;
    eta.rate.observe(this.#wantedLength - this.#wantedLeft - eta.base);
    const rate = eta.rate.rate();
    return rate > 0 ? this.#wantedLeft / rate : undefined;
  }

  /**
   * What each peer gave (downloaded) and took (uploaded) since this torrent object was made, the
   * peers connected now included; most bytes first. Reconnects of one peer (same IP and peer id)
   * add up. At most 1000 peers are remembered (those that moved least are forgotten first).
   */
  peerTransfers(): PeerTransfer[] {
    const live = new Map<string, PeerTransfer>();
    for (const p of this.#swarm?.peers ?? []) {
      const key = transferKey(p);
      const past = this.#transfers?.get(key);
      live.set(key, {
        address: p.address,
        client: clientName(p.peerId),
        downloaded: (past?.downloaded ?? 0) + p.downloaded,
        uploaded: (past?.uploaded ?? 0) + p.uploaded,
        connected: true,
        source: p.source,
      });
    }
    const all = [...live.values(), ...[...(this.#transfers ?? [])].filter(([k]) => !live.has(k)).map(([, t]) => ({ ...t }))];
    return all.sort((a, b) => b.downloaded + b.uploaded - (a.downloaded + a.uploaded));
  }

  /** Adds a leaving peer's bytes to what it moved before. */
  #countTransfer(p: PeerView): void {
    if (p.downloaded === 0 && p.uploaded === 0) return;
    const key = transferKey(p);
    const transfers = (this.#transfers ??= new Map());
    const t = transfers.get(key) ?? { address: p.address, client: clientName(p.peerId), downloaded: 0, uploaded: 0, connected: false, source: p.source };
    t.address = p.address;
    t.downloaded += p.downloaded;
    t.uploaded += p.uploaded;
    transfers.set(key, t);
    if (transfers.size > MAX_PEER_TRANSFERS) {
      let least: string | undefined;
      let leastBytes = Infinity;
      for (const [k, v] of transfers) {
        if (v.downloaded + v.uploaded < leastBytes) [least, leastBytes] = [k, v.downloaded + v.uploaded];
      }
      if (least !== undefined) transfers.delete(least);
    }
  }

  /**
   * Dials peers directly (e.g. `--peer host:port`), now and again while not connected (after
   * `peerRedialMs`, doubling up to 2 min): a peer that was busy (still checking its files) or
   * dropped us gets another chance.
   */
  addPeers(peers: { ip: string; port: number }[]): void {
    this.#peerList.add(peers, 'user');
  }

  /** Where this torrent's data is: the file itself (single-file) or its folder. */
  get contentPath(): string {
    return join(this.savePath, this.#files()[0]?.path[0] ?? this.meta.name);
  }
}

/**
 * A running torrent's door to the network, one small object for both sides: its entry on the wire
 * hub (incoming peers reach the swarm, made for the first of them; the swarm finds itself
 * registered and keeps this entry), what its peer list dials through and the DHT asks (the
 * counts of an empty swarm until there is one; the first dial makes it), and what its announcer
 * asks and tells (the counts; tracker peers and errors).
 */
class SwarmDoor implements TorrentWire, PeerDialer, DhtTorrent, LsdTorrent, AnnounceOwner {
  readonly #torrent: Torrent;

  constructor(torrent: Torrent) {
    this.#torrent = torrent;
  }

  get limits(): WireLimits {
    const meta = this.#torrent.meta;
    return { numPieces: meta.pieceCount, pieceLength: meta.pieceLength, totalLength: meta.totalLength };
  }

  onPeer(conn: PeerConnection): PeerHandler | undefined {
    return liveSwarmOf(this.#torrent)?.onPeer(conn);
  }

  extensionHandshake(conn: PeerConnection): ExtensionHandshake | undefined {
    return swarmOf(this.#torrent)?.extensionHandshake(conn);
  }

  onConnectFailed(host: string, port: number, reason: PeerCloseReason, error?: Error): void {
    swarmOf(this.#torrent)?.onConnectFailed(host, port, reason, error);
  }

  get outgoingSlots(): number {
    return swarmOf(this.#torrent)?.outgoingSlots ?? DEFAULT_MAX_INITIATE;
  }

  get finished(): boolean {
    return swarmOf(this.#torrent)?.finished ?? isFinished(this.#torrent);
  }

  get peers(): ReadonlySet<PeerView> {
    return swarmOf(this.#torrent)?.peers ?? NO_PEERS;
  }

  connect(host: string, port: number, peerId?: Uint8Array, source?: PeerSource): boolean {
    return liveSwarmOf(this.#torrent)?.connect(host, port, peerId, source) ?? false;
  }

  onPeers(peers: { ip: string; port: number }[]): void {
    peerListOf(this.#torrent).add(peers, 'dht');
  }

  shortOfPeers(): boolean {
    return swarmShortOfPeers(this);
  }

  onLsdPeer(peer: LsdPeer): void {
    peerListOf(this.#torrent).add([peer], 'lsd');
  }

  announceStats(): AnnouncerStats {
    const t = this.#torrent;
    return { uploaded: t.uploaded, downloaded: t.downloaded, left: t.store?.amountLeft ?? t.meta.totalLength, numPeers: swarmOf(t)?.peers.size ?? 0 };
  }

  trackerPeers(peers: TrackerPeer[]): void {
    peerListOf(this.#torrent).add(peers, 'tracker');
  }

  trackerError(message: string): void {
    this.#torrent.emit('tracker-error', message);
  }
}

/** A peer across reconnects: its IP and peer id (its port changes when it dials us again). */
function transferKey(p: PeerView): string {
  const id = p.peerId ? Buffer.from(p.peerId).toString('hex') : '';
  return `${p.remoteAddress}/${id}`;
}

/**
 * Per piece, the highest priority of the files it holds: 0 when every file in it is skipped
 * (or it holds only empty files), 2 for 'high', 1 otherwise. A piece shared by a wanted and a
 * skipped file is wanted: it is fetched whole, the skipped file's bytes go to the parts file.
 */
export function pieceLevels(meta: Pick<Metainfo, 'files' | 'pieceLength' | 'pieceCount'>, priorities: readonly FilePriority[]): Uint8Array {
  const levels = new Uint8Array(meta.pieceCount);
  meta.files.forEach((f, i) => {
    if (f.length === 0) return;
    const first = Math.floor(f.offset / meta.pieceLength);
    const last = Math.floor((f.offset + f.length - 1) / meta.pieceLength);
    const p = priorities[i];
    const level = p === 'skip' ? 0 : p === 'high' ? 2 : 1;
    for (let k = first; k <= last; k++) levels[k] = Math.max(levels[k]!, level);
  });
  return levels;
}
