import { Command, InvalidArgumentError } from 'commander';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '@mainline/rate';
import { AuthLimiter } from './auth-limit.js';
import { loadConfigFile, mergeConfig, type DaemonConfig } from './config.js';
import { Daemon } from './daemon.js';
import { RpcServer } from './http.js';
import { RpcHandler } from './rpc.js';
import { VERSION } from './version.js';

export { VERSION };

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`${value} is not a port number`);
  return n;
}

function rate(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${value} is not a non-negative number of kB/s`);
  return n;
}

function range(value: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(value);
  const a = m ? Number(m[1]) : NaN;
  const b = m?.[2] !== undefined ? Number(m[2]) : a;
  if (!m || !(a > 0 && b <= 65535 && a <= b)) throw new InvalidArgumentError(`${value} is not a port range like 6881-6999`);
  return [a, b];
}

interface Flags {
  config?: string;
  downloadDir?: string;
  stateDir?: string;
  watchDir?: string;
  peerPort?: number;
  portRange?: [number, number];
  bind?: string;
  uploadLimit?: number;
  downloadLimit?: number;
  rpcBind?: string;
  rpcPort?: number;
  rpcUsername?: string;
  rpcPassword?: string;
  rpcHostWhitelist?: string;
  webHome?: string;
}

export function buildProgram(): Command {
  return new Command('mainlined')
    .description('mainlined: a multi-torrent BitTorrent daemon, driven by transmission-remote (Transmission RPC) and a web UI')
    .version(VERSION)
    .option('-c, --config <file>', 'JSON config file (flags override it)')
    .option('-w, --download-dir <dir>', 'where new torrents are saved (default: ~/Downloads)')
    .option('--state-dir <dir>', 'torrents, their state and resume data (default: $XDG_STATE_HOME/mainlined)')
    .option('--watch-dir <dir>', 'add every .torrent dropped here (renamed to .added)')
    .option('-p, --peer-port <port>', 'BitTorrent port (default: first free of 6881-6999)', port)
    .option('--port-range <first-last>', 'BitTorrent port range', range)
    .option('--bind <address>', 'local address for BitTorrent connections')
    .option('-u, --upload-limit <kB/s>', 'session upload limit, 0 = unlimited', rate)
    .option('-d, --download-limit <kB/s>', 'session download limit, 0 = unlimited', rate)
    .option('--rpc-bind <address>', 'RPC and web UI address (default: 127.0.0.1)')
    .option('--rpc-port <port>', 'RPC and web UI port, 0 = any free one (default: 9091)', port)
    .option('--rpc-username <user>', 'require HTTP basic auth with this user')
    .option('--rpc-password <password>', 'the basic auth password; visible to every user in ps: prefer $MAINLINED_RPC_PASSWORD or "rpcPassword" in the config file')
    .option('--rpc-host-whitelist <names>', 'comma-separated Host names accepted besides IPs and localhost')
    .option('--web-home <dir>', 'serve this web UI (e.g. /usr/share/transmission/web) at /transmission/web/ instead of ours (default: $TRANSMISSION_WEB_HOME)');
}

/**
 * Config from defaults, the file and the flags, which keys the file or flags set, and warnings
 * about how the password was passed (on the command line; in a config file others can read).
 */
export async function configFrom(
  flags: Flags,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ config: DaemonConfig; pinned: (keyof DaemonConfig)[]; warnings: string[] }> {
  const file = flags.config ? await loadConfigFile(flags.config) : {};
  const warnings: string[] = [];
  if (flags.rpcPassword !== undefined) {
    warnings.push('warning: --rpc-password shows in ps to every user of this machine (hidden once started); pass it in $MAINLINED_RPC_PASSWORD or as "rpcPassword" in the config file');
  }
  if (flags.config && file.rpcPassword !== undefined && ((await stat(flags.config)).mode & 0o077) !== 0) {
    warnings.push(`warning: ${flags.config} holds rpcPassword and other users may read it: chmod 600 ${flags.config}`);
  }
  const f: Partial<DaemonConfig> = {};
  if (flags.downloadDir !== undefined) f.downloadDir = flags.downloadDir;
  if (flags.stateDir !== undefined) f.stateDir = flags.stateDir;
  if (flags.watchDir !== undefined) f.watchDir = flags.watchDir;
  if (flags.portRange !== undefined) f.portRange = flags.portRange;
  if (flags.peerPort !== undefined) f.portRange = [flags.peerPort, flags.peerPort];
  if (flags.bind !== undefined) f.bind = flags.bind;
  if (flags.uploadLimit !== undefined) Object.assign(f, { speedLimitUp: flags.uploadLimit, speedLimitUpEnabled: flags.uploadLimit > 0 });
  if (flags.downloadLimit !== undefined) Object.assign(f, { speedLimitDown: flags.downloadLimit, speedLimitDownEnabled: flags.downloadLimit > 0 });
  if (flags.rpcBind !== undefined) f.rpcBind = flags.rpcBind;
  if (flags.rpcPort !== undefined) f.rpcPort = flags.rpcPort;
  if (flags.rpcUsername !== undefined) f.rpcUsername = flags.rpcUsername;
  const password = flags.rpcPassword ?? env.MAINLINED_RPC_PASSWORD;
  if (password !== undefined) f.rpcPassword = password;
  const webHome = flags.webHome ?? env.TRANSMISSION_WEB_HOME;
  if (webHome !== undefined && webHome !== '') f.webHome = webHome;
  if (flags.rpcHostWhitelist !== undefined) f.rpcHostWhitelist = flags.rpcHostWhitelist.split(',').map((s) => s.trim()).filter(Boolean);
  return { config: mergeConfig(file, f), pinned: [...new Set([...Object.keys(file), ...Object.keys(f)])] as (keyof DaemonConfig)[], warnings };
}

/** A running daemon: the torrents, the RPC/web server, and how to stop both. */
export interface RunningDaemon {
  daemon: Daemon;
  server: RpcServer;
  rpcUrl: string;
  stop(): Promise<void>;
}

export function publicDir(): string {
  return join(__dirname, '..', 'public');
}

/** Starts the daemon and its RPC server from a config. */
export async function startDaemon(
  config: DaemonConfig,
  options: { log?: (line: string) => void; onSessionClose?: () => void; pinned?: (keyof DaemonConfig)[]; clock?: Clock } = {},
): Promise<RunningDaemon> {
  if (config.webHome !== undefined) {
    const st = await stat(config.webHome).catch(() => undefined);
    if (!st?.isDirectory()) throw new Error(`web home ${config.webHome} is not a directory`);
  }
  const daemon = new Daemon({
    config,
    ...(options.log ? { log: options.log } : {}),
    ...(options.pinned ? { pinned: options.pinned } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  await daemon.start();
  let stopping: Promise<void> | undefined;
  const rpc: RpcHandler = new RpcHandler(daemon, {
    sessionId: (): string => server.sessionId,
    onSessionClose: (): void => (options.onSessionClose ? options.onSessionClose() : void running.stop()),
    version: `mainlined ${VERSION}`,
  });
  const server: RpcServer = new RpcServer({
    rpc,
    host: config.rpcBind,
    port: config.rpcPort,
    hostWhitelist: config.rpcHostWhitelist,
    publicDir: publicDir(),
    ...(config.webHome !== undefined ? { webHome: config.webHome } : {}),
    authLimiter: new AuthLimiter(options.clock ? { clock: options.clock } : {}),
    ...(config.rpcUsername !== undefined && config.rpcPassword !== undefined ? { username: config.rpcUsername, password: config.rpcPassword } : {}),
  });
  try {
    await server.listen();
  } catch (err) {
    await daemon.close();
    throw new Error(`cannot listen for RPC on ${config.rpcBind}:${config.rpcPort}: ${(err as Error).message}`);
  }
  const host = config.rpcBind.includes(':') ? `[${config.rpcBind}]` : config.rpcBind || '127.0.0.1';
  const running: RunningDaemon = {
    daemon,
    server,
    rpcUrl: `http://${host}:${server.port}/transmission/rpc`,
    stop() {
      stopping ??= (async () => {
        await daemon.close();
        await server.close();
      })();
      return stopping;
    },
  };
  return running;
}

/** argv with the value of --rpc-password replaced by `***`. */
export function maskPassword(args: readonly string[]): string[] {
  return args.map((a, i) => (args[i - 1] === '--rpc-password' ? '***' : a.startsWith('--rpc-password=') ? '--rpc-password=***' : a));
}

/** `mainlined [flags]`: runs until SIGINT/SIGTERM (or RPC session-close); resolves to the exit code. */
export async function runDaemon(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.parse(argv);
  const flags = program.opts<Flags>();
  const { config, pinned, warnings } = await configFrom(flags);
  // Overwrites the arguments ps shows (Linux, macOS); the password was visible until here.
  if (flags.rpcPassword !== undefined) process.title = maskPassword(argv).join(' ');
  for (const w of warnings) process.stderr.write(`mainlined: ${w}\n`);
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  let shutdown: (why: string) => void = () => undefined;
  const running = await startDaemon(config, { pinned, onSessionClose: () => shutdown('session-close') });
  const { daemon } = running;
  const base = running.rpcUrl.replace(/\/transmission\/rpc$/, '');
  // One write for both lines: whoever reads the first (a supervisor, a test) has the second too.
  out(
    `mainlined ${VERSION}: peer port ${daemon.peerPort}, RPC ${running.rpcUrl}, web UI ${base}${config.webHome !== undefined ? `/transmission/web/ (${config.webHome})` : '/'}\n` +
      `download dir ${config.downloadDir}, state dir ${config.stateDir}${config.watchDir ? `, watch dir ${config.watchDir}` : ''}, ${daemon.entries.length} torrent(s) restored${config.rpcPassword !== undefined ? ', basic auth on' : ''}`,
  );
  return new Promise<number>((resolve) => {
    let signalled = false;
    shutdown = (why: string): void => {
      if (signalled) {
        out(`${why} again: exiting now`);
        process.exit(130);
      }
      signalled = true;
      out(`${why}: stopping (trackers told, resume data saved)`);
      // A hung tracker or disk cannot hold the exit for more than a few seconds.
      setTimeout(() => process.exit(1), 8000).unref();
      void running.stop().then(() => {
        out('stopped');
        resolve(0);
      });
    };
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGTERM', () => shutdown('SIGTERM'));
  });
}
