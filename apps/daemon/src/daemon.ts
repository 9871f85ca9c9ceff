import { mkdir, rename } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { parseMagnet, parseTorrent, type MagnetLink, type Metainfo } from '@mainline/metainfo';
import { SlotGate, systemClock, type Clock, type RateLimit } from '@mainline/rate';
import { Session, type BandwidthPriority, type MagnetDownload, type SessionOptions, type Torrent, type TorrentEvent, type TorrentOptions, type TorrentState } from '@mainline/session';
import { moveTorrentData } from '@mainline/storage';
import { Accounting, type TrafficStats } from './accounting.js';
import { ALT_SPEED_KEYS, TurtleSchedule, wallClock, type AltSpeedSettings } from './alt-speed.js';
import type { DaemonConfig } from './config.js';
import { isDone, magnetFetching, noteHave, TorrentEntry, type AnyEntry, type Entry, type MagnetEntry } from './entry.js';
import { DaemonError } from './errors.js';
import { Persistence } from './persistence.js';
import { Registry } from './registry.js';
import { compactPriorities, compactRecord, StateStore, type Priority, type SessionRecord, type TorrentRecord } from './state.js';
import { WatchDir } from './watch-dir.js';
import { defaultPrefs, loadPrefs, type SessionPrefs } from './prefs.js';
import { moveInQueue, queueStarts, type QueueMove } from './queue.js';
import { runScript, scriptEnv } from './scripts.js';
import { VERSION } from './version.js';

export { magnetFetching, type AnyEntry, type Entry, type MagnetEntry, type TrafficStats };

export interface AddOptions {
  downloadDir?: string;
  /** Added stopped (default: the session's start-added-torrents). */
  paused?: boolean;
  priorities?: Priority[];
  labels?: string[];
  peerLimit?: number;
  /** Pieces in order (default: the session's sequential_download). */
  sequential?: boolean;
  /** Transmission's bandwidthPriority: -1 low, 0 normal, 1 high. */
  bandwidthPriority?: -1 | 0 | 1;
}

/** Where peer-port-random-on-start picks (Transmission's peer-port-random-low / -high defaults). */
const RANDOM_PORT_LOW = 49152;
const RANDOM_PORT_HIGH = 65535;

/** The session's name for a record's bandwidthPriority (its share of the session's limits). */
function bandwidthPriorityOf(record: TorrentRecord): BandwidthPriority {
  return record.bandwidthPriority === 1 ? 'high' : record.bandwidthPriority === -1 ? 'low' : 'normal';
}

/** Transmission's per-torrent seeding limits (torrent-set). */
export type SeedLimits = Partial<Pick<TorrentRecord, 'seedRatioMode' | 'seedRatioLimit' | 'seedIdleMode' | 'seedIdleLimit'>>;

export interface SessionSettings extends Partial<AltSpeedSettings> {
  speedLimitUp?: number;
  speedLimitUpEnabled?: boolean;
  speedLimitDown?: number;
  speedLimitDownEnabled?: boolean;
  downloadDir?: string;
  /** Local peer discovery on or off (switched at once). */
  lpdEnabled?: boolean;
  /** Peer exchange on or off (at once, for running torrents too). */
  pexEnabled?: boolean;
  seedRatioLimit?: number;
  seedRatioLimited?: boolean;
  /** The DHT on or off (switched at once; its table is saved when it stops). */
  dhtEnabled?: boolean;
}

export interface DaemonOptions {
  config: DaemonConfig;
  /**
   * Settings the config file or flags set explicitly: speed limits and the download dir changed
   * over RPC are remembered across restarts, except these, which the config always decides.
   */
  pinned?: readonly (keyof DaemonConfig)[];
  /** Where log lines go (default: stderr). */
  log?: (line: string) => void;
  /**
   * Where time comes from (default: the system clock); the session runs on it too, and so does
   * the turtle schedule (by default on wallClock: its minutes are local wall time).
   */
  clock?: Clock;
  /**
   * Passed to the session: tests give in-memory transports and no UDP, or LSD's interfaces
   * (`lsd`, an object, used when lpd-enabled is on at the start).
   */
  session?: Pick<SessionOptions, 'transports' | 'udp' | 'announcer' | 'peerList' | 'lsd'>;
}

export { DaemonError };

const KB = 1000;
/** Transmission scrapes every 30 minutes, the first shortly after a start. */
const SCRAPE_INTERVAL_S = 30 * 60;
const SCRAPE_AFTER_START_S = 2;
/** Torrent starts at once (see #startGate); a full check of the data frees its slot when hashing begins. */
const START_CONCURRENCY = 8;

/**
 * mainlined's core: one Session and the torrents in it, each persisted in the state directory
 * (its .torrent and a JSON record) so that a restart, clean or not, brings every torrent back in
 * its state. The session's own resume records keep the verified pieces.
 */
export class Daemon {
  readonly config: DaemonConfig;
  readonly session: Session;
  readonly state: StateStore;
  readonly clock: Clock;
  /** Unix seconds of the start. */
  readonly startedAt: number;
  readonly #log: (line: string) => void;
  readonly #pinned: ReadonlySet<string>;
  readonly #registry = new Registry<AnyEntry>();
  readonly #accounting: Accounting;
  readonly #persistence: Persistence;
  #watchDir: WatchDir | undefined;
  /** The session-set settings of prefs.ts, kept in the session record. */
  prefs: SessionPrefs;
  readonly #onTick = (): void => this.#tick();
  #closed = false;
  readonly #turtle: TurtleSchedule;
  /** Ids whose data is being moved (set-location): other actions on them wait for the end. */
  readonly #relocating = new Set<number>();
  /**
   * Torrent starts (files opened, resume record checked) run a few at a time: a daemon restarting
   * on 1,000 torrents that started them all together would hold 1,000 of those half done (their
   * promises, buffers and file requests, ~45 KiB each) at its memory peak, and the disk does the
   * same work in the same time either way (libuv runs four file requests at once).
   */
  readonly #startGate = new SlotGate({ limit: START_CONCURRENCY });
  /** The starts holding a slot of the gate, with what frees it. */
  readonly #startSlots = new Map<Entry, () => void>();
  /** start() is listing the saved torrents: the queue runs once they all are. */
  #restoring = false;
  /** The peer port session-set moved to, or the one saved by an earlier run: kept in the session record. */
  #savedPeerPort: number | undefined;

  constructor(options: DaemonOptions) {
    this.config = { ...options.config };
    this.clock = options.clock ?? systemClock;
    this.startedAt = this.nowSeconds();
    this.#pinned = new Set(options.pinned ?? []);
    this.#log = options.log ?? ((l) => void process.stderr.write(`mainlined: ${l}\n`));
    this.state = new StateStore(this.config.stateDir);
    this.prefs = defaultPrefs(this.config.downloadDir);
    this.#accounting = new Accounting(this.clock.now());
    this.#persistence = new Persistence({
      store: this.state,
      sessionRecord: () => this.#sessionRecord(),
      holds: (e) => this.#registry.holds(e),
      log: (l) => this.#log(l),
    });
    const limits = this.#sessionLimits();
    this.session = new Session({
      ...options.session,
      clock: this.clock,
      portRange: this.config.portRange,
      ...(this.config.bind ? { bind: this.config.bind } : {}),
      uploadLimit: limits.upload,
      downloadLimit: limits.download,
      maxConnections: this.config.peerLimitGlobal,
      stateDir: this.state.resumeDir,
      lsd: this.config.lpdEnabled ? (options.session?.lsd ?? true) : false,
      pex: this.config.pexEnabled,
      // The node table beside the torrents' state, not among the resume records.
      dht: { enabled: this.config.dhtEnabled, stateDir: this.config.stateDir, ...(this.config.dhtBootstrap ? { bootstrap: this.config.dhtBootstrap } : {}) },
    });
    // One listener for every torrent's events: none on each torrent.
    this.session.on('torrent-event', (torrent: Torrent, ...event: TorrentEvent) => this.#torrentEvent(torrent, ...event));
    this.#turtle = new TurtleSchedule(options.clock ?? wallClock, () => this.config, (on) => {
      this.#log(`turtle ${on ? 'on' : 'off'} by the schedule`);
      this.setSessionSettings({ altSpeedEnabled: on });
      this.saveSessionSettings().catch((err: unknown) => this.#log(`cannot save the session settings: ${(err as Error).message}`));
    });
  }

  /** The session's limits in bytes/s (0 = none): the turtle's while it is on, else the normal ones. */
  #sessionLimits(): { upload: RateLimit; download: RateLimit } {
    const c = this.config;
    if (c.altSpeedEnabled) return { upload: this.#limit(c.altSpeedUp, true), download: this.#limit(c.altSpeedDown, true) };
    return { upload: this.#limit(c.speedLimitUp, c.speedLimitUpEnabled), download: this.#limit(c.speedLimitDown, c.speedLimitDownEnabled) };
  }

  /** Unix seconds on the daemon's clock. */
  nowSeconds(): number {
    return Math.floor(this.clock.now() / 1000);
  }

  /** A line in the daemon's log. */
  log(line: string): void {
    this.#log(line);
  }

  /** A limit for the session's limiters: off is unlimited (0); on at 0 kB/s is no traffic at all, as in Transmission. */
  #limit(kbps: number, enabled: boolean): RateLimit {
    if (!enabled) return 0;
    return kbps === 0 ? 'none' : Math.round(kbps * KB);
  }

  /** The BitTorrent port (after start()). */
  get peerPort(): number {
    return this.session.port;
  }

  /** Listens, brings back every torrent of the state directory in its state, starts the watch directory. */
  async start(): Promise<void> {
    const record = await this.state.loadSession();
    this.#accounting.load(record);
    this.prefs = loadPrefs(defaultPrefs(this.config.downloadDir), record.prefs);
    const saved: SessionSettings = {};
    for (const k of ['speedLimitUp', 'speedLimitUpEnabled', 'speedLimitDown', 'speedLimitDownEnabled', 'downloadDir', 'lpdEnabled', 'pexEnabled', 'seedRatioLimit', 'seedRatioLimited', 'dhtEnabled', ...ALT_SPEED_KEYS] as const) {
      if (record[k] !== undefined && !this.#pinned.has(k)) Object.assign(saved, { [k]: record[k] });
    }
    this.setSessionSettings(saved);
    // With the schedule on, it decides the turtle at start (as Transmission does).
    this.#turtle.poke();
    await this.session.listen();
    // A peer port or peer limit set over RPC last time, unless the config file or a flag sets one.
    if (record.peerLimitGlobal !== undefined && !this.#pinned.has('peerLimitGlobal')) this.setPeerLimitGlobal(record.peerLimitGlobal);
    if (this.prefs.peerPortRandomOnStart && !this.#pinned.has('portRange')) await this.#randomPeerPort();
    else if (record.peerPort !== undefined && !this.#pinned.has('portRange')) {
      await this.setPeerPort(record.peerPort).catch((err: unknown) => this.#log(`cannot listen on the saved peer port ${record.peerPort}: ${(err as Error).message}; staying on ${this.peerPort}`));
    }
    const records = await this.state.load((file, why) => this.#log(`skipping ${file}: ${why}`));
    // Ids follow the order of adding; queue places as saved (without one: last, in that order).
    [...records]
      .sort((a, b) => (a.record.queuePosition ?? Infinity) - (b.record.queuePosition ?? Infinity))
      .forEach((r, i) => (r.record.queuePosition = i));
    // All listed first, then one pass of the queue starts what may run: a pass per torrent
    // would look at every torrent listed so far each time (quadratic work and garbage).
    this.#restoring = true;
    try {
      for (const { record, bytes } of records) {
        try {
          if (bytes) await this.#open(bytes, record);
          else this.#openMagnet(parseMagnet(record.magnet ?? ''), record);
        } catch (err) {
          this.#log(`cannot restore ${record.name} (${record.infoHash}): ${(err as Error).message}`);
        }
      }
    } finally {
      this.#restoring = false;
    }
    this.#runQueue();
    await this.#persistence.saveSession();
    // The session's one-second tick drives the daemon's periodic work: no timer per torrent.
    this.session.on('tick', this.#onTick);
    if (this.config.watchDir) {
      this.#watchDir = new WatchDir({
        dir: this.config.watchDir,
        intervalMs: this.config.watchIntervalMs,
        clock: this.clock,
        add: async (bytes) => {
          const { entry, duplicate } = await this.add(bytes);
          return { id: entry.id, duplicate };
        },
        trash: () => this.prefs.trashOriginalTorrentFiles,
        log: (l) => this.#log(l),
      });
      await this.#watchDir.start();
    }
  }

  get entries(): AnyEntry[] {
    return this.#registry.entries;
  }

  byId(id: number): AnyEntry | undefined {
    return this.#registry.byId(id);
  }

  byHash(infoHash: string): AnyEntry | undefined {
    return this.#registry.byHash(infoHash);
  }

  /** Ids removed in the last minute (Transmission's `recently-active` answer lists them). */
  recentlyRemoved(): number[] {
    return this.#registry.recentlyRemoved(this.clock.now());
  }

  /** Adds a torrent from its .torrent bytes; an already-known info-hash returns the existing one. */
  async add(bytes: Uint8Array, options: AddOptions = {}): Promise<{ entry: AnyEntry; duplicate: boolean }> {
    const meta = this.#parseNew(() => parseTorrent(bytes), 'invalid or corrupt torrent file');
    const existing = this.#registry.byHash(meta.infoHash);
    if (existing) return { entry: existing, duplicate: true };
    const priorities = options.priorities ?? meta.files.map(() => 'normal' as const);
    if (priorities.length !== meta.files.length) throw new DaemonError(`${priorities.length} file priorities for ${meta.files.length} files`);
    const record = this.#newRecord(meta.infoHash, meta.name, priorities, options);
    // The .torrent and the record are on disk before the torrent runs: a crash from here on
    // brings it back on the next start.
    await this.state.saveTorrentFile(meta.infoHash, bytes);
    await this.state.saveRecord(record);
    const entry = await this.#open(bytes, record, meta);
    this.#accounting.fileAdded();
    this.#log(`added ${meta.name} (${meta.infoHash}) as #${entry.id} into ${record.dataDir ?? record.downloadDir}${record.paused ? ', stopped' : ''}`);
    if (this.prefs.scriptTorrentAddedEnabled && this.prefs.scriptTorrentAddedFilename) this.#script(this.prefs.scriptTorrentAddedFilename, entry);
    return { entry, duplicate: false };
  }

  /**
   * Adds a magnet link: it is listed at once (name from `dn`, else the info-hash) while its
   * metadata is fetched from peers; then the same id becomes a normal torrent. An info-hash
   * already here (as a torrent or a magnet) returns the existing one.
   */
  async addMagnet(uri: string, options: AddOptions = {}): Promise<{ entry: AnyEntry; duplicate: boolean }> {
    const link = this.#parseNew(() => parseMagnet(uri), 'invalid magnet link');
    const existing = this.#registry.byHash(link.infoHash);
    if (existing) return { entry: existing, duplicate: true };
    if (options.priorities && options.priorities.length > 0) throw new DaemonError('a magnet link has no file list until its metadata is here: choose files afterwards');
    const record = compactRecord({ ...this.#newRecord(link.infoHash, link.name ?? link.infoHash, [], options), magnet: uri.trim() });
    await this.state.saveRecord(record);
    const entry = this.#openMagnet(link, record);
    this.#accounting.fileAdded();
    this.#log(`added magnet ${record.name} (${link.infoHash}) as #${entry.id} into ${record.downloadDir}${record.paused ? ', stopped' : ''}`);
    return { entry, duplicate: false };
  }

  /** Parses what is about to be added (refused while shutting down); a parse failure is a DaemonError. */
  #parseNew<T>(parse: () => T, what: string): T {
    if (this.#closed) throw new DaemonError('the daemon is shutting down');
    try {
      return parse();
    } catch (err) {
      throw new DaemonError(`${what}: ${(err as Error).message}`);
    }
  }

  #newRecord(infoHash: string, name: string, priorities: Priority[], options: AddOptions): TorrentRecord {
    const p = this.prefs;
    const last = Math.max(-1, ...this.#registry.entries.map((e) => e.record.queuePosition ?? -1));
    return compactRecord({
      infoHash,
      name,
      downloadDir: options.downloadDir ?? this.config.downloadDir,
      ...(p.incompleteDirEnabled && p.incompleteDir !== (options.downloadDir ?? this.config.downloadDir) ? { dataDir: p.incompleteDir } : {}),
      paused: options.paused ?? !p.startAddedTorrents,
      queuePosition: last + 1,
      ...(options.labels ? { labels: [...options.labels] } : {}),
      // A torrent takes its own copy of the session's per-torrent limit, as in Transmission.
      peerLimit: options.peerLimit ?? p.peerLimitPerTorrent,
      ...(options.bandwidthPriority ? { bandwidthPriority: options.bandwidthPriority } : {}),
      ...((options.sequential ?? p.sequentialDownload) ? { sequential: true } : {}),
      priorities,
      addedDate: this.nowSeconds(),
      doneDate: 0,
      haveBytes: 0,
      secondsDownloading: 0,
      secondsSeeding: 0,
      uploadLimit: 100,
      uploadLimited: false,
      downloadLimit: 100,
      downloadLimited: false,
    });
  }

  #openMagnet(link: MagnetLink, record: TorrentRecord): MagnetEntry {
    if (link.infoHash !== record.infoHash) throw new DaemonError('the magnet link does not match its record');
    const entry: MagnetEntry = { kind: 'magnet', id: this.#registry.allocate(), link, download: undefined, error: undefined, record, startDate: 0, activityDate: 0, queued: false };
    this.#registry.set(entry);
    if (!record.paused) this.#enqueue(entry);
    return entry;
  }

  /** Starts fetching a magnet's metadata; the session saves the .torrent where the daemon keeps it. */
  #fetch(entry: MagnetEntry): void {
    entry.startDate = this.nowSeconds();
    entry.error = undefined;
    let download: MagnetDownload;
    try {
      download = this.session.addMagnet(entry.link, {
        ...this.#torrentOptions(entry.record),
        filePriorities: [],
        withMetadata: (meta) => ({ filePriorities: meta.files.map(() => 'normal') }),
        torrentFile: this.state.torrentPath(entry.link.infoHash),
      });
    } catch (err) {
      entry.error = (err as Error).message;
      this.#log(`#${entry.id} ${entry.record.name}: ${entry.error}`);
      return;
    }
    entry.download = download;
    download.on('metadata', (meta) => this.#log(`#${entry.id}: metadata for ${meta.name}, ${meta.files.length} file(s), ${meta.totalLength} bytes`));
    download.on('error', (e) => {
      entry.error = e.message;
      this.#log(`#${entry.id} ${entry.record.name}: ${e.message}`);
    });
    download.on('torrent', (torrent) => {
      this.#adopt(entry, torrent).catch((e: unknown) => this.#log(`#${entry.id}: ${(e as Error).message}`));
    });
  }

  /** The metadata is here and the torrent is in the session: the magnet's id becomes a torrent. */
  async #adopt(magnet: MagnetEntry, torrent: Torrent): Promise<void> {
    if (!this.#registry.holds(magnet)) {
      await this.session.remove(torrent.infoHash); // removed meanwhile
      return;
    }
    const meta = torrent.meta;
    const record = compactRecord({ ...magnet.record, name: meta.name, priorities: undefined, magnet: undefined });
    const entry = this.#wire(torrent, record, magnet.id);
    entry.startDate = magnet.startDate;
    await this.state.saveRecord(record);
  }

  #torrentOptions(record: TorrentRecord): TorrentOptions {
    // Added paused, then resumed without waiting: a torrent's check can take minutes and an RPC
    // must answer at once (Transmission shows "Verifying" meanwhile).
    // Seeding limits are the daemon's (Transmission's modes, see #checkSeedLimits), not the session's.
    return {
      savePath: record.dataDir ?? record.downloadDir,
      paused: true,
      filePriorities: record.priorities,
      uploadLimit: this.#limit(record.uploadLimit, record.uploadLimited),
      downloadLimit: this.#limit(record.downloadLimit, record.downloadLimited),
      maxPeers: record.peerLimit ?? this.prefs.peerLimitPerTorrent,
      bandwidthPriority: bandwidthPriorityOf(record),
      ...(record.honorsSessionLimits === false ? { honorsSessionLimits: false } : {}),
      ...(record.sequential ? { sequential: true } : {}),
      ...(record.trackers ? { trackers: record.trackers } : {}),
      ...(record.filePaths ? { filePaths: record.filePaths } : {}),
      ...(record.ignoreFreeSpace || !this.config.checkFreeSpace ? { ignoreFreeSpace: true } : {}),
    };
  }

  async #open(bytes: Uint8Array, record: TorrentRecord, parsed?: Metainfo): Promise<Entry> {
    const meta = parsed ?? parseTorrent(bytes);
    if (meta.infoHash !== record.infoHash) throw new DaemonError('the .torrent does not match its record');
    if (record.priorities && record.priorities.length !== meta.files.length) record.priorities = undefined;
    if (record.filePaths && record.filePaths.length !== meta.files.length) record.filePaths = undefined;
    // The strings the metainfo holds anyway, not a second copy of each per torrent.
    record.infoHash = meta.infoHash;
    if (record.name === meta.name) record.name = meta.name;
    const torrent = await this.session.add(meta, this.#torrentOptions(record));
    return this.#wire(torrent, record, this.#registry.allocate());
  }

  /** Lists a torrent under `id` and follows its events; starts it unless the record says stopped. */
  #wire(torrent: Torrent, record: TorrentRecord, id: number): Entry {
    const entry = new TorrentEntry(id, torrent, record);
    this.#registry.set(entry);
    if (!record.paused) this.#enqueue(entry);
    return entry;
  }

  /**
   * What the daemon does on its torrents' events, heard once for all of them from the session
   * (no closures on each torrent); a torrent no longer listed (removed, or reopened as another
   * object) is not followed.
   */
  #torrentEvent(torrent: Torrent, ...event: TorrentEvent): void {
    const entry = this.#registry.byHash(torrent.infoHash);
    if (entry?.kind !== 'torrent' || entry.torrent !== torrent) return;
    if (event[0] === 'state') this.#stateChanged(entry, event[1]);
    // Hashing its data: the check is paced by the hashing threads, its start slot goes to the next.
    else if (event[0] === 'checking') this.#startSlots.get(entry)?.();
    else if (event[0] === 'done') {
      entry.record.doneDate = this.nowSeconds();
      this.#persist(entry);
      void this.#completed(entry);
    } else if (event[0] === 'seeding-done') {
      entry.finished = true;
      entry.record.paused = true;
      this.#log(`#${entry.id} ${entry.meta.name}: seeding stopped, ${event[1]}`);
      this.#persist(entry);
      this.#doneSeeding(entry);
    }
  }

  #stateChanged(entry: Entry, st: TorrentState): void {
    const previous = entry.lastState;
    entry.lastState = st;
    if (st === 'checking') entry.verifyQueued = false;
    // When the data is opened the totals include earlier sessions (from the resume record): this
    // session's traffic counts from there. The state changes right after opening, before any data.
    if (st === 'downloading' || st === 'seeding') this.#accounting.baseline(entry.id, entry.torrent);
    // The cause of a torrent's error state (its 'error' event needs a listener on the torrent).
    if (st === 'error') this.#log(`#${entry.id} ${entry.meta.name}: ${entry.torrent.error?.message ?? 'error'}`);
    // Found complete by a check (not by downloading: 'done' handles that): out of the incomplete dir too.
    if (st === 'seeding' && previous === 'checking' && entry.record.dataDir !== undefined && !entry.moving) {
      void Promise.resolve()
        .then(() => this.#moveData(entry))
        .catch((err: unknown) => this.#log(`#${entry.id} ${entry.meta.name}: cannot move the data to ${entry.record.downloadDir}: ${(err as Error).message}`));
    }
  }

  /** Started: through the queue (status 3 / 5 until a slot is free), or at once when it has room. */
  #enqueue(entry: AnyEntry): void {
    entry.queued = true;
    if (!this.#restoring) this.#runQueue();
  }

  /** Starts the queued torrents that the free download and seed slots allow. */
  #runQueue(): void {
    const now = this.nowSeconds();
    const stalledSecs = this.prefs.queueStalledMinutes * 60;
    const items = [];
    for (const e of this.#registry.entries) {
      if (e.kind === 'magnet') {
        // Fetching the metadata is downloading: it takes a download slot, or waits for one.
        const running = !e.queued && !e.record.paused && magnetFetching(e);
        items.push({ id: e.id, position: e.record.queuePosition ?? 0, queued: e.queued && !e.record.paused, running, done: false, stalled: now - Math.max(e.activityDate, e.startDate) > stalledSecs });
        continue;
      }
      const st = e.torrent.state;
      const running = !e.queued && !e.record.paused && (e.starting || (st !== 'paused' && st !== 'stopped' && st !== 'error'));
      items.push({ id: e.id, position: e.record.queuePosition ?? 0, queued: e.queued && !e.record.paused, running, done: isDone(e), stalled: now - Math.max(e.activityDate, e.startDate) > stalledSecs });
    }
    for (const id of queueStarts(items, this.prefs)) {
      const e = this.#registry.byId(id);
      if (!e) continue;
      e.queued = false;
      if (e.kind === 'magnet') this.#fetch(e);
      else this.#resume(e);
    }
  }

  /** Moves torrents in the queue (queue-move-top / up / down / bottom). */
  async moveInQueue(entries: readonly AnyEntry[], how: QueueMove): Promise<void> {
    const order = this.#queueOrder().map((e) => e.id);
    this.#renumber(moveInQueue(order, new Set(entries.map((e) => e.id)), how));
    await this.#saveQueue();
  }

  /** Puts one torrent at `position` (torrent-set queuePosition); the others keep their order. */
  async setQueuePosition(entry: AnyEntry, position: number): Promise<void> {
    const order = this.#queueOrder()
      .map((e) => e.id)
      .filter((id) => id !== entry.id);
    order.splice(Math.max(0, Math.min(order.length, Math.floor(position))), 0, entry.id);
    this.#renumber(order);
    await this.#saveQueue();
  }

  #queueOrder(): AnyEntry[] {
    return this.#registry.entries.sort((a, b) => (a.record.queuePosition ?? 0) - (b.record.queuePosition ?? 0) || a.id - b.id);
  }

  #renumber(order: readonly number[]): void {
    order.forEach((id, i) => {
      const e = this.#registry.byId(id);
      if (e) e.record.queuePosition = i;
    });
  }

  async #saveQueue(): Promise<void> {
    await Promise.all(this.#registry.entries.map((e) => this.state.saveRecord(e.record)));
    this.#runQueue();
  }

  /**
   * A download finished: data kept in the incomplete dir moves to the download dir (each top
   * item renamed, so it appears there whole), then the torrent-done script runs.
   */
  async #completed(entry: Entry): Promise<void> {
    let current = entry;
    if (entry.record.dataDir !== undefined) {
      try {
        current = await this.#moveData(entry);
      } catch (err) {
        this.#log(`#${entry.id} ${entry.meta.name}: cannot move the data to ${entry.record.downloadDir}: ${(err as Error).message}; it stays in ${entry.record.dataDir}`);
      }
    }
    if (this.prefs.scriptTorrentDoneEnabled && this.prefs.scriptTorrentDoneFilename) this.#script(this.prefs.scriptTorrentDoneFilename, current);
  }

  /** The data goes from the incomplete dir to the download dir, and the torrent reopens there (its resume record still holds). */
  async #moveData(entry: Entry): Promise<Entry> {
    const from = entry.record.dataDir!;
    const to = entry.record.downloadDir;
    entry.moving = true;
    try {
      const wasPaused = entry.record.paused;
      await entry.torrent.pause();
      await entry.torrent.saveResume();
      await this.session.remove(entry.meta.infoHash);
      const top = (entry.record.filePaths?.[0] ?? entry.meta.files[0]!.path)[0]!;
      await mkdir(to, { recursive: true });
      await rename(join(from, top), join(to, top));
      const record = compactRecord({ ...entry.record, dataDir: undefined });
      await this.state.saveRecord(record);
      const torrent = await this.session.add(entry.meta, this.#torrentOptions(record));
      const moved = this.#wire(torrent, record, entry.id);
      moved.startDate = entry.startDate;
      moved.activityDate = entry.activityDate;
      if (!wasPaused) {
        moved.queued = false;
        this.#resume(moved);
      }
      this.#log(`#${entry.id} ${entry.meta.name}: complete, moved from ${from} to ${to}`);
      return moved;
    } finally {
      entry.moving = false;
    }
  }

  /** Transmission 4's done-seeding script, when set: a torrent stopped at its seeding limit. */
  #doneSeeding(e: Entry): void {
    if (this.prefs.scriptTorrentDoneSeedingEnabled && this.prefs.scriptTorrentDoneSeedingFilename) this.#script(this.prefs.scriptTorrentDoneSeedingFilename, e);
  }

  /** Runs a torrent script with Transmission's environment. */
  #script(file: string, entry: Entry): void {
    runScript(
      file,
      scriptEnv(
        {
          id: entry.id,
          name: entry.meta.name,
          infoHash: entry.meta.infoHash,
          dir: entry.record.dataDir ?? entry.record.downloadDir,
          labels: entry.record.labels ?? [],
          trackers: entry.meta.trackers.flat(),
          downloaded: entry.torrent.downloaded,
        },
        VERSION,
        new Date(this.clock.now()),
      ),
      (l) => this.#log(l),
    );
  }

  /** Scrapes a running torrent's trackers (Transmission: every 30 min, the first soon after the start). */
  #scrape(e: Entry, now: number): void {
    e.scraping = true;
    void e.torrent.scrape().finally(() => {
      e.scraping = false;
      e.nextScrapeAt = now + SCRAPE_INTERVAL_S;
    });
  }

  /** Transmission's seeding limits: ratio and idle time, each the session's, the torrent's own or none. */
  #checkSeedLimits(e: Entry, now: number): void {
    if (e.torrent.state !== 'seeding' || e.record.paused) return;
    const r = e.record;
    const ratioLimit = r.seedRatioMode === 1 ? r.seedRatioLimit : r.seedRatioMode === 2 ? undefined : this.config.seedRatioLimited ? this.config.seedRatioLimit : undefined;
    const idleLimit = r.seedIdleMode === 1 ? r.seedIdleLimit : r.seedIdleMode === 2 ? undefined : this.prefs.idleSeedingLimitEnabled ? this.prefs.idleSeedingLimit : undefined;
    let reason: string | undefined;
    if (ratioLimit !== undefined && e.torrent.ratio >= ratioLimit) reason = `ratio ${e.torrent.ratio.toFixed(2)} reached (limit ${ratioLimit})`;
    else if (idleLimit !== undefined && now - Math.max(e.activityDate, e.startDate) >= idleLimit * 60) reason = `idle for ${idleLimit} minutes`;
    if (reason === undefined) return;
    e.finished = true;
    r.paused = true;
    this.#log(`#${e.id} ${e.meta.name}: seeding stopped, ${reason}`);
    this.#doneSeeding(e);
    e.torrent
      .pause()
      .then(() => this.#persist(e))
      .catch((err: unknown) => this.#log(`#${e.id}: cannot stop: ${(err as Error).message}`));
  }

  #resume(entry: Entry): void {
    entry.startDate = this.nowSeconds();
    // Not activity: as in Transmission, activityDate stays 0 until data moves (-i prints no
    // "Latest activity"; its web UI shows the same "days ago" for both daemons).
    entry.nextScrapeAt = entry.startDate + SCRAPE_AFTER_START_S;
    entry.finished = false;
    if (entry.starting) return; // on its way already
    entry.starting = true;
    void this.#startGate.acquire().then(async (release) => {
      this.#startSlots.set(entry, release);
      try {
        // Stopped, removed or reopened (another entry now) while it waited: nothing to start.
        if (this.#closed || entry.record.paused || !this.#registry.holds(entry)) return;
        await entry.torrent.resume(entry.record.ignoreFreeSpace === true ? { ignoreFreeSpace: true } : {});
      } catch (e) {
        this.#log(`#${entry.id}: cannot start: ${(e as Error).message}`);
      } finally {
        entry.starting = false;
        this.#startSlots.delete(entry);
        release();
      }
    });
  }

  #persist(entry: Entry): void {
    this.#persistence.persist(entry);
  }

  /** The entry now listed under this id: a magnet's becomes a torrent's when its metadata arrives. */
  #current(entry: AnyEntry): AnyEntry {
    return this.#registry.byId(entry.id) ?? entry;
  }

  /**
   * Starts (or continues) a torrent, or a magnet's fetch; a no-op when it runs already. `insist`
   * (torrent-start-now) creates the files even when they do not fit the free space, from then on.
   */
  async startTorrent(given: AnyEntry, options: { insist?: boolean } = {}): Promise<void> {
    const entry = this.#current(given);
    this.#notRelocating(entry);
    if (entry.kind === 'magnet') {
      if (magnetFetching(entry) && !entry.record.paused) return;
      if (entry.queued && !entry.record.paused && options.insist !== true) return;
      entry.record.paused = false;
      await this.state.saveRecord(entry.record);
      // torrent-start-now goes past the queue; torrent-start waits for a slot.
      if (options.insist === true) {
        entry.queued = false;
        this.#fetch(entry);
      } else this.#enqueue(entry);
      return;
    }
    const idle = !entry.starting && (entry.torrent.state === 'paused' || entry.torrent.state === 'stopped' || entry.torrent.state === 'error');
    if (!entry.record.paused && !idle && !(options.insist === true && entry.queued)) return;
    if (!entry.record.paused && entry.queued && options.insist !== true) return;
    entry.record.paused = false;
    if (options.insist === true) entry.record.ignoreFreeSpace = true;
    await this.state.saveRecord(entry.record);
    // torrent-start-now goes past the queue; torrent-start waits for a slot.
    if (options.insist === true) {
      entry.queued = false;
      this.#resume(entry);
    } else this.#enqueue(entry);
  }

  /** Stops a torrent (trackers told, resume data saved) or a magnet's fetch; it stays stopped across restarts. */
  async stopTorrent(given: AnyEntry): Promise<void> {
    const entry = this.#current(given);
    this.#notRelocating(entry);
    entry.record.paused = true;
    entry.queued = false;
    await this.state.saveRecord(entry.record);
    if (entry.kind === 'magnet') {
      const download = entry.download;
      entry.download = undefined;
      await download?.cancel();
      this.#runQueue();
      return;
    }
    await entry.torrent.pause();
    this.#persist(entry);
    this.#runQueue();
  }

  /** Hashes the data again in the background; a stopped torrent stays stopped afterwards. */
  verifyTorrent(entry: AnyEntry): void {
    if (entry.kind === 'magnet') return; // nothing to verify yet (Transmission ignores it too)
    this.#notRelocating(entry);
    if (entry.torrent.state === 'checking' || entry.verifyQueued) return;
    entry.verifyQueued = true;
    const stopped = entry.record.paused;
    entry.torrent
      .recheck()
      .then(async () => {
        entry.verifyQueued = false;
        const s = entry.torrent.stats();
        this.#log(`#${entry.id} ${entry.meta.name}: verified, ${s.piecesHave} of ${s.pieceCount} pieces good`);
        if (stopped || entry.record.paused) await entry.torrent.pause();
        this.#persist(entry);
      })
      .catch((e: unknown) => {
        entry.verifyQueued = false;
        this.#log(`#${entry.id}: verify failed: ${(e as Error).message}`);
      });
  }

  /** Forgets a torrent (trackers told `stopped`), optionally deleting its data. */
  async remove(given: AnyEntry, deleteData: boolean): Promise<void> {
    const entry = this.#current(given);
    this.#notRelocating(entry);
    if (!this.#registry.delete(entry, this.clock.now())) return;
    if (entry.kind === 'magnet') {
      // Cancelling closes every socket of the fetch (and drops the torrent if it was being added).
      await entry.download?.cancel();
      await this.session.remove(entry.record.infoHash);
      await this.state.remove(entry.record.infoHash);
      this.#log(`removed #${entry.id} ${entry.record.name} (magnet)`);
      return;
    }
    this.#accounting.forget(entry.id, entry.torrent);
    // Only the torrent's own files go, and the directories that became empty (as Transmission).
    const deleted = await this.session.remove(entry.meta.infoHash, { deleteData });
    await this.state.remove(entry.meta.infoHash);
    this.#log(`removed #${entry.id} ${entry.meta.name}${deleteData ? ` and its data (${deleted?.removed.length ?? 0} files and directories)` : ''}`);
    for (const k of deleted?.kept ?? []) this.#log(`#${entry.id}: kept ${k.path}: ${k.reason}`);
    this.#renumber(this.#queueOrder().map((e) => e.id));
    this.#runQueue();
  }

  /**
   * Labels, seeding limits, peer limit, session-limits honoring, trackers (torrent-set). What the
   * session fixes when a torrent is added (peer limit, limiters, trackers) is applied by closing
   * and adding the torrent again, resuming from its resume record.
   */
  async setTorrentOptions(given: AnyEntry, o: SeedLimits & { labels?: string[]; peerLimit?: number; honorsSessionLimits?: boolean; trackers?: string[][]; sequential?: boolean; bandwidthPriority?: -1 | 0 | 1 }): Promise<void> {
    const entry = this.#current(given);
    const r = entry.record;
    if (o.labels !== undefined) r.labels = [...o.labels];
    if (o.sequential !== undefined) {
      if (o.sequential) r.sequential = true;
      else delete r.sequential;
      if (entry.kind === 'torrent') entry.torrent.setSequential(o.sequential);
    }
    if (o.bandwidthPriority !== undefined) {
      if (o.bandwidthPriority === 0) delete r.bandwidthPriority;
      else r.bandwidthPriority = o.bandwidthPriority;
      // At once, from the next request on: no reopen.
      if (entry.kind === 'torrent') entry.torrent.setBandwidthPriority(bandwidthPriorityOf(r));
    }
    for (const k of ['seedRatioMode', 'seedRatioLimit', 'seedIdleMode', 'seedIdleLimit'] as const) if (o[k] !== undefined) Object.assign(r, { [k]: o[k] });
    let reopen = false;
    if (o.peerLimit !== undefined && o.peerLimit !== (r.peerLimit ?? this.prefs.peerLimitPerTorrent)) {
      r.peerLimit = o.peerLimit;
      reopen = true;
    }
    if (o.honorsSessionLimits !== undefined && o.honorsSessionLimits !== (r.honorsSessionLimits ?? true)) {
      if (o.honorsSessionLimits) delete r.honorsSessionLimits;
      else r.honorsSessionLimits = false;
      reopen = true;
    }
    if (o.trackers !== undefined) {
      if (entry.kind === 'magnet') throw new DaemonError(`#${entry.id} has no metadata yet: change its trackers once it is here`);
      r.trackers = o.trackers.map((t) => [...t]);
      reopen = true;
    }
    await this.state.saveRecord(r);
    if (entry.kind === 'torrent' && reopen) await this.#reopen(entry);
  }

  /**
   * Transmission's torrent-rename-path: the file or folder `path` (as torrent-get's file names
   * show it, e.g. `name/sub`) gets the last component `name`, on disk when it is there and in the
   * torrent's file list; renaming the top item renames the torrent. The torrent reopens on the new
   * paths (its resume record still holds: a rename keeps sizes and times).
   */
  async renamePath(given: AnyEntry, path: string, name: string): Promise<{ path: string; name: string; id: number }> {
    const entry = this.#current(given);
    if (entry.kind !== 'torrent') throw new DaemonError(`#${entry.id} has no file list until its metadata is here`);
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) throw new DaemonError(`torrent-rename-path: "${name}" is not a file name`);
    const from = path.split('/').filter((c) => c !== '');
    const paths = entry.record.filePaths ?? entry.meta.files.map((f) => [...f.path]);
    const under = (p: readonly string[]): boolean => from.length <= p.length && from.every((c, i) => p[i] === c);
    if (from.length === 0 || !paths.some(under)) throw new DaemonError(`torrent-rename-path: the torrent has no file or folder "${path}"`);
    const to = [...from.slice(0, -1), name];
    const renamed = paths.map((p) => (under(p) ? [...to, ...p.slice(from.length)] : p));
    if (from.join('/') !== to.join('/') && paths.some((p) => to.every((c, i) => p[i] === c) && !under(p))) throw new DaemonError(`torrent-rename-path: "${to.join('/')}" is already in the torrent`);
    const dir = entry.record.dataDir ?? entry.record.downloadDir;
    const running = !entry.record.paused && !entry.queued;
    await entry.torrent.pause();
    await entry.torrent.saveResume();
    try {
      await rename(join(dir, ...from), join(dir, ...to));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // nothing on disk yet: only the names change
    }
    entry.record.filePaths = renamed;
    if (from.length === 1) entry.record.name = name;
    await this.state.saveRecord(entry.record);
    entry.queued = false;
    entry.record.paused = !running;
    await this.#reopen(entry);
    return { path, name, id: entry.id };
  }

  /** Closes a torrent in the session and adds it again from its record (to take options fixed at adding). */
  async #reopen(entry: Entry): Promise<void> {
    const running = !entry.record.paused && !entry.queued;
    await entry.torrent.pause();
    await entry.torrent.saveResume();
    await this.session.remove(entry.meta.infoHash);
    const torrent = await this.session.add(entry.meta, this.#torrentOptions(entry.record));
    const again = this.#wire(torrent, entry.record, entry.id);
    again.startDate = entry.startDate;
    again.activityDate = entry.activityDate;
    again.queued = entry.queued;
    if (running) {
      again.queued = false;
      this.#resume(again);
    }
  }

  #notRelocating(entry: AnyEntry): void {
    if (this.#relocating.has(entry.id)) throw new DaemonError(`#${entry.id} is being moved to ${entry.record.downloadDir}; try again when it is done`);
  }

  /**
   * Transmission's set-location. With `move` the data goes to `location` (its own files only,
   * nothing overwritten, no link followed, times kept so no recheck is needed; on a failure it
   * stays whole where it was) and the torrent carries on from there. Without, the torrent is
   * pointed at data already in `location` and checked again. Either way a running torrent runs on.
   */
  async setLocation(given: AnyEntry, location: string, move: boolean): Promise<void> {
    const entry = this.#current(given);
    this.#notRelocating(entry);
    const to = resolve(location);
    const state = resolve(this.config.stateDir);
    if (to === state || to.startsWith(state + sep)) throw new DaemonError(`${to} is inside the state directory ${state}: choose another location`);
    if (entry.kind === 'magnet') {
      // No data yet: the fetch starts again with the new place.
      entry.record.downloadDir = to;
      await this.state.saveRecord(entry.record);
      if (magnetFetching(entry)) {
        const download = entry.download;
        entry.download = undefined;
        await download?.cancel();
        this.#fetch(entry);
      }
      return;
    }
    // Where the data is now: the incomplete dir while incomplete, else the download dir.
    const from = entry.record.dataDir ?? entry.record.downloadDir;
    if (move && resolve(from) === to) return;
    this.#relocating.add(entry.id);
    try {
      this.#accounting.forget(entry.id, entry.torrent);
      // Out of the session (stopped, resume data saved, files closed), then back with the new place.
      await this.session.remove(entry.meta.infoHash);
      let failure: unknown;
      if (move) {
        try {
          const paths = entry.record.filePaths;
          const r = await moveTorrentData({ from, to, files: entry.meta.files.map((f, i) => ({ path: paths?.[i] ?? f.path, length: f.length })), name: entry.meta.infoHash });
          this.#log(`#${entry.id} ${entry.meta.name}: moved ${r.moved.length} file(s) from ${from} to ${to}`);
        } catch (err) {
          failure = err;
        }
      }
      if (failure === undefined) {
        // As Transmission: the new location is where the data stays, incomplete or not.
        entry.record.downloadDir = to;
        entry.record.dataDir = undefined;
        await this.state.saveRecord(entry.record);
      }
      const paused = entry.record.paused;
      const torrent = await this.session.add(entry.meta, this.#torrentOptions(entry.record));
      // Found data is checked first (the verify starts it when it ran before).
      if (!move) entry.record.paused = true;
      const next = this.#wire(torrent, entry.record, entry.id);
      next.startDate = entry.startDate;
      next.activityDate = entry.activityDate;
      entry.record.paused = paused;
      if (failure !== undefined) throw new DaemonError(`cannot move #${entry.id} to ${to}: ${(failure as Error).message}; the data stays in ${from}`);
      if (!move) {
        this.#relocating.delete(entry.id);
        this.verifyTorrent(next);
      }
    } finally {
      this.#relocating.delete(entry.id);
    }
  }

  async setPriorities(entry: AnyEntry, priorities: Priority[]): Promise<void> {
    if (entry.kind === 'magnet') {
      if (priorities.length > 0) throw new DaemonError(`#${entry.id} has no file list until its metadata is here`);
      return;
    }
    await entry.torrent.setFilePriorities(priorities);
    entry.record.priorities = compactPriorities(priorities);
    // With the data closed the saved count no longer says what is left of the new choice.
    if (!entry.torrent.store) entry.record.leftUntilDone = undefined;
    noteHave(entry);
    await this.state.saveRecord(entry.record);
  }

  async setTorrentLimits(entry: AnyEntry, limits: Partial<Pick<TorrentRecord, 'uploadLimit' | 'uploadLimited' | 'downloadLimit' | 'downloadLimited'>>): Promise<void> {
    Object.assign(entry.record, limits);
    const r = entry.record;
    // A magnet's limits apply when its torrent is added (from the record).
    if (entry.kind === 'torrent') entry.torrent.setLimits({ upload: this.#limit(r.uploadLimit, r.uploadLimited), download: this.#limit(r.downloadLimit, r.downloadLimited) });
    await this.state.saveRecord(r);
  }

  /** Session-wide speed limits (kB/s) and the default download directory; kept across restarts. */
  setSessionSettings(s: SessionSettings): void {
    const c = this.config;
    if (s.speedLimitUp !== undefined) c.speedLimitUp = s.speedLimitUp;
    if (s.speedLimitUpEnabled !== undefined) c.speedLimitUpEnabled = s.speedLimitUpEnabled;
    if (s.speedLimitDown !== undefined) c.speedLimitDown = s.speedLimitDown;
    if (s.speedLimitDownEnabled !== undefined) c.speedLimitDownEnabled = s.speedLimitDownEnabled;
    if (s.downloadDir !== undefined) c.downloadDir = s.downloadDir;
    if (s.seedRatioLimit !== undefined) c.seedRatioLimit = s.seedRatioLimit;
    if (s.seedRatioLimited !== undefined) c.seedRatioLimited = s.seedRatioLimited;
    if (s.pexEnabled !== undefined) {
      c.pexEnabled = s.pexEnabled;
      this.session.setPex(s.pexEnabled);
    }
    if (s.lpdEnabled !== undefined && s.lpdEnabled !== c.lpdEnabled) {
      c.lpdEnabled = s.lpdEnabled;
      // Opens or closes the LSD sockets; its outcome is the session's lsdStatus().
      void this.session.setLsd(s.lpdEnabled).catch(() => undefined);
    }
    if (s.dhtEnabled !== undefined && s.dhtEnabled !== c.dhtEnabled) {
      c.dhtEnabled = s.dhtEnabled;
      this.session.setDht(s.dhtEnabled).catch((err: unknown) => this.#log(`DHT: ${(err as Error).message}`));
    }
    for (const k of ALT_SPEED_KEYS) if (s[k] !== undefined) Object.assign(c, { [k]: s[k] });
    this.session.setLimits(this.#sessionLimits());
    if (TurtleSchedule.touchesSchedule(s)) this.#turtle.poke();
  }

  /**
   * Moves the peer port while running (session-set peer-port): TCP and UDP together, every
   * connection kept, the trackers told at once (Session.setPort). Kept across restarts unless the
   * config file or a flag sets the port.
   * @throws RawServerError NO_FREE_PORT when the port is taken (nothing changes then)
   */
  async setPeerPort(port: number): Promise<void> {
    if (port === this.session.port) return;
    const old = this.session.port;
    await this.session.setPort(port);
    this.#savedPeerPort = port;
    this.#log(`peer port moved from ${old} to ${port}`);
  }

  /** peer-port-random-on-start: a random free port of 49152-65535 (a few tries), else the one listening stays. */
  async #randomPeerPort(): Promise<void> {
    for (let i = 0; i < 8; i++) {
      const port = RANDOM_PORT_LOW + Math.floor(Math.random() * (RANDOM_PORT_HIGH - RANDOM_PORT_LOW + 1));
      try {
        await this.session.setPort(port);
        this.#savedPeerPort = undefined;
        this.#log(`peer-port-random-on-start: listening on ${port}`);
        return;
      } catch {
        // taken: try another
      }
    }
    this.#log(`peer-port-random-on-start: no free port found; staying on ${this.peerPort}`);
  }

  /**
   * The most peer connections of the session (session-set peer-limit-global), applied at once:
   * lowered below the connections open, the least useful are closed (Session.setMaxConnections).
   */
  setPeerLimitGlobal(limit: number): void {
    this.config.peerLimitGlobal = limit;
    const closed = this.session.setMaxConnections(limit);
    if (closed > 0) this.#log(`peer-limit-global ${limit}: closed ${closed} connections over it`);
  }

  /** DHT on or off (session-get's dht-enabled). */
  get dhtEnabled(): boolean {
    return this.config.dhtEnabled;
  }

  /** session-set's settings of prefs.ts; the queue runs again at once (a bigger queue starts torrents). */
  setPrefs(prefs: Partial<SessionPrefs>): void {
    Object.assign(this.prefs, prefs);
    this.#runQueue();
  }

  async saveSessionSettings(): Promise<void> {
    await this.#persistence.saveSession();
  }

  /** This session's traffic and the totals over every session. */
  traffic(): { current: TrafficStats; cumulative: TrafficStats } {
    return this.#accounting.traffic(this.clock.now(), this.#registry.entries.filter((e) => e.kind === 'torrent'));
  }

  #sessionRecord(): SessionRecord {
    const { cumulative } = this.traffic();
    const c = this.config;
    return {
      ...cumulative,
      speedLimitUp: c.speedLimitUp,
      speedLimitUpEnabled: c.speedLimitUpEnabled,
      speedLimitDown: c.speedLimitDown,
      speedLimitDownEnabled: c.speedLimitDownEnabled,
      downloadDir: c.downloadDir,
      lpdEnabled: c.lpdEnabled,
      pexEnabled: c.pexEnabled,
      ...Object.fromEntries(ALT_SPEED_KEYS.map((k) => [k, c[k]])),
      seedRatioLimit: c.seedRatioLimit,
      seedRatioLimited: c.seedRatioLimited,
      prefs: { ...this.prefs },
      dhtEnabled: c.dhtEnabled,
      peerLimitGlobal: c.peerLimitGlobal,
      ...(this.#savedPeerPort !== undefined ? { peerPort: this.#savedPeerPort } : {}),
    };
  }

  /** Once a second (the session's tick): time counters, activity, traffic, periodic saves. */
  #tick(): void {
    const now = this.nowSeconds();
    const entries = this.#registry.entries;
    for (const e of entries) {
      if (e.kind === 'magnet') {
        if (magnetFetching(e)) e.record.secondsDownloading++;
        continue;
      }
      // activity(), not stats(): this runs for every torrent every second.
      const s = e.torrent.activity();
      if (s.state === 'downloading') e.record.secondsDownloading++;
      if (s.state === 'seeding') e.record.secondsSeeding++;
      if (s.downloadRate >= 1 || s.uploadRate >= 1) e.activityDate = now;
      this.#checkSeedLimits(e, now);
      if ((s.state === 'downloading' || s.state === 'seeding') && !e.scraping && now >= e.nextScrapeAt && e.meta.trackers.length > 0) this.#scrape(e, now);
    }
    this.#runQueue();
    this.#persistence.tick(entries);
  }

  /**
   * Clean shutdown: resume data and records flushed first, then the session closes (trackers get
   * `stopped`), bounded by `timeoutMs` so a dead tracker cannot hold the exit.
   */
  async close(timeoutMs = 4000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.session.off('tick', this.#onTick);
    this.#turtle.close();
    await this.#watchDir?.close();
    await this.#persistence.flush(this.entries);
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    await Promise.race([
      this.session.close(),
      new Promise<void>((resolve) => {
        timer = this.clock.setTimeout(resolve, timeoutMs);
      }),
    ]);
    if (timer) this.clock.clearTimeout(timer);
  }
}
