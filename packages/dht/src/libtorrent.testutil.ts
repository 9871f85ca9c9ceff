// A python3-libtorrent DHT node (fixtures/lt_dht.py) as a child process, for interop tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const PYTHON = '/usr/bin/python3';
const SCRIPT = join(__dirname, '..', 'fixtures', 'lt_dht.py');

export interface LtLine {
  type: string;
  port?: number;
  infohash?: string;
  peers?: string[];
  count?: number;
  name?: string;
  message?: string;
}

export interface LtNode {
  readonly port: number;
  readonly lines: LtLine[];
  /** Resolves with the first line (past or future) that `match` accepts. */
  waitFor(match: (l: LtLine) => boolean, timeoutMs: number, what: string): Promise<LtLine>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

export async function startLtNode(args: readonly string[]): Promise<LtNode> {
  const child = spawn(PYTHON, [SCRIPT, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  const lines: LtLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let exited = false;
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as LtLine);
    } catch {
      return;
    }
    for (const w of [...waiters]) w();
  });
  const closed = new Promise<void>((resolve) =>
    child.on('close', () => {
      exited = true;
      running.delete(child);
      for (const w of [...waiters]) w();
      resolve();
    }),
  );
  const waitFor = (match: (l: LtLine) => boolean, timeoutMs: number, what: string): Promise<LtLine> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for libtorrent: ${what}\n${stderr}\n${lines.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`));
      }, timeoutMs);
      const check = (): void => {
        const l = lines.find(match);
        if (l || exited) {
          clearTimeout(timer);
          waiters.delete(check);
          if (l) resolve(l);
          else reject(new Error(`libtorrent exited before ${what}:\n${stderr}`));
        }
      };
      waiters.add(check);
      check();
    });
  const listening = await waitFor((l) => l.type === 'listening', 15_000, 'listening');
  return {
    port: listening.port!,
    lines,
    waitFor,
    stop: async () => {
      child.stdin!.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await closed;
      clearTimeout(killer);
    },
  };
}
