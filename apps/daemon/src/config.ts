import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ALT_SPEED_DEFAULTS, ALT_SPEED_KEYS, altSpeedProblem, type AltSpeedSettings } from './alt-speed.js';

/** Everything mainlined can be told, from its config file and its flags. Rates are in kB/s (1000 bytes), as Transmission counts them. */
export interface DaemonConfig extends AltSpeedSettings {
  /** Where new torrents are saved unless told otherwise. */
  downloadDir: string;
  /** Holds the .torrent files, each torrent's state and the resume records. */
  stateDir: string;
  /** A .torrent dropped here is added, then renamed to `<name>.added`. */
  watchDir?: string;
  /** How often the watch directory is scanned. */
  watchIntervalMs: number;
  /** The BitTorrent listening port: the first free one of this range. */
  portRange: [number, number];
  /** Local address for BitTorrent connections ('' = all). */
  bind: string;
  /** Session-wide limits in kB/s, applied only when the matching `...Enabled` is true. */
  speedLimitUp: number;
  speedLimitUpEnabled: boolean;
  speedLimitDown: number;
  speedLimitDownEnabled: boolean;
  /** Stop seeding at this ratio when `seedRatioLimited`. */
  seedRatioLimit: number;
  seedRatioLimited: boolean;
  /** Most open peer connections in the session. */
  peerLimitGlobal: number;
  /** The Transmission RPC and web UI listen here. */
  rpcBind: string;
  rpcPort: number;
  /** HTTP basic auth is required when both are set. */
  rpcUsername?: string;
  rpcPassword?: string;
  /** Host names accepted in the `Host` header besides IP literals and localhost (DNS-rebinding guard). */
  rpcHostWhitelist: string[];
  /**
   * Directories, besides the watch directory, from which `torrent-add` may read a .torrent named
   * by a local path (`filename`). Default none: RPC callers send the file itself (`metainfo`), as
   * transmission-remote does for a file it can read.
   */
  torrentFileDirs: string[];
  /**
   * Whether `torrent-add` may fetch URLs from loopback, private, link-local and other non-public
   * addresses (checked after resolving the host name, on every redirect). Default false: an RPC
   * caller cannot make the daemon probe the machine or its network.
   */
  fetchPrivateAddresses: boolean;
  /**
   * Refuse to start a torrent whose wanted files need more than the free space of the download
   * file system (Transmission's "not enough free space" error; nothing is created). Default true;
   * torrent-start-now insists for one torrent.
   */
  checkFreeSpace: boolean;
  /**
   * Local peer discovery (BEP 14): find peers of non-private torrents on the local network by
   * multicast (Transmission's `lpd-enabled`; off by default, as in Transmission).
   */
  lpdEnabled: boolean;
  /**
   * Another web UI's directory (e.g. Transmission's own, /usr/share/transmission/web), served at
   * /transmission/web/ instead of ours, with / redirecting there (Transmission's
   * TRANSMISSION_WEB_HOME).
   */
  webHome?: string;
  /**
   * The DHT (BEP 5): find peers of non-private torrents, and trackerless magnets, through it
   * (Transmission's `dht-enabled`). Off by default here, unlike Transmission: turn it on in the
   * config file or with session-set. Its node table is `dht.dat` in the state directory.
   */
  dhtEnabled: boolean;
  /** DHT bootstrap nodes, `host:port` (default: the public routers). */
  dhtBootstrap?: string[];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function defaultStateDir(): string {
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'mainlined');
}

export function defaultConfig(): DaemonConfig {
  return {
    downloadDir: join(homedir(), 'Downloads'),
    stateDir: defaultStateDir(),
    watchIntervalMs: 2000,
    portRange: [6881, 6999],
    bind: '',
    speedLimitUp: 100,
    speedLimitUpEnabled: false,
    speedLimitDown: 100,
    speedLimitDownEnabled: false,
    seedRatioLimit: 2,
    seedRatioLimited: false,
    peerLimitGlobal: 200,
    rpcBind: '127.0.0.1',
    rpcPort: 9091,
    rpcHostWhitelist: [],
    torrentFileDirs: [],
    fetchPrivateAddresses: false,
    checkFreeSpace: true,
    lpdEnabled: false,
    ...ALT_SPEED_DEFAULTS,
    dhtEnabled: false,
  };
}

type Check = (v: unknown) => boolean;
const isString: Check = (v) => typeof v === 'string';
const isBool: Check = (v) => typeof v === 'boolean';
const isRate: Check = (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isPort: Check = (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 65536;
const isCount: Check = (v) => typeof v === 'number' && Number.isInteger(v) && v > 0;

const FIELDS: Record<keyof DaemonConfig, [Check, string]> = {
  downloadDir: [isString, 'a path'],
  stateDir: [isString, 'a path'],
  watchDir: [isString, 'a path'],
  watchIntervalMs: [isCount, 'a positive integer'],
  portRange: [(v) => Array.isArray(v) && v.length === 2 && v.every((p) => isPort(p) && p > 0) && v[0] <= v[1], 'a [first, last] port pair'],
  bind: [isString, 'an address'],
  speedLimitUp: [isRate, 'a number of kB/s'],
  speedLimitUpEnabled: [isBool, 'true or false'],
  speedLimitDown: [isRate, 'a number of kB/s'],
  speedLimitDownEnabled: [isBool, 'true or false'],
  seedRatioLimit: [isRate, 'a non-negative number'],
  seedRatioLimited: [isBool, 'true or false'],
  peerLimitGlobal: [isCount, 'a positive integer'],
  rpcBind: [isString, 'an address'],
  rpcPort: [isPort, 'a port number'],
  rpcUsername: [isString, 'a string'],
  rpcPassword: [isString, 'a string'],
  rpcHostWhitelist: [(v) => Array.isArray(v) && v.every(isString), 'a list of host names'],
  torrentFileDirs: [(v) => Array.isArray(v) && v.every(isString), 'a list of paths'],
  fetchPrivateAddresses: [isBool, 'true or false'],
  checkFreeSpace: [isBool, 'true or false'],
  lpdEnabled: [isBool, 'true or false'],
  webHome: [isString, 'a path'],
  ...altSpeedChecks(),
  dhtEnabled: [isBool, 'true or false'],
  dhtBootstrap: [(v) => Array.isArray(v) && v.every((x) => typeof x === 'string' && /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+):\d{1,5}$/.test(x)), 'a list of host:port'],
};

function altSpeedChecks(): Record<keyof AltSpeedSettings, [Check, string]> {
  const out = {} as Record<keyof AltSpeedSettings, [Check, string]>;
  for (const k of ALT_SPEED_KEYS) out[k] = [(v) => altSpeedProblem(k, v) === undefined, altSpeedProblem(k, undefined) ?? ''];
  return out;
}

/** Checks a partial config (from JSON or flags); unknown keys and wrong types are errors. */
export function validateConfig(input: unknown, where: string): Partial<DaemonConfig> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ConfigError(`${where}: expected a JSON object`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    const spec = (FIELDS as Record<string, [Check, string] | undefined>)[key];
    if (!spec) throw new ConfigError(`${where}: unknown setting "${key}" (known: ${Object.keys(FIELDS).join(', ')})`);
    if (!spec[0](value)) throw new ConfigError(`${where}: "${key}" must be ${spec[1]}, got ${JSON.stringify(value)}`);
    out[key] = value;
  }
  return out as Partial<DaemonConfig>;
}

export async function loadConfigFile(path: string): Promise<Partial<DaemonConfig>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  return validateConfig(json, path);
}

/** Defaults, then the config file, then flags; paths made absolute. */
export function mergeConfig(...layers: Partial<DaemonConfig>[]): DaemonConfig {
  const c: DaemonConfig = Object.assign(defaultConfig(), ...layers);
  c.downloadDir = resolve(c.downloadDir);
  c.stateDir = resolve(c.stateDir);
  if (c.watchDir) c.watchDir = resolve(c.watchDir);
  if (c.webHome) c.webHome = resolve(c.webHome);
  c.torrentFileDirs = c.torrentFileDirs.map((d) => resolve(d));
  return c;
}
