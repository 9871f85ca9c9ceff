import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readFileIfExists, writeFileAtomic } from '@mainline/session';
import { ALT_SPEED_KEYS, altSpeedProblem, type AltSpeedSettings } from './alt-speed.js';

export type Priority = 'skip' | 'low' | 'normal' | 'high';

/** What the daemon keeps about one torrent besides its .torrent file (the session keeps the verified pieces). */
export interface TorrentRecord {
  infoHash: string;
  name: string;
  downloadDir: string;
  /** Stopped by the user (start again with torrent-start). */
  paused: boolean;
  /** One per file, in metainfo order; absent while every file is 'normal' (the common case, kept small). */
  priorities?: Priority[];
  /** Unix seconds. */
  addedDate: number;
  doneDate: number;
  /** Verified bytes when last saved: shown while a stopped torrent's data is not open. */
  haveBytes: number;
  /** Bytes of wanted pieces not verified when last saved (absent: unknown, e.g. priorities changed since). */
  leftUntilDone?: number;
  secondsDownloading: number;
  secondsSeeding: number;
  /** Per-torrent limits in kB/s, applied when the matching flag is set. */
  uploadLimit: number;
  uploadLimited: boolean;
  downloadLimit: number;
  downloadLimited: boolean;
  /** Started with torrent-start-now: its files are created even when they do not fit the free space. */
  ignoreFreeSpace?: boolean;
  /**
   * The magnet link it was added from, kept while its metadata is being fetched: with no
   * .torrent yet, a restart adds the link again.
   */
  magnet?: string;
  /** Where the data lives while incomplete (the incomplete dir); absent: in downloadDir. */
  dataDir?: string;
  /** Transmission's labels (free text, no commas). */
  labels?: string[];
  /** Place in the download/seed queue, 0 first. */
  queuePosition?: number;
  /** Transmission's seedRatioMode / seedIdleMode: 0 the session's, 1 this torrent's, 2 unlimited. */
  seedRatioMode?: 0 | 1 | 2;
  seedRatioLimit?: number;
  seedIdleMode?: 0 | 1 | 2;
  /** Minutes. */
  seedIdleLimit?: number;
  /** Most peers of this torrent (absent: the session's peer-limit-per-torrent). */
  peerLimit?: number;
  /** Transmission's bandwidthPriority: -1 low, 0 normal (absent), 1 high. */
  bandwidthPriority?: -1 | 0 | 1;
  /** Pieces in order, lowest first (Transmission 4.1's `sequential_download`); absent: rarest first. */
  sequential?: boolean;
  /** False: the session's speed limits do not apply to it. */
  honorsSessionLimits?: boolean;
  /** Each file's path as renamed (torrent-rename-path), in metainfo order; absent: the metainfo's. */
  filePaths?: string[][];
  /** The tracker tiers as edited (trackerAdd / trackerRemove / trackerReplace); absent: the metainfo's. */
  trackers?: string[][];
}

/** Session-wide numbers kept across restarts (and the settings changed over RPC). */
export interface SessionRecord extends Partial<AltSpeedSettings> {
  uploadedBytes: number;
  downloadedBytes: number;
  filesAdded: number;
  secondsActive: number;
  sessionCount: number;
  speedLimitUp?: number;
  speedLimitUpEnabled?: boolean;
  speedLimitDown?: number;
  speedLimitDownEnabled?: boolean;
  downloadDir?: string;
  lpdEnabled?: boolean;
  pexEnabled?: boolean;
  seedRatioLimit?: number;
  seedRatioLimited?: boolean;
  /** The session-set settings kept across restarts (see SessionPrefs). */
  prefs?: Record<string, unknown>;
  dhtEnabled?: boolean;
  /** The peer port session-set moved to (absent: the config's port range decides). */
  peerPort?: number;
  peerLimitGlobal?: number;
}

const HASH = /^[0-9a-f]{40}$/;

/**
 * The state directory: `torrents/<infohash>.torrent` and `torrents/<infohash>.json` for each
 * torrent, `resume/` for the session's resume records, `session.json` for totals and settings.
 * Every write is atomic (temp file, fsync, rename), so a crash leaves the old or the new file.
 */
export class StateStore {
  readonly dir: string;
  readonly torrentsDir: string;
  readonly resumeDir: string;

  constructor(dir: string) {
    this.dir = dir;
    this.torrentsDir = join(dir, 'torrents');
    this.resumeDir = join(dir, 'resume');
  }

  torrentPath(infoHash: string): string {
    return join(this.torrentsDir, `${infoHash}.torrent`);
  }

  async saveTorrentFile(infoHash: string, bytes: Uint8Array): Promise<void> {
    await writeFileAtomic(this.torrentPath(infoHash), bytes);
  }

  async saveRecord(record: TorrentRecord): Promise<void> {
    await writeFileAtomic(join(this.torrentsDir, `${record.infoHash}.json`), Buffer.from(`${JSON.stringify(record, null, 1)}\n`));
  }

  async remove(infoHash: string): Promise<void> {
    // The record goes first: a crash in between leaves an orphan .torrent, which load() skips.
    await rm(join(this.torrentsDir, `${infoHash}.json`), { force: true });
    await rm(this.torrentPath(infoHash), { force: true });
    await rm(join(this.resumeDir, `${infoHash}.resume`), { force: true });
  }

  /**
   * Every torrent with both files present and readable, oldest first; the rest are reported. A
   * magnet still fetching its metadata has a record and no .torrent: `bytes` is undefined.
   */
  async load(onBad: (file: string, why: string) => void): Promise<{ record: TorrentRecord; bytes: Buffer | undefined }[]> {
    let names: string[];
    try {
      names = await readdir(this.torrentsDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: { record: TorrentRecord; bytes: Buffer | undefined }[] = [];
    // Most torrents share their directory: one string for all, not one parsed from each file.
    const dirs = new Map<string, string>();
    const shared = (dir: string): string => {
      const known = dirs.get(dir);
      if (known !== undefined) return known;
      dirs.set(dir, dir);
      return dir;
    };
    for (const name of names) {
      const m = /^([0-9a-f]{40})\.json$/.exec(name);
      if (!m) continue;
      const file = join(this.torrentsDir, name);
      try {
        const record = parseRecord(JSON.parse(await readFile(file, 'utf8')), m[1]!);
        const bytes = await readFileIfExists(this.torrentPath(m[1]!));
        if (!bytes && record.magnet === undefined) throw new Error('its .torrent file is missing');
        record.downloadDir = shared(record.downloadDir);
        if (record.dataDir !== undefined) record.dataDir = shared(record.dataDir);
        out.push({ record, bytes });
      } catch (err) {
        onBad(file, (err as Error).message);
      }
    }
    // Ties by info-hash, compared as plain strings: localeCompare would load ICU's collation
    // (~3 MiB of resident pages for the whole life of the daemon) to order hex digits.
    const byHash = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
    return out.sort((a, b) => a.record.addedDate - b.record.addedDate || byHash(a.record.infoHash, b.record.infoHash));
  }

  async loadSession(): Promise<SessionRecord> {
    const fresh: SessionRecord = { uploadedBytes: 0, downloadedBytes: 0, filesAdded: 0, secondsActive: 0, sessionCount: 0 };
    const bytes = await readFileIfExists(join(this.dir, 'session.json')).catch(() => undefined);
    if (!bytes) return fresh;
    try {
      const j = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
      const num = (k: keyof SessionRecord): number => (typeof j[k] === 'number' && Number.isFinite(j[k]) ? (j[k] as number) : 0);
      const out: SessionRecord = {
        uploadedBytes: num('uploadedBytes'),
        downloadedBytes: num('downloadedBytes'),
        filesAdded: num('filesAdded'),
        secondsActive: num('secondsActive'),
        sessionCount: num('sessionCount'),
      };
      for (const k of ['speedLimitUp', 'speedLimitDown', 'seedRatioLimit'] as const) if (typeof j[k] === 'number') out[k] = j[k] as number;
      for (const k of ['speedLimitUpEnabled', 'speedLimitDownEnabled', 'lpdEnabled', 'pexEnabled', 'seedRatioLimited', 'dhtEnabled'] as const) if (typeof j[k] === 'boolean') out[k] = j[k] as boolean;
      if (typeof j.downloadDir === 'string') out.downloadDir = j.downloadDir;
      if (Number.isInteger(j.peerPort) && (j.peerPort as number) >= 1 && (j.peerPort as number) <= 65535) out.peerPort = j.peerPort as number;
      if (isCount(j.peerLimitGlobal, 1)) out.peerLimitGlobal = j.peerLimitGlobal;
      for (const k of ALT_SPEED_KEYS) if (j[k] !== undefined && altSpeedProblem(k, j[k]) === undefined) Object.assign(out, { [k]: j[k] });
      // Checked key by key against the defaults when loaded (prefs.ts loadPrefs).
      if (typeof j.prefs === 'object' && j.prefs !== null && !Array.isArray(j.prefs)) out.prefs = j.prefs as Record<string, unknown>;
      return out;
    } catch {
      return fresh;
    }
  }

  async saveSession(record: SessionRecord): Promise<void> {
    await writeFileAtomic(join(this.dir, 'session.json'), Buffer.from(`${JSON.stringify(record, null, 1)}\n`));
  }
}

const PRIORITIES = new Set<string>(['skip', 'low', 'normal', 'high']);

/** `priorities` as a record keeps them: a copy, or undefined when every file is 'normal'. */
export function compactPriorities(priorities: readonly Priority[] | undefined): Priority[] | undefined {
  return priorities?.some((p) => p !== 'normal') ? [...priorities] : undefined;
}

/** A record's priorities for its `fileCount` files (the all-normal list when it keeps none). */
export function prioritiesOf(record: Pick<TorrentRecord, 'priorities'>, fileCount: number): Priority[] {
  return record.priorities ? [...record.priorities] : Array.from({ length: fileCount }, () => 'normal' as const);
}

/** The keys every record has (in this order); the others are added only when set. */
type CommonKey = 'infoHash' | 'name' | 'downloadDir' | 'paused' | 'priorities' | 'addedDate' | 'doneDate' | 'haveBytes' | 'leftUntilDone' | 'secondsDownloading' | 'secondsSeeding' | 'uploadLimit' | 'uploadLimited' | 'downloadLimit' | 'downloadLimited' | 'queuePosition' | 'peerLimit';

/**
 * A record as the daemon keeps it for each torrent for its whole life: one shape whose common
 * fields sit inside the object (a literal with spreads reserves room for every possible key,
 * ~30 slots), the rare ones added only when set, priorities only when not all normal.
 */
export function compactRecord(r: TorrentRecord): TorrentRecord {
  const out: TorrentRecord = {
    infoHash: r.infoHash,
    name: r.name,
    downloadDir: r.downloadDir,
    paused: r.paused,
    priorities: compactPriorities(r.priorities),
    addedDate: r.addedDate,
    doneDate: r.doneDate,
    haveBytes: r.haveBytes,
    leftUntilDone: r.leftUntilDone,
    secondsDownloading: r.secondsDownloading,
    secondsSeeding: r.secondsSeeding,
    uploadLimit: r.uploadLimit,
    uploadLimited: r.uploadLimited,
    downloadLimit: r.downloadLimit,
    downloadLimited: r.downloadLimited,
    queuePosition: r.queuePosition,
    // Every torrent added takes its own copy of the session's per-torrent peer limit.
    peerLimit: r.peerLimit,
  } satisfies Record<CommonKey, unknown>;
  for (const [k, v] of Object.entries(r)) if (v !== undefined && !(k in out)) Object.assign(out, { [k]: v });
  return out;
}

function parseRecord(j: unknown, infoHash: string): TorrentRecord {
  if (typeof j !== 'object' || j === null) throw new Error('not a JSON object');
  const o = j as Record<string, unknown>;
  const num = (k: string, d = 0): number => (typeof o[k] === 'number' && Number.isFinite(o[k]) ? (o[k] as number) : d);
  const bool = (k: string): boolean => o[k] === true;
  if (typeof o.infoHash !== 'string' || !HASH.test(o.infoHash) || o.infoHash !== infoHash) throw new Error('infoHash does not match the file name');
  if (typeof o.downloadDir !== 'string' || o.downloadDir === '') throw new Error('downloadDir is missing');
  const priorities = Array.isArray(o.priorities) && o.priorities.every((p) => typeof p === 'string' && PRIORITIES.has(p)) ? (o.priorities as Priority[]) : undefined;
  return compactRecord({
    infoHash,
    name: typeof o.name === 'string' ? o.name : infoHash,
    downloadDir: o.downloadDir,
    paused: bool('paused'),
    priorities,
    addedDate: num('addedDate'),
    doneDate: num('doneDate'),
    haveBytes: num('haveBytes'),
    ...(typeof o.leftUntilDone === 'number' && Number.isFinite(o.leftUntilDone) && o.leftUntilDone >= 0 ? { leftUntilDone: o.leftUntilDone } : {}),
    secondsDownloading: num('secondsDownloading'),
    secondsSeeding: num('secondsSeeding'),
    uploadLimit: num('uploadLimit', 100),
    uploadLimited: bool('uploadLimited'),
    downloadLimit: num('downloadLimit', 100),
    downloadLimited: bool('downloadLimited'),
    ...(typeof o.magnet === 'string' && /^magnet:\?/i.test(o.magnet) ? { magnet: o.magnet } : {}),
    ...(o.ignoreFreeSpace === true ? { ignoreFreeSpace: true } : {}),
    ...(typeof o.dataDir === 'string' && o.dataDir !== '' ? { dataDir: o.dataDir } : {}),
    ...(isStrings(o.labels) ? { labels: o.labels } : {}),
    ...(isCount(o.queuePosition, 0) ? { queuePosition: o.queuePosition } : {}),
    ...(isMode(o.seedRatioMode) ? { seedRatioMode: o.seedRatioMode } : {}),
    ...(typeof o.seedRatioLimit === 'number' && Number.isFinite(o.seedRatioLimit) && o.seedRatioLimit >= 0 ? { seedRatioLimit: o.seedRatioLimit } : {}),
    ...(isMode(o.seedIdleMode) ? { seedIdleMode: o.seedIdleMode } : {}),
    ...(isCount(o.seedIdleLimit, 0) ? { seedIdleLimit: o.seedIdleLimit } : {}),
    ...(isCount(o.peerLimit, 1) ? { peerLimit: o.peerLimit } : {}),
    ...(o.bandwidthPriority === -1 || o.bandwidthPriority === 1 ? { bandwidthPriority: o.bandwidthPriority } : {}),
    ...(o.honorsSessionLimits === false ? { honorsSessionLimits: false } : {}),
    ...(o.sequential === true ? { sequential: true } : {}),
    ...(Array.isArray(o.trackers) && o.trackers.every(isStrings) ? { trackers: o.trackers as string[][] } : {}),
    ...(Array.isArray(o.filePaths) && o.filePaths.every((p) => isStrings(p) && p.length > 0 && p.every((c) => c !== '' && c !== '.' && c !== '..' && !c.includes('/'))) ? { filePaths: o.filePaths as string[][] } : {}),
  });
}

function isStrings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function isCount(v: unknown, min: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min;
}

function isMode(v: unknown): v is 0 | 1 | 2 {
  return v === 0 || v === 1 || v === 2;
}
