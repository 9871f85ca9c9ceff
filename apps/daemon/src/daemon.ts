import { encodeTorrent, parseMagnet, parseTorrent, type MagnetLink, type Metainfo } from '@mainline/metainfo';
import { systemClock, type Clock } from '@mainline/rate';
import { Session, type MagnetDownload, type SessionOptions, type Torrent, type TorrentOptions } from '@mainline/session';
import { Accounting, type TrafficStats } from './accounting.js';
import type { DaemonConfig } from './config.js';
import { magnetFetching, noteHave, type AnyEntry, type Entry, type MagnetEntry } from './entry.js';
import { DaemonError } from './errors.js';
import { Persistence } from './persistence.js';
import { Registry } from './registry.js';
import { StateStore, type Priority, type SessionRecord, type TorrentRecord } from './state.js';
import { WatchDir } from './watch-dir.js';

export { magnetFetching, type AnyEntry, type Entry, type MagnetEntry, type TrafficStats };

export interface AddOptions {
  downloadDir?: string;
  paused?: boolean;
  priorities?: Priority[];
}

export interface SessionSettings {
  speedLimitUp?: number;
  speedLimitUpEnabled?: boolean;
  speedLimitDown?: number;
  speedLimitDownEnabled?: boolean;
  downloadDir?: string;
  /** Local peer discovery on or off (switched at once). */
  lpdEnabled?: boolean;
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
  /** Where time comes from (default: the system clock); the session runs on it too. */
  clock?: Clock;
  /**
   * Passed to the session: tests give in-memory transports and no UDP, or LSD's interfaces
   * (`lsd`, an object, used when lpd-enabled is on at the start).
   */
  session?: Pick<SessionOptions, 'transports' | 'udp' | 'announcer' | 'peerList' | 'lsd'>;
}

export { DaemonError };

const KB = 1000;

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
  readonly #onTick = (): void => this.#tick();
  #closed = false;

  constructor(options: DaemonOptions) {
    this.config = { ...options.config };
    this.clock = options.clock ?? systemClock;
    this.startedAt = this.nowSeconds();
    this.#pinned = new Set(options.pinned ?? []);
    this.#log = options.log ?? ((l) => void process.stderr.write(`mainlined: ${l}\n`));
    this.state = new StateStore(this.config.stateDir);
    this.#accounting = new Accounting(this.clock.now());
    this.#persistence = new Persistence({
      store: this.state,
      sessionRecord: () => this.#sessionRecord(),
      holds: (e) => this.#registry.holds(e),
      log: (l) => this.#log(l),
    });
    this.session = new Session({
      ...options.session,
      clock: this.clock,
      portRange: this.config.portRange,
      ...(this.config.bind ? { bind: this.config.bind } : {}),
      uploadLimit: this.#limit(this.config.speedLimitUp, this.config.speedLimitUpEnabled),
      downloadLimit: this.#limit(this.config.speedLimitDown, this.config.speedLimitDownEnabled),
      maxConnections: this.config.peerLimitGlobal,
      stateDir: this.state.resumeDir,
      lsd: this.config.lpdEnabled ? (options.session?.lsd ?? true) : false,
    });
  }

  /** Unix seconds on the daemon's clock. */
  nowSeconds(): number {
    return Math.floor(this.clock.now() / 1000);
  }

  /** A line in the daemon's log. */
  log(line: string): void {
    this.#log(line);
  }

  #limit(kbps: number, enabled: boolean): number {
    return enabled ? Math.round(kbps * KB) : 0;
  }

  /** The BitTorrent port (after start()). */
  get peerPort(): number {
    return this.session.port;
  }

  /** Listens, brings back every torrent of the state directory in its state, starts the watch directory. */
  async start(): Promise<void> {
    const record = await this.state.loadSession();
    this.#accounting.load(record);
    const saved: SessionSettings = {};
    for (const k of ['speedLimitUp', 'speedLimitUpEnabled', 'speedLimitDown', 'speedLimitDownEnabled', 'downloadDir', 'lpdEnabled'] as const) {
      if (record[k] !== undefined && !this.#pinned.has(k)) Object.assign(saved, { [k]: record[k] });
    }
    this.setSessionSettings(saved);
    await this.session.listen();
    for (const { record, bytes } of await this.state.load((file, why) => this.#log(`skipping ${file}: ${why}`))) {
      try {
        if (bytes) await this.#open(bytes, record);
        else this.#openMagnet(parseMagnet(record.magnet ?? ''), record);
      } catch (err) {
        this.#log(`cannot restore ${record.name} (${record.infoHash}): ${(err as Error).message}`);
      }
    }
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
    this.#log(`added ${meta.name} (${meta.infoHash}) as #${entry.id} into ${record.downloadDir}${record.paused ? ', stopped' : ''}`);
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
    const record = { ...this.#newRecord(link.infoHash, link.name ?? link.infoHash, [], options), magnet: uri.trim() };
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
    return {
      infoHash,
      name,
      downloadDir: options.downloadDir ?? this.config.downloadDir,
      paused: options.paused === true,
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
    };
  }

  #openMagnet(link: MagnetLink, record: TorrentRecord): MagnetEntry {
    if (link.infoHash !== record.infoHash) throw new DaemonError('the magnet link does not match its record');
    const entry: MagnetEntry = { kind: 'magnet', id: this.#registry.allocate(), link, download: undefined, error: undefined, record, startDate: 0, activityDate: 0 };
    this.#registry.set(entry);
    if (!record.paused) this.#fetch(entry);
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
    const record: TorrentRecord = { ...magnet.record, name: meta.name, priorities: meta.files.map(() => 'normal') };
    delete record.magnet;
    const entry = this.#wire(torrent, meta, encodeTorrent(meta), record, magnet.id);
    entry.startDate = magnet.startDate;
    await this.state.saveRecord(record);
  }

  #torrentOptions(record: TorrentRecord): TorrentOptions {
    // Added paused, then resumed without waiting: a torrent's check can take minutes and an RPC
    // must answer at once (Transmission shows "Verifying" meanwhile).
    return {
      savePath: record.downloadDir,
      paused: true,
      filePriorities: record.priorities,
      uploadLimit: this.#limit(record.uploadLimit, record.uploadLimited),
      downloadLimit: this.#limit(record.downloadLimit, record.downloadLimited),
      ...(this.config.seedRatioLimited ? { seedRatio: this.config.seedRatioLimit } : {}),
      ...(record.ignoreFreeSpace || !this.config.checkFreeSpace ? { ignoreFreeSpace: true } : {}),
    };
  }

  async #open(bytes: Uint8Array, record: TorrentRecord, parsed?: Metainfo): Promise<Entry> {
    const meta = parsed ?? parseTorrent(bytes);
    if (meta.infoHash !== record.infoHash) throw new DaemonError('the .torrent does not match its record');
    if (record.priorities.length !== meta.files.length) record.priorities = meta.files.map(() => 'normal');
    const torrent = await this.session.add(meta, this.#torrentOptions(record));
    return this.#wire(torrent, meta, bytes, record, this.#registry.allocate());
  }

  /** Lists a torrent under `id` and follows its events; starts it unless the record says stopped. */
  #wire(torrent: Torrent, meta: Metainfo, bytes: Uint8Array, record: TorrentRecord, id: number): Entry {
    const entry: Entry = { kind: 'torrent', id, torrent, meta, bytes, torrentFile: this.state.torrentPath(meta.infoHash), record, startDate: 0, activityDate: 0, finished: false, verifyQueued: false };
    this.#registry.set(entry);
    // When the data is opened the totals include earlier sessions (from the resume record): this
    // session's traffic counts from there. The state changes right after opening, before any data.
    torrent.on('state', (st) => {
      if (st === 'checking') entry.verifyQueued = false;
      if (st === 'downloading' || st === 'seeding') this.#accounting.baseline(entry.id, torrent);
    });
    torrent.on('error', (e) => this.#log(`#${entry.id} ${meta.name}: ${e.message}`));
    torrent.on('done', () => {
      entry.record.doneDate = this.nowSeconds();
      this.#persist(entry);
    });
    torrent.on('seeding-done', (reason) => {
      entry.finished = true;
      entry.record.paused = true;
      this.#log(`#${entry.id} ${meta.name}: seeding stopped, ${reason}`);
      this.#persist(entry);
    });
    if (!record.paused) this.#resume(entry);
    return entry;
  }

  #resume(entry: Entry): void {
    entry.startDate = this.nowSeconds();
    entry.finished = false;
    const insist = entry.record.ignoreFreeSpace === true ? { ignoreFreeSpace: true } : {};
    entry.torrent.resume(insist).catch((e: unknown) => this.#log(`#${entry.id}: cannot start: ${(e as Error).message}`));
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
    if (entry.kind === 'magnet') {
      if (magnetFetching(entry) && !entry.record.paused) return;
      entry.record.paused = false;
      await this.state.saveRecord(entry.record);
      this.#fetch(entry);
      return;
    }
    if (!entry.record.paused && entry.torrent.state !== 'paused' && entry.torrent.state !== 'stopped' && entry.torrent.state !== 'error') return;
    entry.record.paused = false;
    if (options.insist === true) entry.record.ignoreFreeSpace = true;
    await this.state.saveRecord(entry.record);
    this.#resume(entry);
  }

  /** Stops a torrent (trackers told, resume data saved) or a magnet's fetch; it stays stopped across restarts. */
  async stopTorrent(given: AnyEntry): Promise<void> {
    const entry = this.#current(given);
    entry.record.paused = true;
    await this.state.saveRecord(entry.record);
    if (entry.kind === 'magnet') {
      const download = entry.download;
      entry.download = undefined;
      await download?.cancel();
      return;
    }
    await entry.torrent.pause();
    this.#persist(entry);
  }

  /** Hashes the data again in the background; a stopped torrent stays stopped afterwards. */
  verifyTorrent(entry: AnyEntry): void {
    if (entry.kind === 'magnet') return; // nothing to verify yet (Transmission ignores it too)
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
  }

  async setPriorities(entry: AnyEntry, priorities: Priority[]): Promise<void> {
    if (entry.kind === 'magnet') {
      if (priorities.length > 0) throw new DaemonError(`#${entry.id} has no file list until its metadata is here`);
      return;
    }
    await entry.torrent.setFilePriorities(priorities);
    entry.record.priorities = [...priorities];
    // With the data closed the saved count no longer says what is left of the new choice.
    if (!entry.torrent.store) delete entry.record.leftUntilDone;
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
    if (s.lpdEnabled !== undefined && s.lpdEnabled !== c.lpdEnabled) {
      c.lpdEnabled = s.lpdEnabled;
      // Opens or closes the LSD sockets; its outcome is the session's lsdStatus().
      void this.session.setLsd(s.lpdEnabled).catch(() => undefined);
    }
    this.session.setLimits({
      upload: this.#limit(c.speedLimitUp, c.speedLimitUpEnabled),
      download: this.#limit(c.speedLimitDown, c.speedLimitDownEnabled),
    });
  }

  async saveSessionSettings(): Promise<void> {
    await this.#persistence.saveSession();
  }

  /** This session's traffic and the totals over every session. */
  traffic(): { current: TrafficStats; cumulative: TrafficStats } {
    for (const e of this.#registry.entries) if (e.kind === 'torrent') this.#accounting.count(e.id, e.torrent);
    return this.#accounting.traffic(this.clock.now());
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
      const s = e.torrent.stats();
      if (s.state === 'downloading') e.record.secondsDownloading++;
      if (s.state === 'seeding') e.record.secondsSeeding++;
      if (s.downloadRate >= 1 || s.uploadRate >= 1) e.activityDate = now;
      this.#accounting.count(e.id, e.torrent);
    }
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
