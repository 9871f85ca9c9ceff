// Shared plumbing of the interop scenarios: the built CLI as a child process, in-process
// sessions on loopback, and byte-for-byte checks of what was downloaded.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { startTransmission, type NetnsEnd, type Payload, type TransmissionHandle, type TransmissionOptions } from '@mainline/interop';
import { Session, type SessionOptions, type Torrent } from '@mainline/session';

/** The built executable, as users run it (Nx builds @mainline/cli before this package's tests). */
export const CLI = join(dirname(require.resolve('@mainline/cli/package.json')), 'dist', 'cli.js');

export interface CliResult {
  code: number | string;
  stdout: string;
  stderr: string;
}

export interface CliProcess {
  readonly child: ChildProcess;
  /** stdout + stderr so far. */
  output(): string;
  /** Resolves once `pattern` appears in the output (rejects if the process exits first). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Resolves when the process has exited. */
  readonly done: Promise<CliResult>;
  /** SIGINT (the CLI's clean shutdown), SIGKILL after `graceMs`; resolves with the result. */
  stop(graceMs?: number): Promise<CliResult>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/**
 * Spawns `node cli.js ...args`, after `prefix` when given (`ip netns exec NS` runs it in a network
 * namespace); killed when the test process exits. A `download` or `seed` that names no DHT
 * bootstrap node gets `--no-dht`: a test never joins the public DHT.
 */
export function spawnCli(args: readonly string[], timeoutMs = 120_000, prefix: readonly string[] = []): CliProcess {
  const [program, ...before] = [...prefix, process.execPath];
  const networked = args[0] === 'download' || args[0] === 'seed';
  const dht = networked && !args.some((a) => a === '--dht-bootstrap' || a === '--no-dht') ? ['--no-dht'] : [];
  const child = spawn(program!, [...before, CLI, ...args, ...dht], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  const wake = (): void => {
    for (const l of [...listeners]) l();
  };
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    wake();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    wake();
  });
  let exited = false;
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<CliResult>((resolve) => {
    child.on('close', (code, signal) => {
      exited = true;
      clearTimeout(killer);
      running.delete(child);
      wake();
      resolve({ code: code ?? signal ?? -1, stdout, stderr });
    });
  });
  const output = (): string => `${stdout}${stderr}`;
  return {
    child,
    output,
    done,
    waitForOutput(pattern, waitMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out after ${waitMs} ms waiting for ${pattern} from mainline ${args.join(' ')}:\n${output()}`));
        }, waitMs);
        const check = (): void => {
          const m = pattern.exec(output());
          if (m || exited) {
            clearTimeout(timer);
            listeners.delete(check);
            if (m) resolve(m);
            else reject(new Error(`mainline ${args.join(' ')} exited before printing ${pattern}:\n${output()}`));
          }
        };
        listeners.add(check);
        check();
      });
    },
    async stop(graceMs = 5000) {
      if (!exited) {
        child.kill('SIGINT');
        const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await done;
        clearTimeout(t);
      }
      return done;
    },
  };
}

/** A session listening on a free loopback port. */
export async function loopbackSession(options: SessionOptions = {}): Promise<Session> {
  const session = new Session({ portRange: [0, 0], bind: '127.0.0.1', ...options });
  await session.listen();
  return session;
}

/** Resolves when the torrent has every piece (rejects on error or after `timeoutMs`). */
export function whenComplete(torrent: Torrent, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      torrent.off('state', check);
      if (err) reject(err);
      else resolve();
    };
    const check = (): void => {
      const s = torrent.stats();
      if (s.state === 'seeding' && s.progress === 1) finish();
      else if (s.state === 'error') finish(new Error(`${s.name}: ${s.error ?? 'error'}`));
    };
    const timer = setTimeout(() => {
      const s = torrent.stats();
      finish(new Error(`timed out after ${timeoutMs} ms: ${s.name} at ${(s.progress * 100).toFixed(1)}% with ${s.peers} peers (state ${s.state})`));
    }, timeoutMs);
    torrent.on('state', check);
    check();
  });
}

export async function sha1File(path: string): Promise<string> {
  const hash = createHash('sha1');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * SHA-1 of each payload file and of its copy under `dir` (where a client saved the torrent):
 * equal lists mean a byte-identical download.
 */
export async function digests(payload: Payload, dir: string): Promise<{ expected: string[]; actual: string[] }> {
  const expected: string[] = [];
  const actual: string[] = [];
  for (const f of payload.files) {
    const copy = payload.multiFile ? join(dir, payload.name, ...f.relativePath.split('/')) : join(dir, payload.name);
    expected.push(await sha1File(f.path));
    actual.push(await sha1File(copy).catch((e: Error) => `missing: ${e.message}`));
  }
  return { expected, actual };
}

/** Common CLI flags for a loopback run: a fixed port, a private state dir, no progress bar noise. */
export function loopbackFlags(port: number, stateDir: string): string[] {
  return ['--bind', '127.0.0.1', '--minport', String(port), '--maxport', String(port), '--state-dir', stateDir];
}

export const MiB = 1024 * 1024;

/** A transmission-cli leecher of `torrentPath` into `out`, inside `end`'s namespace, bound to its address. */
export function transmissionLeecherIn(end: NetnsEnd, torrentPath: string, out: string, settings: TransmissionOptions['settings'], configFiles?: TransmissionOptions['configFiles']): Promise<TransmissionHandle> {
  return startTransmission({
    backend: 'cli',
    netns: end.ns,
    torrentPath,
    dir: out,
    seed: false,
    settings: { 'bind-address-ipv4': end.ipv4, ...settings },
    ...(configFiles ? { configFiles } : {}),
  });
}

/** Polls `cond` every 20 ms until it holds; rejects after `timeoutMs` naming `what`. */
export async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
