import { statfs } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { parseTorrent } from '@mainline/metainfo';
import { DaemonError, type AnyEntry, type Daemon } from './daemon.js';
import { FetchError, fetchTorrentUrl } from './fetch-torrent.js';
import { MAX_TORRENT_BYTES, readTorrentFile } from './local-torrent.js';
import { TORRENT_FIELDS, entryStatus, torrentFields } from './fields.js';
import type { Priority } from './state.js';
import { VERSION } from './version.js';

/** A Transmission RPC request (rpc-spec 4.0.6 dialect). */
export interface RpcRequest {
  method: string;
  arguments?: Record<string, unknown>;
  tag?: number;
}

export interface RpcResponse {
  result: string;
  arguments: Record<string, unknown>;
  tag?: number;
}

export interface RpcHandlerOptions {
  /** The X-Transmission-Session-Id, shown in session-get. */
  sessionId?: () => string;
  /** Called after answering `session-close`. */
  onSessionClose?: () => void;
  /**
   * Downloads a .torrent for `torrent-add {filename: URL}` (default: fetchTorrentUrl, 10 MiB,
   * 5 redirects, 30 s, non-public addresses only with the setting fetchPrivateAddresses).
   */
  fetchTorrent?: (url: string) => Promise<Uint8Array>;
  version?: string;
}

/** A bad argument: answered as a Transmission error result. */
export class RpcArgumentError extends Error {
  override name = 'RpcArgumentError';
}

export const RPC_VERSION = 17;
export const RPC_VERSION_MINIMUM = 14;
export const RPC_VERSION_SEMVER = '5.3.0';
const HASH = /^[0-9a-fA-F]{40}$/;

type Args = Record<string, unknown>;

function isObject(v: unknown): v is Args {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optBool(a: Args, key: string): boolean | undefined {
  const v = a[key];
  if (v === undefined) return undefined;
  if (typeof v === 'boolean') return v;
  if (v === 0 || v === 1) return v === 1; // some clients send 0/1
  throw new RpcArgumentError(`argument "${key}" must be a boolean`);
}

function optNumber(a: Args, key: string): number | undefined {
  const v = a[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new RpcArgumentError(`argument "${key}" must be a non-negative number`);
  return v;
}

function optString(a: Args, key: string): string | undefined {
  const v = a[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new RpcArgumentError(`argument "${key}" must be a string`);
  return v;
}

function optIndices(a: Args, key: string, fileCount: number): number[] | undefined {
  const v = a[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((i) => Number.isInteger(i))) throw new RpcArgumentError(`argument "${key}" must be an array of file indices`);
  // An empty list means every file (rpc-spec §3.2).
  if (v.length === 0) return Array.from({ length: fileCount }, (_, i) => i);
  for (const i of v as number[]) if (i < 0 || i >= fileCount) throw new RpcArgumentError(`file index ${i} out of range (the torrent has ${fileCount} files)`);
  return v as number[];
}

const FILE_ARGS = ['files-wanted', 'files-unwanted', 'priority-high', 'priority-low', 'priority-normal'] as const;

/** files-wanted / files-unwanted / priority-* applied to a priority list. */
function applyFileArgs(a: Args, current: readonly Priority[]): Priority[] | undefined {
  const n = current.length;
  const next = [...current];
  // Wanted files remember their level: skip only marks them unwanted.
  const wanted = optIndices(a, 'files-wanted', n);
  const unwanted = optIndices(a, 'files-unwanted', n);
  const high = optIndices(a, 'priority-high', n);
  const low = optIndices(a, 'priority-low', n);
  const normal = optIndices(a, 'priority-normal', n);
  if (!wanted && !unwanted && !high && !low && !normal) return undefined;
  for (const i of high ?? []) if (next[i] !== 'skip') next[i] = 'high';
  for (const i of low ?? []) if (next[i] !== 'skip') next[i] = 'low';
  for (const i of normal ?? []) if (next[i] !== 'skip') next[i] = 'normal';
  for (const i of unwanted ?? []) next[i] = 'skip';
  for (const i of wanted ?? []) if (next[i] === 'skip') next[i] = high?.includes(i) ? 'high' : low?.includes(i) ? 'low' : 'normal';
  return next;
}

/** torrent-add's answer: `torrent-added` or `torrent-duplicate` with id, name and hash. */
function addedInfo({ entry, duplicate }: { entry: AnyEntry; duplicate: boolean }): Args {
  const info = { id: entry.id, name: entry.kind === 'torrent' ? entry.meta.name : entry.record.name, hashString: entry.record.infoHash };
  return duplicate ? { 'torrent-duplicate': info } : { 'torrent-added': info };
}

/**
 * Answers Transmission RPC requests against a Daemon: the methods and fields transmission-remote
 * 3.00/4.x and the web UI use. Never throws: every failure is a Transmission error result.
 */
export class RpcHandler {
  readonly #daemon: Daemon;
  readonly #o: RpcHandlerOptions;
  readonly #methods: Record<string, (a: Args) => Promise<Args> | Args>;

  constructor(daemon: Daemon, options: RpcHandlerOptions = {}) {
    this.#daemon = daemon;
    this.#o = options;
    this.#methods = {
      'session-get': (a) => this.#sessionGet(a),
      'session-set': (a) => this.#sessionSet(a),
      'session-stats': () => this.#sessionStats(),
      'session-close': () => {
        setImmediate(() => this.#o.onSessionClose?.());
        return {};
      },
      'free-space': (a) => this.#freeSpace(a),
      'port-test': () => ({ 'port-is-open': daemon.peerPort > 0 }),
      'torrent-get': (a) => this.#torrentGet(a),
      'torrent-add': (a) => this.#torrentAdd(a),
      'torrent-start': (a) => this.#each(a, (e) => daemon.startTorrent(e)),
      // "Start now" insists: a torrent that stopped for lack of free space is created anyway.
      'torrent-start-now': (a) => this.#each(a, (e) => daemon.startTorrent(e, { insist: true })),
      'torrent-stop': (a) => this.#each(a, (e) => daemon.stopTorrent(e)),
      'torrent-verify': (a) => this.#each(a, (e) => daemon.verifyTorrent(e)),
      'torrent-reannounce': (a) => this.#each(a, () => undefined),
      'torrent-remove': (a) => {
        const del = optBool(a, 'delete-local-data') ?? false;
        return this.#each(a, (e) => daemon.remove(e, del));
      },
      'torrent-set': (a) => this.#torrentSet(a),
    };
  }

  /** The method names answered. */
  get methods(): string[] {
    return Object.keys(this.#methods);
  }

  async handle(body: unknown): Promise<RpcResponse> {
    const tag = isObject(body) && typeof body.tag === 'number' && Number.isInteger(body.tag) ? { tag: body.tag } : {};
    const fail = (message: string): RpcResponse => ({ result: message, arguments: {}, ...tag });
    if (!isObject(body)) return fail('request must be a JSON object');
    if (typeof body.method !== 'string') return fail('no method name');
    const args = body.arguments === undefined ? {} : body.arguments;
    if (!isObject(args)) return fail('arguments must be a JSON object');
    const method = Object.hasOwn(this.#methods, body.method) ? this.#methods[body.method] : undefined;
    if (!method) return fail('method name not recognized');
    try {
      return { result: 'success', arguments: await method(args), ...tag };
    } catch (err) {
      if (err instanceof RpcArgumentError || err instanceof DaemonError || err instanceof RangeError) return fail(err.message);
      const e = err as NodeJS.ErrnoException;
      return fail(e.code ? `${e.code}: ${e.message}` : `internal error: ${e.message ?? String(err)}`);
    }
  }

  /** `ids`: absent = all; an id, a hash, a list of them, or "recently-active". */
  #select(a: Args): AnyEntry[] {
    const d = this.#daemon;
    const ids = a.ids;
    if (ids === undefined) return d.entries;
    if (ids === 'recently-active') {
      const since = Math.floor(Date.now() / 1000) - 60;
      return d.entries.filter((e) => e.activityDate >= since || e.record.addedDate >= since || e.startDate >= since);
    }
    const list = Array.isArray(ids) ? ids : [ids];
    const out = new Set<AnyEntry>();
    for (const id of list) {
      if (typeof id === 'number' && Number.isInteger(id)) {
        const e = d.byId(id);
        if (e) out.add(e);
      } else if (typeof id === 'string') {
        const e = HASH.test(id) ? d.byHash(id) : /^\d+$/.test(id) ? d.byId(Number(id)) : undefined;
        if (e) out.add(e);
      } else {
        throw new RpcArgumentError('"ids" must be an id, a hash string, an array of them, or "recently-active"');
      }
    }
    return [...out];
  }

  async #each(a: Args, action: (e: AnyEntry) => Promise<void> | void): Promise<Args> {
    for (const e of this.#select(a)) await action(e);
    return {};
  }

  #sessionValues(): Args {
    const d = this.#daemon;
    const c = d.config;
    return {
      'alt-speed-down': 50,
      'alt-speed-enabled': false,
      'alt-speed-time-begin': 540,
      'alt-speed-time-day': 127,
      'alt-speed-time-enabled': false,
      'alt-speed-time-end': 1020,
      'alt-speed-up': 50,
      'blocklist-enabled': false,
      'blocklist-size': 0,
      'blocklist-url': '',
      'cache-size-mb': 4,
      'config-dir': c.stateDir,
      'dht-enabled': c.dhtEnabled,
      'download-dir': c.downloadDir,
      'download-queue-enabled': false,
      'download-queue-size': 5,
      encryption: 'tolerated',
      'idle-seeding-limit': 30,
      'idle-seeding-limit-enabled': false,
      'incomplete-dir': c.downloadDir,
      'incomplete-dir-enabled': false,
      'lpd-enabled': c.lpdEnabled,
      'peer-limit-global': c.peerLimitGlobal,
      'peer-limit-per-torrent': 55,
      'peer-port': d.peerPort,
      'peer-port-random-on-start': false,
      'pex-enabled': false,
      'port-forwarding-enabled': false,
      'queue-stalled-enabled': false,
      'queue-stalled-minutes': 30,
      'rename-partial-files': false,
      'rpc-version': RPC_VERSION,
      'rpc-version-minimum': RPC_VERSION_MINIMUM,
      'rpc-version-semver': RPC_VERSION_SEMVER,
      'script-torrent-added-enabled': false,
      'script-torrent-added-filename': '',
      'script-torrent-done-enabled': false,
      'script-torrent-done-filename': '',
      'seed-queue-enabled': false,
      'seed-queue-size': 10,
      seedRatioLimit: c.seedRatioLimit,
      seedRatioLimited: c.seedRatioLimited,
      'session-id': this.#o.sessionId?.() ?? '',
      'speed-limit-down': c.speedLimitDown,
      'speed-limit-down-enabled': c.speedLimitDownEnabled,
      'speed-limit-up': c.speedLimitUp,
      'speed-limit-up-enabled': c.speedLimitUpEnabled,
      'start-added-torrents': true,
      'trash-original-torrent-files': false,
      units: {
        'speed-units': ['kB/s', 'MB/s', 'GB/s', 'TB/s'],
        'speed-bytes': 1000,
        'size-units': ['kB', 'MB', 'GB', 'TB'],
        'size-bytes': 1000,
        'memory-units': ['KiB', 'MiB', 'GiB', 'TiB'],
        'memory-bytes': 1024,
      },
      'utp-enabled': false,
      version: this.#o.version ?? `mainlined ${VERSION}`,
    };
  }

  #sessionGet(a: Args): Args {
    const all = this.#sessionValues();
    const fields = a.fields;
    if (fields === undefined) return all;
    if (!Array.isArray(fields) || !fields.every((f) => typeof f === 'string')) throw new RpcArgumentError('"fields" must be an array of names');
    const out: Args = {};
    for (const f of fields as string[]) if (Object.hasOwn(all, f)) out[f] = all[f];
    return out;
  }

  async #sessionSet(a: Args): Promise<Args> {
    const dir = optString(a, 'download-dir');
    if (dir !== undefined && !isAbsolute(dir)) throw new RpcArgumentError('download directory path is not absolute');
    const up = optNumber(a, 'speed-limit-up');
    const upOn = optBool(a, 'speed-limit-up-enabled');
    const down = optNumber(a, 'speed-limit-down');
    const downOn = optBool(a, 'speed-limit-down-enabled');
    const lpd = optBool(a, 'lpd-enabled');
    const dht = optBool(a, 'dht-enabled');
    this.#daemon.setSessionSettings({
      ...(lpd !== undefined ? { lpdEnabled: lpd } : {}),
      ...(dht !== undefined ? { dhtEnabled: dht } : {}),
      ...(up !== undefined ? { speedLimitUp: up } : {}),
      ...(upOn !== undefined ? { speedLimitUpEnabled: upOn } : {}),
      ...(down !== undefined ? { speedLimitDown: down } : {}),
      ...(downOn !== undefined ? { speedLimitDownEnabled: downOn } : {}),
      ...(dir !== undefined ? { downloadDir: dir } : {}),
    });
    await this.#daemon.saveSessionSettings();
    return {};
  }

  #sessionStats(): Args {
    const d = this.#daemon;
    let down = 0;
    let up = 0;
    let active = 0;
    let paused = 0;
    for (const e of d.entries) {
      if (e.kind === 'torrent') {
        const s = e.torrent.stats();
        down += s.downloadRate;
        up += s.uploadRate;
      }
      if (entryStatus(e) === 0) paused++;
      else active++;
    }
    const t = d.traffic();
    return {
      activeTorrentCount: active,
      pausedTorrentCount: paused,
      torrentCount: d.entries.length,
      downloadSpeed: Math.round(down),
      uploadSpeed: Math.round(up),
      'current-stats': t.current,
      'cumulative-stats': t.cumulative,
    };
  }

  async #freeSpace(a: Args): Promise<Args> {
    const path = optString(a, 'path');
    if (path === undefined) throw new RpcArgumentError('free-space needs a "path"');
    if (!isAbsolute(path)) throw new RpcArgumentError('directory path is not absolute');
    const s = await statfs(path);
    return { path, 'size-bytes': s.bavail * s.bsize, total_size: s.blocks * s.bsize };
  }

  #torrentGet(a: Args): Args {
    const fields = a.fields;
    if (!Array.isArray(fields) || !fields.every((f) => typeof f === 'string')) throw new RpcArgumentError('torrent-get needs "fields": an array of field names');
    const entries = this.#select(a);
    const out: Args = {};
    if (a.format === 'table') {
      const known = (fields as string[]).filter((f) => Object.hasOwn(TORRENT_FIELDS, f));
      out.torrents = [known, ...entries.map((e) => Object.values(torrentFields(e, known)))];
    } else {
      out.torrents = entries.map((e) => torrentFields(e, fields as string[]));
    }
    if (a.ids === 'recently-active') out.removed = this.#daemon.recentlyRemoved();
    return out;
  }

  async #torrentAdd(a: Args): Promise<Args> {
    const metainfo = optString(a, 'metainfo');
    const filename = optString(a, 'filename');
    const dir = optString(a, 'download-dir');
    const paused = optBool(a, 'paused');
    if (dir !== undefined && !isAbsolute(dir)) throw new RpcArgumentError('download directory path is not absolute');
    const where = { ...(dir !== undefined ? { downloadDir: dir } : {}), ...(paused !== undefined ? { paused } : {}) };
    let bytes: Uint8Array;
    let fromUrl = false;
    if (metainfo !== undefined) {
      bytes = Buffer.from(metainfo, 'base64');
    } else if (filename !== undefined) {
      if (/^\s*magnet:/i.test(filename)) {
        // The file list comes with the metadata: file choices are made afterwards (torrent-set).
        if (FILE_ARGS.some((k) => a[k] !== undefined)) throw new RpcArgumentError('a magnet link has no file list yet: choose files with torrent-set once its metadata is here');
        return addedInfo(await this.#daemon.addMagnet(filename, where));
      }
      if (/^https?:\/\//i.test(filename)) {
        bytes = await this.#fetch(filename.trim());
        fromUrl = true;
      } else {
        const c = this.#daemon.config;
        bytes = await readTorrentFile(filename, [...(c.watchDir ? [c.watchDir] : []), ...c.torrentFileDirs], MAX_TORRENT_BYTES);
      }
    } else {
      throw new RpcArgumentError('no filename or metainfo specified');
    }
    if (bytes.length === 0) throw new DaemonError('invalid or corrupt torrent file: empty');
    if (bytes.length > MAX_TORRENT_BYTES) throw new DaemonError('invalid or corrupt torrent file: larger than 10 MiB');
    // Parse the file choice before adding, so a bad index adds nothing.
    let fileCount: number;
    try {
      fileCount = parseTorrent(bytes).files.length;
    } catch (err) {
      // What a server sent is not echoed back (it could be a page the caller may not read).
      if (fromUrl) throw new DaemonError(`invalid or corrupt torrent file: what ${filename} sent is not a torrent`);
      throw new DaemonError(`invalid or corrupt torrent file: ${(err as Error).message}`);
    }
    const priorities = applyFileArgs(a, Array.from({ length: fileCount }, () => 'normal' as const));
    return addedInfo(await this.#daemon.add(bytes, { ...where, ...(priorities ? { priorities } : {}) }));
  }

  async #fetch(url: string): Promise<Uint8Array> {
    const fetchTorrent = this.#o.fetchTorrent ?? ((u: string) => fetchTorrentUrl(u, { allowPrivate: this.#daemon.config.fetchPrivateAddresses, maxBytes: MAX_TORRENT_BYTES }));
    try {
      return await fetchTorrent(url);
    } catch (err) {
      if (!(err instanceof FetchError)) throw new DaemonError(`cannot fetch ${url}: ${(err as Error).message}`);
      if (err.detail !== err.message) this.#daemon.log(`torrent-add: ${err.detail}`);
      throw new DaemonError(err.message);
    }
  }

  async #torrentSet(a: Args): Promise<Args> {
    const up = optNumber(a, 'uploadLimit');
    const upOn = optBool(a, 'uploadLimited');
    const down = optNumber(a, 'downloadLimit');
    const downOn = optBool(a, 'downloadLimited');
    for (const e of this.#select(a)) {
      const priorities = applyFileArgs(a, e.record.priorities);
      if (priorities) await this.#daemon.setPriorities(e, priorities);
      if (up !== undefined || upOn !== undefined || down !== undefined || downOn !== undefined) {
        await this.#daemon.setTorrentLimits(e, {
          ...(up !== undefined ? { uploadLimit: up } : {}),
          ...(upOn !== undefined ? { uploadLimited: upOn } : {}),
          ...(down !== undefined ? { downloadLimit: down } : {}),
          ...(downOn !== undefined ? { downloadLimited: downOn } : {}),
        });
      }
    }
    return {};
  }
}
