// Test helpers: run the built `mainline` executable as users do (the test target builds it first).
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Session } from '@mainline/session';

export const CLI = join(__dirname, '..', 'dist', 'cli.js');

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  timeoutMs?: number;
  /** Send Ctrl-C (SIGINT) after this long. */
  signalAfterMs?: number;
  /** Close our end of its stdout / stderr at once, as `| head -1` does once it has read enough. */
  closeStdout?: boolean;
  closeStderr?: boolean;
}

/**
 * The tests never multicast on this machine's interfaces nor talk to the public DHT: a `download`
 * or `seed` that binds no address gets `--no-lsd` (local peer discovery is on by default; with
 * `--bind 127.0.0.1` it has no interface, which a test may check; the network-namespace tests run
 * it for real), and one that names no DHT bootstrap node gets `--no-dht` (the DHT is on by
 * default, joined through the public routers). `dht-status` needs its own `--dht-bootstrap`.
 */
export function noMulticast(args: readonly string[]): string[] {
  const networked = args[0] === 'download' || args[0] === 'seed';
  if (args[0] === 'dht-status' && !args.includes('--dht-bootstrap')) throw new Error('a test runs dht-status with its own --dht-bootstrap only');
  const out = [...args];
  if (networked && !args.includes('--bind') && !args.includes('--no-lsd')) out.push('--no-lsd');
  if (networked && !args.some((a) => a === '--no-dht' || a === '--dht-bootstrap')) out.push('--no-dht');
  return out;
}

/** Runs `mainline <args>` with its output on pipes (see noMulticast). */
export function run(args: string[], options: RunOptions = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...noMulticast(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
    if (options.closeStdout) child.stdout.destroy();
    if (options.closeStderr) child.stderr.destroy();
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mainline ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 60_000);
    if (options.signalAfterMs !== undefined) setTimeout(() => child.kill('SIGINT'), options.signalAfterMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

export const sha1 = async (p: string): Promise<string> => createHash('sha1').update(await readFile(p)).digest('hex');

/** A Session on loopback seeding `torrent` from `saveDir`; returns it and its port. */
export async function seedingSession(torrent: { bytes: Uint8Array }, saveDir: string): Promise<{ seeder: Session; port: number }> {
  const seeder = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
  try {
    const port = await seeder.listen();
    await seeder.add(torrent.bytes, { savePath: saveDir });
    return { seeder, port };
  } catch (err) {
    await seeder.close();
    throw err;
  }
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
let terminals = 0;

/** `mainline` running in a real terminal (a tmux pane of `columns` × `rows`), for what a TTY user sees. */
export interface Terminal {
  /** The pane as rendered (scrollback included), trailing blank lines dropped. */
  screen(): string;
  /** Polls the screen until `pattern` shows; returns the screen then. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends keys, e.g. 'C-c' for Ctrl-C. */
  keys(...keys: string[]): void;
  /** Resolves with the exit code once the command has ended. */
  exitCode(timeoutMs?: number): Promise<number>;
  close(): void;
}

/** Runs `mainline <args>` in a fresh tmux server of its own (no user config), in `cwd` (see noMulticast). */
export function runInTerminal(args: string[], options: { columns?: number; rows?: number; cwd?: string } = {}): Terminal {
  const socket = `ml-cli-test-${process.pid}-${terminals++}`;
  const env = { ...process.env };
  delete env.TMUX;
  const tmux = (...a: string[]): string => execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...a], { env, encoding: 'utf8' });
  const command = `${[process.execPath, CLI, ...noMulticast(args)].map(shellQuote).join(' ')}; echo "[exit $?]"; sleep 600`;
  tmux('new-session', '-d', '-x', String(options.columns ?? 100), '-y', String(options.rows ?? 40), '-c', options.cwd ?? process.cwd(), command);
  const screen = (): string => tmux('capture-pane', '-p', '-S', '-', '-t', '0').replace(/\s+$/, '');
  const waitFor = async (pattern: RegExp, timeoutMs = 30_000): Promise<string> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const text = screen();
      if (pattern.test(text)) return text;
      if (Date.now() > end) throw new Error(`the terminal never showed ${pattern}; it shows:\n${text}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  return {
    screen,
    waitFor,
    keys: (...keys) => void tmux('send-keys', '-t', '0', ...keys),
    exitCode: async (timeoutMs) => Number(/\[exit (\d+)\]/.exec(await waitFor(/\[exit \d+\]/, timeoutMs))![1]),
    close: () => {
      try {
        tmux('kill-server');
      } catch {
        // already gone
      }
    },
  };
}
