// Test helpers: real trackers on loopback, each in its own process.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { HttpTracker } from './http.js';

export interface RunningTracker {
  http: number;
  udp: number;
  udp6?: number;
  stop(): Promise<void>;
}

function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForTcp(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`opentracker exited (${child.exitCode}): ${log()}`);
    const ok = await new Promise<boolean>((r) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        r(true);
      });
      c.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`opentracker did not listen on ${port}: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * opentracker listens before its whitelist is loaded (another thread reads it): until then it
 * refuses every torrent as not authorized. Waits until it accepts `hex` (a stopped announce, which
 * leaves no peer behind).
 */
async function waitForWhitelist(port: number, hex: string, child: ChildProcess, log: () => string): Promise<void> {
  const tracker = new HttpTracker(`http://127.0.0.1:${port}/announce`, { timeoutMs: 2000 });
  const request = { infoHash: Buffer.from(hex, 'hex'), peerId: Buffer.from('-MLPROBE-00000000000'), port: 9, uploaded: 0, downloaded: 0, left: 0, event: 'stopped' as const, numwant: 0, key: 1 };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`opentracker exited (${child.exitCode}): ${log()}`);
    if (await tracker.announce(request).then(() => true, () => false)) return;
    if (Date.now() > deadline) throw new Error(`opentracker on ${port} did not accept ${hex} from its whitelist: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Starts the Debian `opentracker` (compiled whitelist-only) for the given hex info-hashes. Throws
 * (so the test FAILS, never skips) when the binary is missing.
 */
export async function startOpentracker(whitelistHex: string[]): Promise<RunningTracker> {
  let bin: string;
  try {
    bin = execFileSync('which', ['opentracker'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('opentracker is not installed (apt-get install opentracker): these tests need it');
  }
  const dir = mkdtempSync(join(tmpdir(), 'rerequester-ot-'));
  chmodSync(dir, 0o755); // it chroots here and drops to `nobody`
  writeFileSync(join(dir, 'whitelist.txt'), whitelistHex.map((h) => `${h}\n`).join(''), { mode: 0o644 });
  const http = await freeTcpPort();
  const udp = await freeUdpPort();
  const child = spawn(bin, ['-d', dir, '-w', 'whitelist.txt', '-i', '127.0.0.1', '-p', String(http), '-P', String(udp)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  try {
    await waitForTcp(http, child, () => output);
    if (whitelistHex[0] !== undefined) await waitForWhitelist(http, whitelistHex[0], child, () => output);
  } catch (e) {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    http,
    udp,
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts the npm `bittorrent-tracker` server (HTTP + UDP4 + UDP6) in a child node process. */
export async function startBittorrentTracker(): Promise<RunningTracker> {
  const script = join(__dirname, '..', 'fixtures', 'bittorrent-tracker-server.mjs');
  const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`bittorrent-tracker server exited (${code}): ${err}`)));
  });
  const ports = JSON.parse(line) as { http: number; udp: number; udp6: number };
  return { ...ports, stop: () => stopChild(child) };
}
