import { readdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeTorrent, parseMagnet, parseTorrent, type MagnetLink, type Metainfo } from '@mainline/metainfo';
import { Session, type MagnetDownload, type Torrent, type TorrentOptions } from '@mainline/session';
import type { DaemonConfig } from './config.js';
import { DaemonError } from './errors.js';
import { MAX_TORRENT_BYTES, readTorrentFile } from './local-torrent.js';
import { StateStore, type Priority, type SessionRecord, type TorrentRecord } from './state.js';

/** One torrent as the daemon knows it: a small id stable for the daemon's lifetime, its record. */
export interface Entry {
  readonly kind: 'torrent';
  readonly id: number;
  readonly torrent: Torrent;
  readonly meta: Metainfo;
  /** The .torrent file's bytes. */
  readonly bytes: Uint8Array;
  /** Where the .torrent is kept in the state directory. */
  readonly torrentFile: string;
  record: TorrentRecord;
  /** Unix seconds of the last start and of the last data moved. */
  startDate: number;
  activityDate: number;
  /** Set when the seed ratio was reached and the torrent stopped itself. */
  finished: boolean;
  /** A verify was asked for and has not begun hashing yet (Transmission's "Will Verify"). */
  verifyQueued: boolean;
}

/**
 * A magnet link whose metadata is not here yet (Transmission shows these with their id and
 * `metadataPercentComplete` < 1). When the metadata arrives an Entry with the same id replaces it.
 */
export interface MagnetEntry {
  readonly kind: 'magnet';
  readonly id: number;
  readonly link: MagnetLink;
  /** The fetch; undefined while stopped. */
  download: MagnetDownload | undefined;
  /** Why the last fetch failed (cleared by a start). */
  error: string | undefined;
  record: TorrentRecord;
  startDate: number;
  activityDate: number;
}

/** What an RPC id names: a torrent, or a magnet link still fetching its metadata. */
export type AnyEntry = Entry | MagnetEntry;

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
  /** The DHT on or off (switched at once; its table is saved when it stops). */
  dhtEnabled?: boolean;
}

export interface TrafficStats {
  uploadedBytes: number;
  downloadedBytes: number;
  filesAdded: number;
  secondsActive: number;
  sessionCount: number;
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
}

export { DaemonError };

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** A magnet whose fetch runs (or whose torrent is being added). */
export function magnetFetching(e: MagnetEntry): boolean {
  const state = e.download?.state;
  return state === 'fetching-metadata' || state === 'adding';
}
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
  readonly startedAt = nowSeconds();
  readonly #log: (line: string) => void;
  readonly #pinned: ReadonlySet<string>;
  readonly #entries = new Map<number, AnyEntry>();
  readonly #byHash = new Map<string, AnyEntry>();
  #nextId = 1;
  #recentlyRemoved: { id: number; at: number }[] = [];
  #saved: SessionRecord = { uploadedBytes: 0, downloadedBytes: 0, filesAdded: 0, secondsActive: 0, sessionCount: 0 };
  #traffic = { up: 0, down: 0, added: 0 };
  readonly #baseline = new Map<number, { up: number; down: number }>();
  #ticker: NodeJS.Timeout | undefined;
  #watcher: NodeJS.Timeout | undefined;
  #scanning = false;
  #ticks = 0;
  #closed = false;

  constructor(options: DaemonOptions) {
    this.config = { ...options.config };
    this.#pinned = new Set(options.pinned ?? []);
    this.#log = options.log ?? ((l) => void process.stderr.write(`mainlined: ${l}\n`));
    this.state = new StateStore(this.config.stateDir);
    this.session = new Session({
      portRange: this.config.portRange,
      ...(this.config.bind ? { bind: this.config.bind } : {}),
      uploadLimit: this.#limit(this.config.speedLimitUp, this.config.speedLimitUpEnabled),
      downloadLimit: this.#limit(this.config.speedLimitDown, this.config.speedLimitDownEnabled),
      maxConnections: this.config.peerLimitGlobal,
      stateDir: this.state.resumeDir,
      lsd: this.config.lpdEnabled,
      // The node table beside the torrents' state, not among the resume records.
      dht: { enabled: this.config.dhtEnabled, stateDir: this.config.stateDir, ...(this.config.dhtBootstrap ? { bootstrap: this.config.dhtBootstrap } : {}) },
    });
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
    this.#saved = await this.state.loadSession();
    this.#saved.sessionCount++;
    const saved: SessionSettings = {};
    for (const k of ['speedLimitUp', 'speedLimitUpEnabled', 'speedLimitDown', 'speedLimitDownEnabled', 'downloadDir', 'lpdEnabled', 'dhtEnabled'] as const) {
      if (this.#saved[k] !== undefined && !this.#pinned.has(k)) Object.assign(saved, { [k]: this.#saved[k] });
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
    await this.state.saveSession(this.#sessionRecord());
    this.#ticker = setInterval(() => this.#tick(), 1000);
    if (this.config.watchDir) {
      await this.#scanWatchDir();
      this.#watcher = setInterval(() => void this.#scanWatchDir(), this.config.watchIntervalMs);
    }
  }

  get entries(): AnyEntry[] {
    return [...this.#entries.values()];
  }

  byId(id: number): AnyEntry | undefined {
    return this.#entries.get(id);
  }

  byHash(infoHash: string): AnyEntry | undefined {
    return this.#byHash.get(infoHash.toLowerCase());
  }

  /** Ids removed in the last minute (Transmission's `recently-active` answer lists them). */
  recentlyRemoved(): number[] {
    const since = Date.now() - 60_000;
    this.#recentlyRemoved = this.#recentlyRemoved.filter((r) => r.at >= since);
    return this.#recentlyRemoved.map((r) => r.id);
  }

  /** Adds a torrent from its .torrent bytes; an already-known info-hash returns the existing one. */
  async add(bytes: Uint8Array, options: AddOptions = {}): Promise<{ entry: AnyEntry; duplicate: boolean }> {
    const meta = this.#parseNew(() => parseTorrent(bytes), 'invalid or corrupt torrent file');
    const existing = this.#byHash.get(meta.infoHash);
    if (existing) return { entry: existing, duplicate: true };
    const priorities = options.priorities ?? meta.files.map(() => 'normal' as const);
    if (priorities.length !== meta.files.length) throw new DaemonError(`${priorities.length} file priorities for ${meta.files.length} files`);
    const record = this.#newRecord(meta.infoHash, meta.name, priorities, options);
    // The .torrent and the record are on disk before the torrent runs: a crash from here on
    // brings it back on the next start.
    await this.state.saveTorrentFile(meta.infoHash, bytes);
    await this.state.saveRecord(record);
    const entry = await this.#open(bytes, record, meta);
    this.#traffic.added++;
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
    const existing = this.#byHash.get(link.infoHash);
    if (existing) return { entry: existing, duplicate: true };
    if (options.priorities && options.priorities.length > 0) throw new DaemonError('a magnet link has no file list until its metadata is here: choose files afterwards');
    const record = { ...this.#newRecord(link.infoHash, link.name ?? link.infoHash, [], options), magnet: uri.trim() };
    await this.state.saveRecord(record);
    const entry = this.#openMagnet(link, record);
    this.#traffic.added++;
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
      addedDate: nowSeconds(),
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
    const entry: MagnetEntry = { kind: 'magnet', id: this.#nextId++, link, download: undefined, error: undefined, record, startDate: 0, activityDate: 0 };
    this.#entries.set(entry.id, entry);
    this.#byHash.set(link.infoHash, entry);
    if (!record.paused) this.#fetch(entry);
    return entry;
  }

  /** Starts fetching a magnet's metadata; the session saves the .torrent where the daemon keeps it. */
  #fetch(entry: MagnetEntry): void {
    entry.startDate = nowSeconds();
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
    if (this.#entries.get(magnet.id) !== magnet) {
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
    return this.#wire(torrent, meta, bytes, record, this.#nextId++);
  }

  /** Lists a torrent under `id` and follows its events; starts it unless the record says stopped. */
  #wire(torrent: Torrent, meta: Metainfo, bytes: Uint8Array, record: TorrentRecord, id: number): Entry {
    const entry: Entry = { kind: 'torrent', id, torrent, meta, bytes, torrentFile: this.state.torrentPath(meta.infoHash), record, startDate: 0, activityDate: 0, finished: false, verifyQueued: false };
    this.#entries.set(entry.id, entry);
    this.#byHash.set(meta.infoHash, entry);
    // When the data is opened the totals include earlier sessions (from the resume record): this
    // session's traffic counts from there. The state changes right after opening, before any data.
    torrent.on('state', (st) => {
      if (st === 'checking') entry.verifyQueued = false;
      const b = this.#baseline.get(entry.id);
      if ((st === 'downloading' || st === 'seeding') && !b) {
        this.#baseline.set(entry.id, { up: torrent.uploaded, down: torrent.downloaded });
      }
    });
    torrent.on('error', (e) => this.#log(`#${entry.id} ${meta.name}: ${e.message}`));
    torrent.on('done', () => {
      entry.record.doneDate = nowSeconds();
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
    entry.startDate = nowSeconds();
    entry.finished = false;
    const insist = entry.record.ignoreFreeSpace === true ? { ignoreFreeSpace: true } : {};
    entry.torrent.resume(insist).catch((e: unknown) => this.#log(`#${entry.id}: cannot start: ${(e as Error).message}`));
  }

  #persist(entry: Entry): void {
    noteHave(entry);
    if (!this.#byHash.has(entry.meta.infoHash)) return;
    this.state.saveRecord(entry.record).catch((e: unknown) => this.#log(`cannot save the state of #${entry.id}: ${(e as Error).message}`));
  }

  /** The entry now listed under this id: a magnet's becomes a torrent's when its metadata arrives. */
  #current(entry: AnyEntry): AnyEntry {
    return this.#entries.get(entry.id) ?? entry;
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
    if (this.#entries.get(entry.id) !== entry) return;
    this.#entries.delete(entry.id);
    this.#byHash.delete(entry.record.infoHash);
    if (entry.kind === 'magnet') {
      this.#recentlyRemoved.push({ id: entry.id, at: Date.now() });
      // Cancelling closes every socket of the fetch (and drops the torrent if it was being added).
      await entry.download?.cancel();
      await this.session.remove(entry.record.infoHash);
      await this.state.remove(entry.record.infoHash);
      this.#log(`removed #${entry.id} ${entry.record.name} (magnet)`);
      return;
    }
    this.#countTraffic(entry);
    this.#baseline.delete(entry.id);
    this.#recentlyRemoved.push({ id: entry.id, at: Date.now() });
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
    if (s.dhtEnabled !== undefined && s.dhtEnabled !== c.dhtEnabled) {
      c.dhtEnabled = s.dhtEnabled;
      void this.session.setDht(s.dhtEnabled).catch((err: unknown) => this.#log(`DHT: ${(err as Error).message}`));
    }
    this.session.setLimits({
      upload: this.#limit(c.speedLimitUp, c.speedLimitUpEnabled),
      download: this.#limit(c.speedLimitDown, c.speedLimitDownEnabled),
    });
  }

  async saveSessionSettings(): Promise<void> {
    await this.state.saveSession(this.#sessionRecord());
  }

  #countTraffic(entry: AnyEntry): void {
    if (entry.kind === 'magnet') return;
    const t = entry.torrent;
    const b = this.#baseline.get(entry.id);
    // The torrent's totals only grow within this daemon (a recheck keeps them), so deltas add up.
    if (!b) return;
    this.#traffic.up += Math.max(0, t.uploaded - b.up);
    this.#traffic.down += Math.max(0, t.downloaded - b.down);
    b.up = t.uploaded;
    b.down = t.downloaded;
  }

  /** This session's traffic and the totals over every session. */
  traffic(): { current: TrafficStats; cumulative: TrafficStats } {
    for (const e of this.#entries.values()) this.#countTraffic(e);
    const secondsActive = nowSeconds() - this.startedAt;
    const current = { uploadedBytes: this.#traffic.up, downloadedBytes: this.#traffic.down, filesAdded: this.#traffic.added, secondsActive, sessionCount: 1 };
    const s = this.#saved;
    return {
      current,
      cumulative: {
        uploadedBytes: s.uploadedBytes + current.uploadedBytes,
        downloadedBytes: s.downloadedBytes + current.downloadedBytes,
        filesAdded: s.filesAdded + current.filesAdded,
        secondsActive: s.secondsActive + secondsActive,
        sessionCount: s.sessionCount,
      },
    };
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
      dhtEnabled: c.dhtEnabled,
    };
  }

  #tick(): void {
    this.#ticks++;
    const now = nowSeconds();
    for (const e of this.#entries.values()) {
      if (e.kind === 'magnet') {
        if (magnetFetching(e)) e.record.secondsDownloading++;
        continue;
      }
      const s = e.torrent.stats();
      if (s.state === 'downloading') e.record.secondsDownloading++;
      if (s.state === 'seeding') e.record.secondsSeeding++;
      if (s.downloadRate >= 1 || s.uploadRate >= 1) e.activityDate = now;
      this.#countTraffic(e);
      // Every 30 s, records whose verified byte count moved are saved (for stopped torrents' display).
      if (this.#ticks % 30 === 0 && e.torrent.store && e.record.haveBytes !== s.haveBytes) this.#persist(e);
    }
    if (this.#ticks % 30 === 0) void this.saveSessionSettings().catch(() => undefined);
  }

  async #scanWatchDir(): Promise<void> {
    const dir = this.config.watchDir;
    if (!dir || this.#scanning || this.#closed) return;
    this.#scanning = true;
    try {
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names) {
        if (!name.toLowerCase().endsWith('.torrent')) continue;
        const file = join(dir, name);
        try {
          const st = await stat(file);
          // A file still being written waits for the next scan.
          if (!st.isFile() || Date.now() - st.mtimeMs < 1000) continue;
          try {
            const bytes = await readTorrentFile(file, [dir], MAX_TORRENT_BYTES);
            const { entry, duplicate } = await this.add(bytes);
            if (duplicate) this.#log(`watch dir: ${name} is already #${entry.id}`);
            await rename(file, `${file}.added`);
          } catch (err) {
            if (err instanceof DaemonError) {
              this.#log(`watch dir: ${name}: ${err.message}; renamed to ${name}.invalid`);
              await rename(file, `${file}.invalid`);
            } else throw err;
          }
        } catch (err) {
          this.#log(`watch dir: ${name}: ${(err as Error).message}`);
        }
      }
    } finally {
      this.#scanning = false;
    }
  }

  /**
   * Clean shutdown: resume data and records flushed first, then the session closes (trackers get
   * `stopped`), bounded by `timeoutMs` so a dead tracker cannot hold the exit.
   */
  async close(timeoutMs = 4000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ticker) clearInterval(this.#ticker);
    if (this.#watcher) clearInterval(this.#watcher);
    await Promise.all(
      this.entries.map(async (e) => {
        if (e.kind === 'torrent') {
          await e.torrent.saveResume().catch(() => undefined);
          noteHave(e);
        }
        await this.state.saveRecord(e.record).catch(() => undefined);
      }),
    );
    await this.saveSessionSettings().catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.session.close(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }
}

/** Saves the verified counts in the record (when the data is open): a stopped torrent shows them after a restart. */
function noteHave(entry: Entry): void {
  if (!entry.torrent.store) return;
  const s = entry.torrent.stats();
  entry.record.haveBytes = s.haveBytes;
  entry.record.leftUntilDone = s.wantedLeft;
}
