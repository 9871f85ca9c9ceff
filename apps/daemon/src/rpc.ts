import { connect } from 'node:net';
import { statfs } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { parseTorrent } from '@mainline/metainfo';
import { altSpeedFromRpc, altSpeedToRpc } from './alt-speed.js';
import { DaemonError, type AnyEntry, type Daemon } from './daemon.js';
import { FetchError, fetchTorrentUrl } from './fetch-torrent.js';
import { MAX_TORRENT_BYTES, readTorrentFile } from './local-torrent.js';
import { TORRENT_FIELDS, entryStatus, torrentFields } from './fields.js';
import type { SessionPrefs } from './prefs.js';
import type { QueueMove } from './queue.js';
import { prioritiesOf, type Priority } from './state.js';
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

/** Whether host:port takes a TCP connection within 2 s. */
function acceptsConnection(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (port <= 0) return resolve(false);
    const socket = connect({ host: host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host, port });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A bad argument: answered as a Transmission error result. */
export class RpcArgumentError extends Error {
  override name = 'RpcArgumentError';
}

export const RPC_VERSION = 17;
export const RPC_VERSION_MINIMUM = 14;
export const RPC_VERSION_SEMVER = '5.3.0';
const HASH = /^[0-9a-fA-F]{40}$/;
const SET_LOCATION_WAIT_MS = 20_000;

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

function optInt(a: Args, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const v = a[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new RpcArgumentError(`argument "${key}" must be an integer from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ''}`);
  return v;
}

function optMode(a: Args, key: string): 0 | 1 | 2 | undefined {
  return optInt(a, key, 0, 2) as 0 | 1 | 2 | undefined;
}

function optDir(a: Args, key: string): string | undefined {
  const dir = optString(a, key);
  if (dir !== undefined && !isAbsolute(dir)) throw new RpcArgumentError(`argument "${key}": directory path is not absolute`);
  return dir;
}

/** Transmission's labels: strings, none empty, none with a comma (the remote's -L separator). */
function optLabels(a: Args): string[] | undefined {
  const v = a.labels;
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((l) => typeof l === 'string')) throw new RpcArgumentError('argument "labels" must be an array of strings');
  const labels = (v as string[]).map((l) => l.trim());
  if (labels.some((l) => l === '')) throw new RpcArgumentError('argument "labels": a label cannot be empty');
  if (labels.some((l) => l.includes(','))) throw new RpcArgumentError('argument "labels": labels cannot contain comma (,) character');
  return [...new Set(labels)];
}

/**
 * Arguments whose value is fixed in mainlined (what session-get shows): setting one to that value
 * is fine, anything else is an error that names it and says why.
 */
const FIXED_SESSION_ARGS: Record<string, { value: unknown; why: string }> = {
  'blocklist-enabled': { value: false, why: 'blocklists are not supported' },
  'cache-size-mb': { value: 0, why: 'mainline has no memory cache: blocks are written as they arrive (the OS page cache does the rest)' },
  'default-trackers': { value: '', why: 'default trackers are not supported' },
  encryption: { value: 'tolerated', why: 'peer connection encryption (MSE) is not supported yet: connections are plaintext' },
  'port-forwarding-enabled': { value: false, why: 'port forwarding (UPnP / NAT-PMP) is not supported' },
  'rename-partial-files': { value: false, why: 'files are written under their final names (no .part suffix)' },
  'utp-enabled': { value: false, why: 'uTP is not supported yet' },
};

function checkFixed(a: Args, fixed: Record<string, { value: unknown; why: string }>): void {
  for (const [key, { value, why }] of Object.entries(fixed)) {
    if (a[key] !== undefined && a[key] !== value) throw new RpcArgumentError(`argument "${key}" cannot be ${JSON.stringify(a[key])}: ${why}`);
  }
}

/** torrent-set / torrent-add arguments fixed in mainlined, like FIXED_SESSION_ARGS. */
const FIXED_TORRENT_ARGS: Record<string, { value: unknown; why: string }> = {
  group: { value: '', why: 'bandwidth groups are not supported' },
};

/** torrent-set arguments not supported: any value is an error naming it. */
const UNSUPPORTED_TORRENT_SET = {
  location: 'moving data with torrent-set is not supported in this build (torrent-set-location)',
};

const TRACKER_URL = /^(https?|udp):\/\/[^\s/]+/i;

function checkTrackerUrl(key: string, url: unknown): string {
  if (typeof url !== 'string' || !TRACKER_URL.test(url.trim())) throw new RpcArgumentError(`argument "${key}": ${JSON.stringify(url)} is not an http(s) or udp tracker URL`);
  return url.trim();
}

/**
 * trackerAdd / trackerRemove / trackerReplace / trackerList applied to a torrent's tiers, as
 * Transmission: an added URL gets a tier of its own after the others, ids are positions in the
 * flat list (trackerStats' `id`), trackerList replaces everything (tiers apart by a blank line).
 * Undefined when none is given.
 */
function applyTrackerArgs(a: Args, current: readonly (readonly string[])[]): string[][] | undefined {
  if (a.trackerAdd === undefined && a.trackerRemove === undefined && a.trackerReplace === undefined && a.trackerList === undefined) return undefined;
  let tiers = current.map((t) => [...t]);
  const flat = (): { tier: number; index: number }[] => tiers.flatMap((urls, tier) => urls.map((_, index) => ({ tier, index })));
  const idAt = (key: string, id: unknown): { tier: number; index: number } => {
    const at = typeof id === 'number' && Number.isInteger(id) ? flat()[id] : undefined;
    if (!at) throw new RpcArgumentError(`argument "${key}": no tracker with id ${JSON.stringify(id)}`);
    return at;
  };
  if (a.trackerList !== undefined) {
    const list = optString(a, 'trackerList')!;
    tiers = list
      .split(/\n\s*\n/)
      .map((block) => block.split('\n').map((u) => u.trim()).filter((u) => u !== '').map((u) => checkTrackerUrl('trackerList', u)))
      .filter((t) => t.length > 0);
  }
  if (a.trackerReplace !== undefined) {
    const r = a.trackerReplace;
    if (!Array.isArray(r) || r.length % 2 !== 0) throw new RpcArgumentError('argument "trackerReplace" must be pairs of a tracker id and a URL');
    for (let i = 0; i < r.length; i += 2) {
      const at = idAt('trackerReplace', r[i]);
      tiers[at.tier]![at.index] = checkTrackerUrl('trackerReplace', r[i + 1]);
    }
  }
  if (a.trackerRemove !== undefined) {
    const ids = a.trackerRemove;
    if (!Array.isArray(ids)) throw new RpcArgumentError('argument "trackerRemove" must be an array of tracker ids');
    const gone = ids.map((id) => idAt('trackerRemove', id));
    tiers = tiers.map((urls, tier) => urls.filter((_, index) => !gone.some((g) => g.tier === tier && g.index === index))).filter((t) => t.length > 0);
  }
  if (a.trackerAdd !== undefined) {
    const urls = a.trackerAdd;
    if (!Array.isArray(urls)) throw new RpcArgumentError('argument "trackerAdd" must be an array of URLs');
    for (const u of urls) {
      const url = checkTrackerUrl('trackerAdd', u);
      if (!tiers.some((t) => t.includes(url))) tiers.push([url]);
    }
  }
  return tiers;
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
      // Transmission asks a service on the Internet; mainlined asks none: it checks that the
      // peer port takes a connection here (listening, not reachable from outside: see README).
      'port-test': async () => ({ 'port-is-open': await acceptsConnection(daemon.config.bind || '127.0.0.1', daemon.peerPort) }),
      'torrent-get': (a) => this.#torrentGet(a),
      'torrent-add': (a) => this.#torrentAdd(a),
      'torrent-start': (a) => this.#each(a, (e) => daemon.startTorrent(e)),
      // "Start now" insists: a torrent that stopped for lack of free space is created anyway.
      'torrent-start-now': (a) => this.#each(a, (e) => daemon.startTorrent(e, { insist: true })),
      'torrent-stop': (a) => this.#each(a, (e) => daemon.stopTorrent(e)),
      'torrent-verify': (a) => this.#each(a, (e) => daemon.verifyTorrent(e)),
      'torrent-reannounce': (a) => this.#each(a, (e) => (e.kind === 'torrent' ? e.torrent.reannounce() : undefined)),
      'torrent-remove': (a) => {
        const del = optBool(a, 'delete-local-data') ?? false;
        return this.#each(a, (e) => daemon.remove(e, del));
      },
      'torrent-set': (a) => this.#torrentSet(a),
      // Known methods mainlined cannot do yet: an error naming them, not "method name not recognized".
      'torrent-rename-path': (a) => this.#renamePath(a),
      'blocklist-update': () => {
        throw new RpcArgumentError('blocklist-update: blocklists are not supported');
      },
      'queue-move-top': (a) => this.#queueMove(a, 'top'),
      'queue-move-up': (a) => this.#queueMove(a, 'up'),
      'queue-move-down': (a) => this.#queueMove(a, 'down'),
      'queue-move-bottom': (a) => this.#queueMove(a, 'bottom'),
      'torrent-set-location': (a) => this.#setLocation(a),
      // Transmission 4's bandwidth groups (remote -lg / -bwg): there are none, and none can be made.
      'group-get': () => ({ group: [] }),
      'group-set': (a) => {
        throw new RpcArgumentError(`group-set${typeof a.name === 'string' ? ` "${a.name}"` : ''}: bandwidth groups are not supported`);
      },
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
      const since = d.nowSeconds() - 60;
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
    const p = d.prefs;
    return {
      ...Object.fromEntries(Object.entries(FIXED_SESSION_ARGS).map(([k, f]) => [k, f.value])),
      ...altSpeedToRpc(c),
      'blocklist-size': 0,
      'blocklist-url': p.blocklistUrl,
      'config-dir': c.stateDir,
      'dht-enabled': d.dhtEnabled,
      'download-dir': c.downloadDir,
      'download-queue-enabled': p.downloadQueueEnabled,
      'download-queue-size': p.downloadQueueSize,
      'idle-seeding-limit': p.idleSeedingLimit,
      'idle-seeding-limit-enabled': p.idleSeedingLimitEnabled,
      'incomplete-dir': p.incompleteDir,
      'incomplete-dir-enabled': p.incompleteDirEnabled,
      'lpd-enabled': c.lpdEnabled,
      'pex-enabled': c.pexEnabled,
      'peer-limit-global': c.peerLimitGlobal,
      'peer-limit-per-torrent': p.peerLimitPerTorrent,
      'peer-port-random-on-start': p.peerPortRandomOnStart,
      'peer-port': d.peerPort,
      'queue-stalled-enabled': p.queueStalledEnabled,
      'queue-stalled-minutes': p.queueStalledMinutes,
      'rpc-version': RPC_VERSION,
      'rpc-version-minimum': RPC_VERSION_MINIMUM,
      'rpc-version-semver': RPC_VERSION_SEMVER,
      'script-torrent-added-enabled': p.scriptTorrentAddedEnabled,
      'script-torrent-added-filename': p.scriptTorrentAddedFilename,
      'script-torrent-done-enabled': p.scriptTorrentDoneEnabled,
      'script-torrent-done-filename': p.scriptTorrentDoneFilename,
      'script-torrent-done-seeding-enabled': p.scriptTorrentDoneSeedingEnabled,
      'script-torrent-done-seeding-filename': p.scriptTorrentDoneSeedingFilename,
      'seed-queue-enabled': p.seedQueueEnabled,
      'seed-queue-size': p.seedQueueSize,
      seedRatioLimit: c.seedRatioLimit,
      seedRatioLimited: c.seedRatioLimited,
      // Transmission 4.1's (snake_case even in the 3.x dialect): what torrent-add defaults to.
      sequential_download: p.sequentialDownload,
      'session-id': this.#o.sessionId?.() ?? '',
      'speed-limit-down': c.speedLimitDown,
      'speed-limit-down-enabled': c.speedLimitDownEnabled,
      'speed-limit-up': c.speedLimitUp,
      'speed-limit-up-enabled': c.speedLimitUpEnabled,
      'start-added-torrents': p.startAddedTorrents,
      'trash-original-torrent-files': p.trashOriginalTorrentFiles,
      units: {
        'speed-units': ['kB/s', 'MB/s', 'GB/s', 'TB/s'],
        'speed-bytes': 1000,
        'size-units': ['kB', 'MB', 'GB', 'TB'],
        'size-bytes': 1000,
        'memory-units': ['KiB', 'MiB', 'GiB', 'TiB'],
        'memory-bytes': 1024,
      },
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
    const d = this.#daemon;
    const dir = optString(a, 'download-dir');
    if (dir !== undefined && !isAbsolute(dir)) throw new RpcArgumentError('download directory path is not absolute');
    const up = optNumber(a, 'speed-limit-up');
    const upOn = optBool(a, 'speed-limit-up-enabled');
    const down = optNumber(a, 'speed-limit-down');
    const downOn = optBool(a, 'speed-limit-down-enabled');
    const lpd = optBool(a, 'lpd-enabled');
    const pex = optBool(a, 'pex-enabled');
    const ratio = optNumber(a, 'seedRatioLimit');
    const ratioOn = optBool(a, 'seedRatioLimited');
    checkFixed(a, FIXED_SESSION_ARGS);
    const dht = optBool(a, 'dht-enabled');
    const port = optInt(a, 'peer-port', 1, 65535);
    const global = optInt(a, 'peer-limit-global', 1);
    // What prefs.ts keeps, each checked before anything changes.
    const prefs: Partial<SessionPrefs> = {};
    const put = <K extends keyof SessionPrefs>(k: K, v: SessionPrefs[K] | undefined): void => {
      if (v !== undefined) prefs[k] = v;
    };
    put('startAddedTorrents', optBool(a, 'start-added-torrents'));
    put('idleSeedingLimit', optInt(a, 'idle-seeding-limit', 1));
    put('idleSeedingLimitEnabled', optBool(a, 'idle-seeding-limit-enabled'));
    put('incompleteDir', optDir(a, 'incomplete-dir'));
    put('incompleteDirEnabled', optBool(a, 'incomplete-dir-enabled'));
    put('scriptTorrentDoneFilename', optString(a, 'script-torrent-done-filename'));
    put('scriptTorrentDoneEnabled', optBool(a, 'script-torrent-done-enabled'));
    put('scriptTorrentAddedFilename', optString(a, 'script-torrent-added-filename'));
    put('scriptTorrentAddedEnabled', optBool(a, 'script-torrent-added-enabled'));
    put('scriptTorrentDoneSeedingFilename', optString(a, 'script-torrent-done-seeding-filename'));
    put('scriptTorrentDoneSeedingEnabled', optBool(a, 'script-torrent-done-seeding-enabled'));
    put('sequentialDownload', optBool(a, 'sequential_download'));
    put('downloadQueueEnabled', optBool(a, 'download-queue-enabled'));
    put('downloadQueueSize', optInt(a, 'download-queue-size', 0));
    put('seedQueueEnabled', optBool(a, 'seed-queue-enabled'));
    put('seedQueueSize', optInt(a, 'seed-queue-size', 0));
    put('queueStalledEnabled', optBool(a, 'queue-stalled-enabled'));
    put('queueStalledMinutes', optInt(a, 'queue-stalled-minutes', 1));
    put('trashOriginalTorrentFiles', optBool(a, 'trash-original-torrent-files'));
    put('blocklistUrl', optString(a, 'blocklist-url'));
    put('peerLimitPerTorrent', optInt(a, 'peer-limit-per-torrent', 1));
    put('peerPortRandomOnStart', optBool(a, 'peer-port-random-on-start'));
    const turtle = altSpeedFromRpc(a);
    // Every argument is checked by now; the port move is the one change that can still fail.
    if (port !== undefined) {
      try {
        await d.setPeerPort(port);
      } catch (err) {
        throw new RpcArgumentError(`argument "peer-port" cannot be ${port}: ${(err as Error).message}; the peer port stays ${d.peerPort}`);
      }
    }
    if (global !== undefined) d.setPeerLimitGlobal(global);
    d.setPrefs(prefs);
    d.setSessionSettings({
      ...turtle,
      ...(lpd !== undefined ? { lpdEnabled: lpd } : {}),
      ...(pex !== undefined ? { pexEnabled: pex } : {}),
      ...(dht !== undefined ? { dhtEnabled: dht } : {}),
      ...(up !== undefined ? { speedLimitUp: up } : {}),
      ...(upOn !== undefined ? { speedLimitUpEnabled: upOn } : {}),
      ...(down !== undefined ? { speedLimitDown: down } : {}),
      ...(downOn !== undefined ? { speedLimitDownEnabled: downOn } : {}),
      ...(dir !== undefined ? { downloadDir: dir } : {}),
      ...(ratio !== undefined ? { seedRatioLimit: ratio } : {}),
      ...(ratioOn !== undefined ? { seedRatioLimited: ratioOn } : {}),
    });
    await d.saveSessionSettings();
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
        down += s.recentDownloadRate;
        up += s.recentUploadRate;
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
    const now = this.#daemon.nowSeconds();
    const out: Args = {};
    if (a.format === 'table') {
      const known = (fields as string[]).filter((f) => Object.hasOwn(TORRENT_FIELDS, f));
      out.torrents = [known, ...entries.map((e) => Object.values(torrentFields(e, known, now, this.#daemon.state)))];
    } else {
      out.torrents = entries.map((e) => torrentFields(e, fields as string[], now, this.#daemon.state));
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
    checkFixed(a, FIXED_TORRENT_ARGS);
    const cookies = optString(a, 'cookies');
    if (cookies !== undefined && cookies !== '') throw new RpcArgumentError('argument "cookies" is not supported: torrent URLs are fetched without cookies');
    const labels = optLabels(a);
    const peerLimit = optInt(a, 'peer-limit', 1);
    const bandwidthPriority = optInt(a, 'bandwidthPriority', -1, 1) as -1 | 0 | 1 | undefined;
    const sequential = optBool(a, 'sequential_download');
    const where = {
      ...(bandwidthPriority !== undefined ? { bandwidthPriority } : {}),
      ...(sequential !== undefined ? { sequential } : {}),
      ...(dir !== undefined ? { downloadDir: dir } : {}),
      ...(paused !== undefined ? { paused } : {}),
      ...(labels !== undefined ? { labels } : {}),
      ...(peerLimit !== undefined ? { peerLimit } : {}),
    };
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

  /**
   * Moves run one after another. A move across file systems can take longer than a client waits
   * (transmission-remote: 60 s): after SET_LOCATION_WAIT_MS the answer is success and the rest
   * goes on (logged; the torrents say where they are). A quick one's failure is the answer.
   */
  async #setLocation(a: Args): Promise<Args> {
    const location = optString(a, 'location');
    if (location === undefined) throw new RpcArgumentError('torrent-set-location needs a "location"');
    if (!isAbsolute(location)) throw new RpcArgumentError('new location path is not absolute');
    const move = optBool(a, 'move') ?? false;
    const entries = this.#select(a);
    const d = this.#daemon;
    const all = (async (): Promise<'done'> => {
      for (const e of entries) await d.setLocation(e, location, move);
      return 'done';
    })();
    let timer: NodeJS.Timeout | undefined;
    const later = new Promise<'later'>((resolve) => (timer = setTimeout(() => resolve('later'), SET_LOCATION_WAIT_MS)));
    try {
      if ((await Promise.race([all, later])) === 'later') {
        d.log(`set-location to ${location}: still moving; the RPC answered already`);
        all.then(() => d.log(`set-location to ${location}: done`)).catch((err: unknown) => d.log(`set-location to ${location}: ${(err as Error).message}`));
      }
    } finally {
      clearTimeout(timer);
    }
    return {};
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

  async #renamePath(a: Args): Promise<Args> {
    const path = optString(a, 'path');
    const name = optString(a, 'name');
    if (path === undefined || name === undefined) throw new RpcArgumentError('torrent-rename-path needs "path" and "name"');
    const selected = this.#select(a);
    if (selected.length !== 1) throw new RpcArgumentError('torrent-rename-path requires 1 torrent');
    return this.#daemon.renamePath(selected[0]!, path, name);
  }

  async #queueMove(a: Args, how: QueueMove): Promise<Args> {
    await this.#daemon.moveInQueue(this.#select(a), how);
    return {};
  }

  async #torrentSet(a: Args): Promise<Args> {
    const up = optNumber(a, 'uploadLimit');
    const upOn = optBool(a, 'uploadLimited');
    const down = optNumber(a, 'downloadLimit');
    const downOn = optBool(a, 'downloadLimited');
    checkFixed(a, FIXED_TORRENT_ARGS);
    for (const [key, why] of Object.entries(UNSUPPORTED_TORRENT_SET)) if (a[key] !== undefined) throw new RpcArgumentError(`argument "${key}" is not supported: ${why}`);
    const labels = optLabels(a);
    const peerLimit = optInt(a, 'peer-limit', 1);
    const queuePosition = optInt(a, 'queuePosition', 0);
    const seedRatioLimit = optNumber(a, 'seedRatioLimit');
    const seedRatioMode = optMode(a, 'seedRatioMode');
    const seedIdleLimit = optInt(a, 'seedIdleLimit', 0);
    const seedIdleMode = optMode(a, 'seedIdleMode');
    const sequential = optBool(a, 'sequential_download');
    const options = {
      ...(sequential !== undefined ? { sequential } : {}),
      ...(labels !== undefined ? { labels } : {}),
      ...(peerLimit !== undefined ? { peerLimit } : {}),
      ...(seedRatioLimit !== undefined ? { seedRatioLimit } : {}),
      ...(seedRatioMode !== undefined ? { seedRatioMode } : {}),
      ...(seedIdleLimit !== undefined ? { seedIdleLimit } : {}),
      ...(seedIdleMode !== undefined ? { seedIdleMode } : {}),
    };
    const honors = optBool(a, 'honorsSessionLimits');
    if (honors !== undefined) Object.assign(options, { honorsSessionLimits: honors });
    const bandwidthPriority = optInt(a, 'bandwidthPriority', -1, 1);
    if (bandwidthPriority !== undefined) Object.assign(options, { bandwidthPriority });
    const selected = this.#select(a);
    // Tracker edits are checked on every selected torrent before any is changed.
    const trackerEdits = new Map(selected.map((e) => [e, e.kind === 'torrent' ? applyTrackerArgs(a, e.torrent.trackers) : applyTrackerArgs(a, [])]));
    if (queuePosition !== undefined) for (const e of selected) await this.#daemon.setQueuePosition(e, queuePosition);
    for (const e of selected) {
      const trackers = trackerEdits.get(e);
      if (Object.keys(options).length > 0 || trackers) await this.#daemon.setTorrentOptions(e, { ...options, ...(trackers ? { trackers } : {}) });
      const priorities = applyFileArgs(a, prioritiesOf(e.record, e.kind === 'torrent' ? e.meta.files.length : 0));
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
