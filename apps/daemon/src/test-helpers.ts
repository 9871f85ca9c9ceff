// Shared by the tests: the built `mainlined` spawned as users run it, transmission-remote, raw HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { existsSync, readFileSync as readFile } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort, poll, transmissionRemote, type RemoteResult } from '@mainline/interop';

export const MAINLINED = join(__dirname, '..', 'dist', 'mainlined.js');

export interface SpawnedDaemon {
  proc: ChildProcess;
  peerPort: number;
  rpcPort: number;
  output(): string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

const running = new Set<ChildProcess>();

/** Kills every daemon a test left running (call in afterAll). */
export function killAll(): void {
  for (const p of running) p.kill('SIGKILL');
  running.clear();
}

export async function spawnDaemon(opts: { stateDir: string; downloadDir: string; peerPort?: number; args?: string[]; env?: Record<string, string> }): Promise<SpawnedDaemon> {
  const peerPort = opts.peerPort ?? (await freePort());
  const args = [MAINLINED, '--state-dir', opts.stateDir, '--download-dir', opts.downloadDir, '--peer-port', String(peerPort), '--rpc-port', '0', ...(opts.args ?? [])];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  running.add(proc);
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) =>
    proc.on('exit', (code, signal) => {
      running.delete(proc);
      resolve(code ?? signal ?? -1);
    }),
  );
  let dead = false;
  void exited.then(() => (dead = true));
  const m = await poll(
    () => /peer port (\d+), RPC http:\/\/[^:]+:(\d+)\//.exec(out) ?? undefined,
    15000,
    () => `mainlined to start:\n${out}`,
    50,
    () => (dead ? `exited:\n${out}` : undefined),
  );
  return {
    proc,
    peerPort: Number(m[1]),
    rpcPort: Number(m[2]),
    output: () => out,
    exited,
    kill: (signal = 'SIGTERM') => void proc.kill(signal),
  };
}

/** Runs transmission-remote (3.00) against the daemon: its exit code and output. */
export function remoteRaw(rpcPort: number, ...args: string[]): Promise<RemoteResult> {
  return transmissionRemote(`127.0.0.1:${rpcPort}`, args);
}

/** Runs transmission-remote; rejects with its output when it fails. */
export async function remote(rpcPort: number, ...args: string[]): Promise<string> {
  const r = await remoteRaw(rpcPort, ...args);
  if (r.code !== 0) throw new Error(`transmission-remote ${args.join(' ')} exited ${r.code}:\n${r.out}`);
  return r.out;
}

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One raw HTTP request to the daemon (from `localAddress`, e.g. 127.0.0.2, to be another client). */
export function http(port: number, opts: { method?: string; path?: string; headers?: Record<string, string>; body?: string | Buffer; localAddress?: string; host?: string }): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const where = { host: opts.host ?? '127.0.0.1', port, method: opts.method ?? 'POST', path: opts.path ?? '/transmission/rpc', headers: opts.headers ?? {} };
    const req = request({ ...where, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A JSON-RPC client that does the session-id handshake. */
export function rpcClient(port: number, auth?: string, host?: string): (method: string, args?: object) => Promise<{ result: string; arguments: Record<string, unknown> }> {
  let sessionId = '';
  return async (method, args = {}) => {
    for (let i = 0; i < 2; i++) {
      const headers: Record<string, string> = { 'X-Transmission-Session-Id': sessionId, 'Content-Type': 'application/json' };
      if (auth) headers.Authorization = `Basic ${Buffer.from(auth).toString('base64')}`;
      const r = await http(port, { headers, body: JSON.stringify({ method, arguments: args }), ...(host ? { host } : {}) });
      if (r.status === 409) {
        sessionId = String(r.headers['x-transmission-session-id']);
        continue;
      }
      if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${r.body}`);
      return JSON.parse(r.body) as { result: string; arguments: Record<string, unknown> };
    }
    throw new Error('no session id');
  };
}

/** The `-l` row of torrent `id` split into columns (ID Done Have ETA Up Down Ratio Status Name). */
export function listRow(listing: string, id: number): string | undefined {
  return listing.split('\n').find((l) => new RegExp(`^\\s*${id}\\*?\\s`).test(l));
}

/** Resident memory of a process, now and at its peak (Linux /proc), in MiB. */
export function memory(pid: number): { rss: number; peak: number } {
  const status = readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** Debian's chromium, driven by playwright-core (no browser download). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * A page of one headless chromium shared by a test file's tests (launched on first use), at
 * 1280 px wide; the browser is closed and every spawned daemon killed after them. Call at the
 * top level of a test file.
 */
export function browserPages(): (height: number) => Promise<Page> {
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
    killAll();
  });
  return async (height) => {
    browser ??= await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1280, height } });
    page.setDefaultTimeout(10_000);
    return page;
  };
}

/** Headless chromium, quiet (no background traffic, no first-run pages). */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (tools/install-system-deps.sh)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
