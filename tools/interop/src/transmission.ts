import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseTorrent } from '@mainline/metainfo';
import { InteropError } from './errors.js';
import { freePort, isListening, poll } from './net.js';
import { makeTempDir, removeTempDir, requireProgram, spawnTracked } from './proc.js';
import { StatusBox, type ClientHandle, type ClientStatus } from './status.js';

export interface TransmissionOptions {
  readonly torrentPath: string;
  /** Where the payload is (seed) or goes (leech): the directory that holds the torrent's name. */
  readonly dir: string;
  /** Peer port on 127.0.0.1; default a free one. */
  readonly port?: number;
  /**
   * Informational: Transmission verifies whatever is already in `dir` when the torrent is added and
   * seeds once complete either way. A leecher completes only when some peer dials it: Transmission
   * 3.00 drops 127.0.0.0/8 peers it hears of from trackers.
   */
  readonly seed: boolean;
  /** Files written into its config dir before it starts, by name (e.g. a `dht.dat` node table). */
  readonly configFiles?: Readonly<Record<string, Uint8Array>>;
  /** Extra settings.json entries (override the harness's). */
  readonly settings?: Readonly<Record<string, string | number | boolean>>;
  /**
   * 'daemon': transmission-daemon driven over RPC (Debian package transmission-daemon).
   * 'cli': transmission-cli, status parsed from its console line (package transmission-cli).
   * Default: the daemon when installed, else the cli.
   */
  readonly backend?: 'daemon' | 'cli';
  /**
   * Run inside this network namespace (`ip netns exec`; the cli backend only, whose status comes
   * from its output: the daemon's RPC would be out of reach). Set `bind-address-ipv4` in `settings`.
   */
  readonly netns?: string;
  /** Status poll period (daemon); default 250 ms. */
  readonly intervalMs?: number;
  readonly startTimeoutMs?: number;
}

export interface TransmissionStatus extends ClientStatus {
  /** "stopped" | "check-wait" | "checking" | "download-wait" | "downloading" | "seed-wait" | "seeding". */
  readonly state: string;
  readonly leftUntilDone: number;
  readonly sizeWhenDone: number;
  readonly haveValid: number;
  readonly uploadedEver: number;
  readonly downloadedEver: number;
  readonly error: number;
  readonly errorString: string;
}

export interface TransmissionHandle extends ClientHandle<TransmissionStatus> {
  readonly backend: 'daemon' | 'cli';
  /** The daemon's RPC port (http://127.0.0.1:PORT/transmission/rpc); undefined with the cli backend. */
  readonly rpcPort: number | undefined;
  /** Sends one RPC request and returns its `arguments` (daemon backend only; BAD_ARGUMENT with the cli). */
  rpc(method: string, args?: Record<string, unknown>): Promise<Record<string, unknown>>;
}

const STATES = ['stopped', 'check-wait', 'checking', 'download-wait', 'downloading', 'seed-wait', 'seeding'];
const FIELDS = [
  'id',
  'status',
  'percentDone',
  'leftUntilDone',
  'sizeWhenDone',
  'haveValid',
  'rateDownload',
  'rateUpload',
  'peersConnected',
  'uploadedEver',
  'downloadedEver',
  'error',
  'errorString',
];

interface RpcReply {
  result: string;
  arguments?: Record<string, unknown>;
}

function baseSettings(port: number, dir: string, rpcPort: number | undefined, extra: TransmissionOptions['settings']): Record<string, unknown> {
  return {
    'bind-address-ipv4': '127.0.0.1',
    'bind-address-ipv6': '::1',
    'peer-port': port,
    'peer-port-random-on-start': false,
    'port-forwarding-enabled': false,
    'utp-enabled': false,
    'dht-enabled': false,
    'lpd-enabled': false,
    'pex-enabled': false,
    'rpc-enabled': rpcPort !== undefined,
    'rpc-bind-address': '127.0.0.1',
    'rpc-port': rpcPort ?? 9091,
    'rpc-whitelist-enabled': true,
    'rpc-whitelist': '127.0.0.1',
    'rpc-authentication-required': false,
    'rpc-host-whitelist-enabled': false,
    'download-dir': dir,
    'incomplete-dir-enabled': false,
    'rename-partial-files': false,
    'start-added-torrents': true,
    'ratio-limit-enabled': false,
    'idle-seeding-limit-enabled': false,
    'speed-limit-up-enabled': false,
    'speed-limit-down-enabled': false,
    'alt-speed-enabled': false,
    'blocklist-enabled': false,
    'message-level': 2,
    'watch-dir-enabled': false,
    ...extra,
  };
}

/** One Transmission RPC call with the session-id handshake: its `result` and `arguments`. */
function transmissionRpc(url: string): (method: string, args?: Record<string, unknown>) => Promise<{ result: string; arguments: Record<string, unknown> }> {
  let sessionId = '';
  return async (method, args = {}) => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'X-Transmission-Session-Id': sessionId }, body: JSON.stringify({ method, arguments: args }) });
      if (res.status === 409) {
        sessionId = res.headers.get('X-Transmission-Session-Id') ?? '';
        await res.arrayBuffer();
        continue;
      }
      if (!res.ok) throw new InteropError('PROGRAM_FAILED', `transmission RPC ${method}: HTTP ${res.status}`);
      const reply = (await res.json()) as RpcReply;
      return { result: reply.result, arguments: reply.arguments ?? {} };
    }
    throw new InteropError('PROGRAM_FAILED', `transmission RPC ${method}: no session id`);
  };
}

function writeConfigFiles(config: string, files: TransmissionOptions['configFiles']): void {
  for (const [name, bytes] of Object.entries(files ?? {})) {
    if (name.includes('/') || name.startsWith('.')) throw new InteropError('BAD_ARGUMENT', `config file ${name}: a plain file name is needed`);
    writeFileSync(join(config, name), bytes);
  }
}

function hasProgram(name: string): boolean {
  try {
    requireProgram(name, '');
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs Transmission 3.00 with its own config dir and the torrent added: transmission-daemon (RPC on
 * a free port) or, when only transmission-cli is installed, transmission-cli.
 */
export async function startTransmission(opts: TransmissionOptions): Promise<TransmissionHandle> {
  const backend = opts.backend ?? (opts.netns === undefined && hasProgram('transmission-daemon') ? 'daemon' : 'cli');
  if (backend === 'daemon' && opts.netns !== undefined) throw new InteropError('BAD_ARGUMENT', 'netns needs the cli backend (the RPC port would be out of reach)');
  return backend === 'daemon' ? startDaemon(opts) : startCli(opts);
}

async function startDaemon(opts: TransmissionOptions): Promise<TransmissionHandle> {
  const program = requireProgram('transmission-daemon', 'apt-get install transmission-daemon');
  const port = opts.port ?? (await freePort());
  const rpcPort = await freePort();
  const config = makeTempDir('transmission');
  const dir = resolve(opts.dir);
  const settings = baseSettings(port, dir, rpcPort, opts.settings);
  writeFileSync(join(config, 'settings.json'), JSON.stringify(settings, null, 2));
  writeConfigFiles(config, opts.configFiles);
  const proc = spawnTracked(program, ['-f', '-g', config], { cwd: config });
  const call = transmissionRpc(`http://127.0.0.1:${rpcPort}/transmission/rpc`);
  const rpc = async (method: string, args: Record<string, unknown> = {}): Promise<Record<string, unknown>> => {
    const reply = await call(method, args);
    if (reply.result !== 'success') throw new InteropError('PROGRAM_FAILED', `transmission RPC ${method}: ${reply.result}`);
    return reply.arguments;
  };

  const box = new StatusBox<TransmissionStatus>(() => `transmission-daemon on port ${port}:\n${proc.recentOutput()}`);
  const poller: { timer?: NodeJS.Timeout } = {};
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(poller.timer);
      await proc.stop(3000);
      removeTempDir(config);
    })();
    return stopping;
  };
  const died = (): string | undefined => (proc.hasExited() ? `transmission-daemon exited:\n${proc.recentOutput()}` : undefined);
  const startTimeout = opts.startTimeoutMs ?? 15000;
  let torrentId = 0;
  try {
    await poll(() => rpc('session-get').then(() => true, () => false), startTimeout, () => 'transmission-daemon RPC', 50, died);
    const added = await rpc('torrent-add', {
      metainfo: readFileSync(opts.torrentPath).toString('base64'),
      'download-dir': dir,
      paused: false,
    });
    const t = (added['torrent-added'] ?? added['torrent-duplicate']) as { id?: number } | undefined;
    if (t?.id === undefined) throw new InteropError('PROGRAM_FAILED', `transmission did not add ${opts.torrentPath}`);
    torrentId = t.id;
    await poll(() => isListening(port), startTimeout, () => `transmission peer port ${port}`, 50, died);
  } catch (err) {
    await stop();
    throw err;
  }

  let polling = false;
  const refresh = async (): Promise<void> => {
    if (polling || stopping) return;
    polling = true;
    try {
      const r = await rpc('torrent-get', { ids: [torrentId], fields: FIELDS });
      const t = (r.torrents as Record<string, number | string>[] | undefined)?.[0];
      if (!t) return;
      const num = (k: string): number => Number(t[k] ?? 0);
      const status = num('status');
      const state = STATES[status] ?? String(status);
      const s: TransmissionStatus = {
        state,
        progress: num('percentDone'),
        downloadRate: num('rateDownload'),
        uploadRate: num('rateUpload'),
        numPeers: num('peersConnected'),
        leftUntilDone: num('leftUntilDone'),
        sizeWhenDone: num('sizeWhenDone'),
        haveValid: num('haveValid'),
        uploadedEver: num('uploadedEver'),
        downloadedEver: num('downloadedEver'),
        error: num('error'),
        errorString: String(t.errorString ?? ''),
        complete:
          num('sizeWhenDone') > 0 && num('leftUntilDone') === 0 && num('haveValid') >= num('sizeWhenDone') && status !== 1 && status !== 2,
      };
      box.update(s);
      if (s.error === 3) box.fail(new InteropError('PROGRAM_FAILED', `transmission torrent error: ${s.errorString}`));
    } catch (err) {
      if (!stopping && proc.hasExited()) box.fail(new InteropError('PROGRAM_FAILED', `transmission-daemon exited:\n${proc.recentOutput()}`));
      else if (!stopping && err instanceof InteropError) box.fail(err);
    } finally {
      polling = false;
    }
  };
  poller.timer = setInterval(() => void refresh(), opts.intervalMs ?? 250);
  void proc.exited.then(() => {
    if (!stopping) box.fail(new InteropError('PROGRAM_FAILED', `transmission-daemon exited:\n${proc.recentOutput()}`));
  });
  await refresh();
  return {
    pid: proc.child.pid,
    port,
    backend: 'daemon',
    rpcPort,
    get status() {
      return box.status;
    },
    rpc,
    waitFor: (predicate, timeoutMs = 30000) => box.waitFor(predicate, timeoutMs),
    waitForComplete: (timeoutMs = 30000) => box.waitFor((s) => s.complete, timeoutMs, 'transmission to complete'),
    output: () => proc.recentOutput(),
    stop,
  };
}

// "Progress: 28.1%, dl from 1 of 1 peers (1.15 MB/s), ul to 0 (0 kB/s) [0.00]"
const CLI_PROGRESS = /^Progress: ([\d.]+)%, dl from (\d+) of (\d+) peers \(([\d.]+) (kB|MB|GB)\/s\), ul to (\d+) \(([\d.]+) (kB|MB|GB)\/s\)/;
// "Seeding, uploading to 1 of 1 peer(s), 512 kB/s [1.00]"
const CLI_SEEDING = /^Seeding, uploading to (\d+) of (\d+) peer\(s\), ([\d.]+) (kB|MB|GB)\/s/;
const UNIT: Record<string, number> = { kB: 1e3, MB: 1e6, GB: 1e9 };
const rate = (n: string | undefined, unit: string | undefined): number => Math.round(Number(n ?? 0) * (UNIT[unit ?? 'kB'] ?? 1e3));

async function startCli(opts: TransmissionOptions): Promise<TransmissionHandle> {
  const program = requireProgram('transmission-cli', 'apt-get install transmission-cli');
  const port = opts.port ?? (await freePort());
  const config = makeTempDir('transmission-cli');
  const dir = resolve(opts.dir);
  writeFileSync(join(config, 'settings.json'), JSON.stringify(baseSettings(port, dir, undefined, opts.settings), null, 2));
  writeConfigFiles(config, opts.configFiles);
  const size = parseTorrent(new Uint8Array(readFileSync(opts.torrentPath))).totalLength;
  const box = new StatusBox<TransmissionStatus>(() => `transmission-cli on port ${port}:\n${proc.recentOutput()}`);
  const make = (state: string, progress: number, down: number, up: number, peers: number): TransmissionStatus => {
    const haveValid = Math.round(size * progress);
    return {
      state,
      progress,
      downloadRate: down,
      uploadRate: up,
      numPeers: peers,
      leftUntilDone: size - haveValid,
      sizeWhenDone: size,
      haveValid,
      uploadedEver: 0,
      downloadedEver: 0,
      error: 0,
      errorString: '',
      complete: state === 'seeding',
    };
  };
  const onLine = (line: string): void => {
    const text = line.trim();
    let m = CLI_SEEDING.exec(text);
    if (m) {
      box.update(make('seeding', 1, 0, rate(m[3], m[4]), Number(m[2])));
      return;
    }
    m = CLI_PROGRESS.exec(text);
    if (m) {
      box.update(make('downloading', Math.min(1, Number(m[1]) / 100), rate(m[4], m[5]), rate(m[7], m[8]), Number(m[3])));
    }
  };
  // Its console line goes through stdio, block-buffered into a pipe: stdbuf makes it unbuffered.
  const stdbuf = requireProgram('stdbuf', 'coreutils');
  const argv = [stdbuf, '-o0', '-e0', program, '-g', config, '-w', dir, '-p', String(port), resolve(opts.torrentPath)];
  const [command, ...args] = opts.netns !== undefined ? ['ip', 'netns', 'exec', opts.netns, ...argv] : argv;
  const proc = spawnTracked(command!, args, {
    cwd: config,
    onLine,
    onErrLine: onLine,
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await proc.stop(3000);
      removeTempDir(config);
    })();
    return stopping;
  };
  void proc.exited.then((code) => {
    if (!stopping) box.fail(new InteropError('PROGRAM_FAILED', `transmission-cli exited (${code}):\n${proc.recentOutput()}`));
  });
  try {
    // In a namespace its port cannot be probed from here: its first status line says it runs.
    await poll(
      () => opts.netns !== undefined || isListening(port),
      opts.startTimeoutMs ?? 15000,
      () => `transmission-cli peer port ${port}`,
      50,
      () => (proc.hasExited() ? `transmission-cli exited:\n${proc.recentOutput()}` : undefined),
    );
    await box.until(() => box.status !== undefined, opts.startTimeoutMs ?? 15000, 'transmission-cli to report');
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    pid: proc.child.pid,
    port,
    backend: 'cli',
    rpcPort: undefined,
    get status() {
      return box.status;
    },
    rpc: () => Promise.reject(new InteropError('BAD_ARGUMENT', 'RPC needs the transmission-daemon backend')),
    waitFor: (predicate, timeoutMs = 30000) => box.waitFor(predicate, timeoutMs),
    waitForComplete: (timeoutMs = 30000) => box.waitFor((s) => s.complete, timeoutMs, 'transmission-cli to complete'),
    output: () => proc.recentOutput(),
    stop,
  };
}

export interface TransmissionDaemonOptions {
  /** Its own loopback address, for the peer port and the RPC (e.g. 127.0.0.2). */
  readonly address: string;
  readonly downloadDir: string;
  /** Extra settings.json entries (override the harness's). */
  readonly settings?: Readonly<Record<string, string | number | boolean>>;
  readonly startTimeoutMs?: number;
}

export interface TransmissionDaemon {
  /** `address:port` of its RPC, as transmission-remote takes it. */
  readonly rpcTarget: string;
  readonly peerPort: number;
  readonly configDir: string;
  /** Sends one RPC request: its `result` and `arguments` (a Transmission error is a result, not a throw). */
  rpc(method: string, args?: Record<string, unknown>): Promise<{ result: string; arguments: Record<string, unknown> }>;
  output(): string;
  stop(): Promise<void>;
}

/**
 * The settings.json of a bare transmission-daemon on `address` (peer port and RPC), with nothing
 * that leaves the machine: what startTransmissionDaemon writes, for callers that run the daemon
 * themselves (a benchmark restarting it on the same config).
 */
export function transmissionDaemonSettings(o: {
  address: string;
  downloadDir: string;
  peerPort: number;
  rpcPort: number;
  settings?: TransmissionDaemonOptions['settings'];
}): Record<string, unknown> {
  return {
    ...baseSettings(o.peerPort, resolve(o.downloadDir), o.rpcPort, {}),
    'bind-address-ipv4': o.address,
    'rpc-bind-address': o.address,
    'rpc-whitelist-enabled': false,
    'blocklist-url': 'http://127.0.0.1:1/blocklist',
    ...o.settings,
  };
}

/**
 * A bare transmission-daemon 3.00 (no torrent added) on its own loopback address and config dir,
 * with nothing that leaves the machine: no DHT, LPD, port forwarding, and a blocklist URL on
 * loopback. For comparisons with mainlined driven by the same transmission-remote commands.
 */
export function startTransmissionDaemon(opts: TransmissionDaemonOptions): Promise<TransmissionDaemon> {
  return startBareDaemon(opts, [requireProgram('transmission-daemon', 'apt-get install transmission-daemon')]);
}

/**
 * startTransmissionDaemon for any transmission-daemon generation: `command` runs it (the program,
 * or a loader and the program), given `-f -g CONFIG` after it.
 */
export async function startBareDaemon(opts: TransmissionDaemonOptions, command: readonly string[]): Promise<TransmissionDaemon> {
  const [program, ...prefix] = command;
  if (program === undefined) throw new InteropError('BAD_ARGUMENT', 'no transmission-daemon command');
  const peerPort = await freePort();
  const rpcPort = await freePort();
  const configDir = makeTempDir('transmission');
  const settings = transmissionDaemonSettings({ address: opts.address, downloadDir: opts.downloadDir, peerPort, rpcPort, ...(opts.settings ? { settings: opts.settings } : {}) });
  writeFileSync(join(configDir, 'settings.json'), JSON.stringify(settings, null, 2));
  const proc = spawnTracked(program, [...prefix, '-f', '-g', configDir], { cwd: configDir });
  const rpc = transmissionRpc(`http://${opts.address}:${rpcPort}/transmission/rpc`);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await proc.stop(3000);
      removeTempDir(configDir);
    })();
    return stopping;
  };
  const died = (): string | undefined => (proc.hasExited() ? `transmission-daemon exited:\n${proc.recentOutput()}` : undefined);
  try {
    await poll(() => rpc('session-get').then(() => true, () => false), opts.startTimeoutMs ?? 15000, () => 'transmission-daemon RPC', 50, died);
  } catch (err) {
    await stop();
    throw err;
  }
  return { rpcTarget: `${opts.address}:${rpcPort}`, peerPort, configDir, rpc, output: () => proc.recentOutput(), stop };
}

export interface RemoteResult {
  /** Exit code (1 for a signal or a timeout). */
  readonly code: number;
  /** stdout then stderr. */
  readonly out: string;
}

/** Runs one transmission-remote invocation, `command` + `target` + `args`, to its end. */
export function runRemote(command: readonly string[], target: string, args: readonly string[], timeoutMs = 30_000): Promise<RemoteResult> {
  const [program, ...prefix] = command;
  if (program === undefined) return Promise.reject(new InteropError('BAD_ARGUMENT', 'no transmission-remote command'));
  return new Promise((resolve) => {
    execFile(program, [...prefix, target, ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: stdout + stderr });
    });
  });
}

/** Debian's transmission-remote 3.00 against `target` (`host:port`). */
export function transmissionRemote(target: string, args: readonly string[], timeoutMs?: number): Promise<RemoteResult> {
  return runRemote([requireProgram('transmission-remote', 'apt-get install transmission-cli')], target, args, timeoutMs);
}
