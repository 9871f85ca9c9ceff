import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InteropError } from './errors.js';
import { freePort, isListening, poll } from './net.js';
import { makeTempDir, removeTempDir, requireProgram, spawnTracked } from './proc.js';
import { StatusBox, type ClientHandle, type ClientStatus } from './status.js';
import { startStaticTracker, type RunningStaticTracker } from './tracker.js';

export interface Aria2Options {
  /** The .torrent to download or seed; or give `magnet` (a leecher only). */
  readonly torrentPath?: string;
  /** A magnet link to download instead of a .torrent (aria2 fetches the metadata from peers). */
  readonly magnet?: string;
  /**
   * aria2's DHT on, joined through these nodes only ("host:port"; never the public routers), with
   * its own node table in the work directory. Default: DHT off.
   */
  readonly dhtEntryPoints?: readonly string[];
  /** Where the payload is (seed) or goes (leech): the directory that holds the torrent's name. */
  readonly dir: string;
  /** Listen port; default a free one. */
  readonly port?: number;
  /** true: verify the data in `dir` and seed it until stopped. false: download, then exit (seed-time 0). */
  readonly seed: boolean;
  /**
   * Peers to connect to. aria2c has no "connect to this peer" option, so the harness serves them
   * from an in-process tracker and makes it aria2's only tracker (the torrent's own are dropped).
   */
  readonly peers?: readonly (readonly [string, number])[];
  /** Replace the torrent's trackers with these (ignored when `peers` is given). */
  readonly trackers?: readonly string[];
  /** Bytes/s, 0 = unlimited. */
  readonly uploadLimit?: number;
  readonly downloadLimit?: number;
  /** Extra aria2c arguments, appended last. */
  readonly extraArgs?: readonly string[];
  readonly startTimeoutMs?: number;
}

export interface Aria2Status extends ClientStatus {
  /** "checking" | "downloading" | "seeding" | "exited". */
  readonly state: string;
  readonly completedBytes: number;
  readonly totalBytes: number;
  /** aria2 exit code once it has exited, else undefined. */
  readonly exitCode?: number | string;
}

export interface Aria2Handle extends ClientHandle<Aria2Status> {
  /** Resolves with aria2c's exit code (0: download finished). */
  readonly exited: Promise<number | string>;
}

// [#2089b0 1048576/8388608(12%) CN:1 SD:1 DL:2097152 UL:0 ETA:3s]  or  [#2089b0 SEED(0.0) CN:1 SD:0 UL:1048576(8388608)]
const READOUT = /\[#[0-9a-f]+ (?:SEED\(([\d.]+|-)\)|(\d+)B?\/(\d+)B?(?:\((\d+)%\))?)( .*)?\]/;
const FIELD = (name: string, rest: string): number => {
  const m = new RegExp(`${name}:(\\d+)`).exec(rest);
  return m?.[1] !== undefined ? Number(m[1]) : 0;
};

/** Runs aria2c 1.36 on loopback as a leecher (exits when done) or a seeder. */
export async function startAria2(opts: Aria2Options): Promise<Aria2Handle> {
  const program = requireProgram('aria2c', 'apt-get install aria2');
  const target = opts.magnet ?? (opts.torrentPath === undefined ? undefined : resolve(opts.torrentPath));
  if (target === undefined || (opts.magnet !== undefined && opts.torrentPath !== undefined)) {
    throw new InteropError('BAD_ARGUMENT', 'startAria2 needs one of torrentPath and magnet');
  }
  if (opts.magnet !== undefined && opts.seed) throw new InteropError('BAD_ARGUMENT', 'aria2 cannot seed a magnet link');
  const port = opts.port ?? (await freePort());
  const work = makeTempDir('aria2');
  const marker = join(work, 'complete');
  const hook = join(work, 'hook.sh');
  writeFileSync(hook, `#!/bin/sh\necho "$1" >> '${marker}'\n`, { mode: 0o755 });
  let tracker: RunningStaticTracker | undefined;
  if (opts.peers && opts.peers.length > 0) tracker = await startStaticTracker({ peers: opts.peers });
  const trackers = tracker ? [tracker.announceUrl] : opts.trackers;
  const args = [
    `--dir=${resolve(opts.dir)}`,
    `--listen-port=${port}`,
    ...(opts.dhtEntryPoints && opts.dhtEntryPoints.length > 0
      ? ['--enable-dht=true', `--dht-listen-port=${await freePort()}`, `--dht-file-path=${join(work, 'dht.dat')}`, ...opts.dhtEntryPoints.map((e) => `--dht-entry-point=${e}`)]
      : ['--enable-dht=false']),
    '--enable-dht6=false',
    '--bt-enable-lpd=false',
    '--enable-peer-exchange=false',
    '--disable-ipv6=true',
    '--enable-rpc=false',
    '--file-allocation=none',
    '--allow-overwrite=true',
    '--auto-file-renaming=false',
    '--summary-interval=1',
    '--human-readable=false',
    '--console-log-level=notice',
    '--download-result=hide',
    '--bt-save-metadata=false',
    `--stop-with-process=${process.pid}`,
    `--on-bt-download-complete=${hook}`,
    '--bt-tracker-connect-timeout=2',
    '--bt-tracker-timeout=5',
  ];
  if (opts.seed) args.push('--check-integrity=true', '--seed-ratio=0.0');
  else args.push('--seed-time=0');
  if (trackers) args.push('--bt-exclude-tracker=*', `--bt-tracker=${trackers.join(',')}`);
  if (opts.uploadLimit) args.push(`--max-overall-upload-limit=${opts.uploadLimit}`);
  if (opts.downloadLimit) args.push(`--max-overall-download-limit=${opts.downloadLimit}`);
  args.push(...(opts.extraArgs ?? []), target);

  let exitCode: number | string | undefined;
  const box = new StatusBox<Aria2Status>(() => `aria2c on port ${port}:\n${proc.recentOutput()}`);
  const completeNow = (): boolean => existsSync(marker);
  let last: Omit<Aria2Status, 'complete'> = {
    state: 'checking',
    progress: 0,
    downloadRate: 0,
    uploadRate: 0,
    numPeers: 0,
    completedBytes: 0,
    totalBytes: 0,
  };
  const publish = (): void => {
    const complete = completeNow() || exitCode === 0 || last.state === 'seeding';
    box.update({ ...last, ...(complete ? { progress: 1 } : {}), complete, ...(exitCode !== undefined ? { exitCode, state: 'exited' } : {}) });
  };
  const proc = spawnTracked(program, args, {
    cwd: work,
    onLine: (line) => {
      const m = READOUT.exec(line);
      if (!m) return;
      const rest = m[5] ?? '';
      const seeding = m[1] !== undefined;
      const done = seeding ? 1 : Number(m[2]);
      const total = seeding ? 1 : Number(m[3]);
      last = {
        state: seeding ? 'seeding' : 'downloading',
        progress: seeding ? 1 : total > 0 ? done / total : 0,
        downloadRate: FIELD('DL', rest),
        uploadRate: FIELD('UL', rest),
        numPeers: FIELD('CN', rest),
        completedBytes: seeding ? last.totalBytes : done,
        totalBytes: seeding ? last.totalBytes : total,
      };
      publish();
    },
  });
  // The hook writes a file; look for it between readouts too.
  const markerTimer = setInterval(() => {
    if (completeNow() && box.status?.complete !== true) publish();
  }, 100);
  void proc.exited.then((code) => {
    clearInterval(markerTimer);
    exitCode = code;
    publish();
    if (code !== 0) box.fail(new InteropError('PROGRAM_FAILED', `aria2c exited with ${code}:\n${proc.recentOutput()}`));
    else if (!box.status?.complete) box.fail(new InteropError('PROGRAM_FAILED', `aria2c exited before completing:\n${proc.recentOutput()}`));
  });
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(markerTimer);
      await proc.stop(3000);
      await tracker?.stop();
      removeTempDir(work);
    })();
    return stopping;
  };
  try {
    await poll(
      async () => (await isListening(port)) || box.status?.complete === true,
      opts.startTimeoutMs ?? 15000,
      () => `aria2c to listen on ${port}`,
      100,
      () => (proc.hasExited() && exitCode !== 0 ? `aria2c exited:\n${proc.recentOutput()}` : undefined),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    pid: proc.child.pid,
    port,
    get status() {
      return box.status;
    },
    exited: proc.exited,
    waitFor: (predicate, timeoutMs = 30000) => box.waitFor(predicate, timeoutMs),
    waitForComplete: (timeoutMs = 30000) => box.waitFor((s) => s.complete, timeoutMs, 'aria2c to complete'),
    output: () => proc.recentOutput(),
    stop,
  };
}
