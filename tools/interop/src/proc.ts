// Child processes and temp dirs the harness owns: every one is tracked so that stop() and the
// end of the Node process (exit, SIGINT, SIGTERM) kill whole process groups and remove dirs.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { InteropError } from './errors.js';

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let hooked = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal); // detached: the child leads its own process group
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

function cleanupAll(): void {
  for (const child of children) killGroup(child, 'SIGKILL');
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', cleanupAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      cleanupAll();
      process.kill(process.pid, sig);
    });
  }
}

/** A temp dir removed by `removeTempDir` or when the process exits. */
export function makeTempDir(prefix: string): string {
  hookExit();
  const dir = mkdtempSync(join(tmpdir(), `mainline-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  tempDirs.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}

/** Absolute path of `program` on PATH (or as given when it holds a slash), or a MISSING_PROGRAM error. */
export function requireProgram(program: string, hint: string): string {
  const candidates = program.includes('/')
    ? [program]
    : (process.env.PATH ?? '/usr/bin:/bin').split(delimiter).map((d) => join(d, program));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new InteropError('MISSING_PROGRAM', `${program} is not installed (${hint})`);
}

/** Runs a program to its end; throws PROGRAM_FAILED with its output on a non-zero exit. */
export function runSync(program: string, args: readonly string[], cwd?: string): string {
  const r = spawnSync(program, args, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw new InteropError('PROGRAM_FAILED', `${program}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new InteropError('PROGRAM_FAILED', `${program} ${args.join(' ')} exited with ${r.status ?? r.signal}:\n${r.stderr}${r.stdout}`);
  }
  return r.stdout;
}

export interface Tracked {
  readonly child: ChildProcess;
  /** Last lines of stdout+stderr, for error messages. */
  recentOutput(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  readonly hasExited: () => boolean;
  /** SIGTERM the group, SIGKILL after `graceMs`, resolve when gone. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Called with each complete stdout line. */
  onLine?: (line: string) => void;
  /** Called with each complete stderr line. */
  onErrLine?: (line: string) => void;
  /** Keep stdin as a pipe (written through child.stdin); otherwise it is /dev/null. */
  stdin?: boolean;
  keepLines?: number;
}

function splitLines(onLine: (line: string) => void): (chunk: Buffer) => void {
  let rest = '';
  return (chunk) => {
    const text = rest + chunk.toString('utf8');
    const parts = text.split(/\r?\n|\r/);
    rest = parts.pop() ?? '';
    for (const p of parts) if (p.length > 0) onLine(p);
  };
}

/** Spawns `program` in its own process group, tracked for cleanup. */
export function spawnTracked(program: string, args: readonly string[], opts: SpawnOptions = {}): Tracked {
  hookExit();
  const child = spawn(program, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const keep = opts.keepLines ?? 40;
  const recent: string[] = [];
  const remember = (line: string): void => {
    recent.push(line);
    if (recent.length > keep) recent.shift();
  };
  child.stdout?.on(
    'data',
    splitLines((line) => {
      remember(line);
      opts.onLine?.(line);
    }),
  );
  child.stderr?.on(
    'data',
    splitLines((line) => {
      remember(line);
      opts.onErrLine?.(line);
    }),
  );
  child.stdin?.on('error', () => undefined); // EPIPE when the child is gone
  let done = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('error', (err) => {
      remember(`spawn error: ${err.message}`);
      done = true;
      children.delete(child);
      resolve('spawn-error');
    });
    child.once('close', (code, signal) => {
      done = true;
      children.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  let stopping: Promise<void> | undefined;
  return {
    child,
    exited,
    hasExited: () => done,
    recentOutput: () => recent.join('\n'),
    stop(graceMs = 3000) {
      stopping ??= (async () => {
        if (done) return;
        child.stdin?.end();
        killGroup(child, 'SIGTERM');
        const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
        killGroup(child, 'SIGKILL'); // stragglers left in the group (hooks, forks)
      })();
      return stopping;
    },
  };
}
