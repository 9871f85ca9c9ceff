import { homedir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { parseHostPort } from '@mainline/dht';
import type { SessionOptions, TorrentOptions } from '@mainline/session';

/** The download.py options that still make sense, with mainline's defaults. */
export interface ClientFlags {
  maxUploads: number;
  maxUploadRate: number;
  /** Undefined for `seed` (it downloads nothing). */
  maxDownloadRate?: number;
  minport: number;
  maxport: number;
  bind?: string;
  minPeers: number;
  maxInitiate: number;
  maxAllowIn: number;
  timeout: number;
  httpTimeout: number;
  rerequestInterval: number;
  peer?: string[];
  stateDir: string;
  /** false with --no-trackers. */
  trackers: boolean;
  /** false with --no-lsd. */
  lsd: boolean;
  /** false with --no-dht (on otherwise: --dht is the default). */
  dht?: boolean;
  /** --dht-bootstrap host:port (repeatable); default the public routers. */
  dhtBootstrap?: string[];
  sequential?: boolean;
  select?: string;
  quiet?: boolean;
  /** download --ignore-free-space: create the files even when they do not fit the disk. */
  ignoreFreeSpace?: boolean;
}

/** Option parsers shared by every command. */
export function nonNegative(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${value} is not a non-negative number`);
  return n;
}

export function nonNegativeInteger(value: string): number {
  const n = nonNegative(value);
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError(`${value} is not a non-negative integer`);
  return n;
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** --dht-bootstrap: `host:port` or `[v6]:port`, repeatable. */
export function collectHostPort(value: string, previous: string[] = []): string[] {
  try {
    parseHostPort(value);
  } catch {
    throw new InvalidArgumentError(`${value} is not host:port`);
  }
  return [...previous, value];
}

export function defaultStateDir(): string {
  const base = process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'mainline');
}

/** First wait before a peer named with --peer is dialled again (it doubles with each failure, up to 2 min). */
export const PEER_REDIAL_MS = 15_000;

/**
 * Adds the client options (names follow mainline's download.py, kebab-cased); those that only
 * make sense while downloading (a rate limit on what comes in, piece order) only for `download`.
 */
export function addClientOptions(cmd: Command, use: 'download' | 'seed'): Command {
  cmd.option('--max-uploads <n>', 'most peers unchoked at once', nonNegative, 7).option('--max-upload-rate <kB/s>', 'upload limit in kB/s (0 = unlimited)', nonNegative, 0);
  if (use === 'download') cmd.option('--max-download-rate <kB/s>', 'download limit in kB/s (0 = unlimited)', nonNegative, 0);
  cmd
    .option('--minport <port>', 'first port to try listening on', nonNegative, 6881)
    .option('--maxport <port>', 'last port to try listening on', nonNegative, 6999)
    .option('--bind <address>', 'local address to listen on and connect from')
    .option('--min-peers <n>', 'ask the tracker for more peers below this many', nonNegative, 20)
    .option('--max-initiate <n>', 'at this many connections, ask trackers for no more peers', nonNegative, 35)
    .option('--max-allow-in <n>', 'refuse incoming connections beyond this many', nonNegative, 55)
    .option('--timeout <s>', 'drop a peer after this long with nothing received', nonNegative, 300)
    .option('--http-timeout <s>', 'tracker request timeout', nonNegative, 60)
    .option('--rerequest-interval <s>', 'tracker check period (the tracker may ask for longer)', nonNegative, 300)
    .option('--peer <host:port>', 'also connect to this peer (repeatable; for a magnet link also asked for the metadata)', collect)
    .option('--no-trackers', 'do not contact trackers (use --peer)')
    .option('--no-lsd', 'do not look for peers on the local network (BEP 14 local service discovery)')
    .option('--dht', 'find peers through the DHT (BEP 5; the default, not for private torrents)')
    .option('--no-dht', 'do not use the DHT')
    .option('--dht-bootstrap <host:port>', 'DHT node to join through (repeatable; default the public routers; the saved node table is tried first)', collectHostPort);
  if (use === 'download') cmd.option('--sequential', 'download pieces in order (for streaming)');
  return cmd
    .option('--select <list>', `${use} only these files, by index from \`mainline info\` (e.g. 1-3,5)`)
    .option('--state-dir <dir>', 'where resume records are kept', defaultStateDir())
    .option('-q, --quiet', 'no progress display');
}

export function parsePeers(list: string[] | undefined): { ip: string; port: number }[] {
  return (list ?? []).map((s) => {
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(s);
    const port = m ? Number(m[2]) : NaN;
    if (!m || !(port > 0 && port < 65536)) throw new Error(`--peer ${s}: expected host:port`);
    return { ip: m[1]!, port };
  });
}

/** `1-3,5` (1-based, as `mainline info` numbers files) → a set of 0-based indices. */
export function parseSelection(list: string, fileCount: number): Set<number> {
  const out = new Set<number>();
  for (const part of list.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`--select ${list}: expected indices like 1-3,5`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (a < 1 || b > fileCount || a > b) throw new Error(`--select ${part}: files are numbered 1..${fileCount}`);
    for (let i = a; i <= b; i++) out.add(i - 1);
  }
  return out;
}

export function sessionOptions(f: ClientFlags): SessionOptions {
  return {
    portRange: [f.minport, f.maxport],
    ...(f.bind ? { bind: f.bind } : {}),
    uploadLimit: f.maxUploadRate * 1024,
    downloadLimit: (f.maxDownloadRate ?? 0) * 1024,
    maxConnections: f.maxAllowIn,
    timeoutMs: f.timeout * 1000,
    stateDir: f.stateDir,
    // On unless --no-lsd / --no-dht (the session's own defaults are off).
    lsd: f.lsd !== false,
    dht: f.dht === false ? false : f.dhtBootstrap ? { bootstrap: f.dhtBootstrap } : true,
    announcer: {
      minPeers: f.minPeers,
      maxPeers: f.maxInitiate,
      rerequestIntervalMs: f.rerequestInterval * 1000,
      http: { timeoutMs: f.httpTimeout * 1000 },
    },
  };
}

/** --seed-ratio / --seed-time (minutes) as torrent options. */
export function seedLimits(flags: { seedRatio?: number; seedTime?: number }): Pick<TorrentOptions, 'seedRatio' | 'seedTimeSeconds'> {
  return {
    ...(flags.seedRatio !== undefined ? { seedRatio: flags.seedRatio } : {}),
    ...(flags.seedTime !== undefined ? { seedTimeSeconds: flags.seedTime * 60 } : {}),
  };
}

export function torrentOptions(f: ClientFlags, savePath: string, fileCount: number): TorrentOptions {
  const selected = f.select ? parseSelection(f.select, fileCount) : undefined;
  return {
    savePath,
    maxUploads: f.maxUploads,
    maxPeers: f.maxAllowIn,
    peers: parsePeers(f.peer),
    peerRedialMs: PEER_REDIAL_MS,
    ...(f.trackers === false ? { noTrackers: true } : {}),
    ...(f.sequential ? { sequential: true } : {}),
    ...(f.ignoreFreeSpace ? { ignoreFreeSpace: true } : {}),
    ...(selected ? { filePriorities: Array.from({ length: fileCount }, (_, i) => (selected.has(i) ? 'normal' : 'skip')) } : {}),
  };
}
