// A python3-libtorrent DHT node (python/lt_dht.py) as a child process, for interop tests: a
// bootstrap node, a seeder that announces only to the DHT, or a get_peers prober.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { InteropError } from './errors.js';
import { PYTHON } from './libtorrent.js';
import { requireProgram } from './proc.js';

/** Where lt_dht.py is: tools/interop/python, one level above both src/ and dist/. */
function ltDhtScript(): string {
  for (const p of [join(__dirname, '..', 'python', 'lt_dht.py'), join(__dirname, 'python', 'lt_dht.py')]) {
    if (existsSync(p)) return p;
  }
  throw new InteropError('MISSING_PROGRAM', `lt_dht.py not found next to ${__dirname}`);
}

/** One line lt_dht.py printed. */
export interface LtDhtLine {
  type: string;
  port?: number;
  infohash?: string;
  peers?: string[];
  count?: number;
  name?: string;
  message?: string;
}

export interface LtDhtNode {
  readonly port: number;
  readonly lines: LtDhtLine[];
  /** Resolves with the first line (past or future) that `match` accepts. */
  waitFor(match: (l: LtDhtLine) => boolean, timeoutMs: number, what: string): Promise<LtDhtLine>;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

/**
 * Starts `lt_dht.py ARGS` (`--port P`, `--router host:port`, `--node host:port`..., `--seed FILE`,
 * `--get-peers HEX`; see the script) and resolves once it listens.
 */
export async function startLtDhtNode(args: readonly string[]): Promise<LtDhtNode> {
  requireProgram(PYTHON, 'apt-get install python3-libtorrent');
  const child = spawn(PYTHON, [ltDhtScript(), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  const lines: LtDhtLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let exited = false;
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    try {
      lines.push(JSON.parse(text) as LtDhtLine);
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
  const waitFor = (match: (l: LtDhtLine) => boolean, timeoutMs: number, what: string): Promise<LtDhtLine> =>
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
