import { chmodSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { InteropError } from './errors.js';
import { freePort, poll } from './net.js';
import { makeTempDir, removeTempDir, requireProgram, spawnTracked } from './proc.js';

export interface OpentrackerOptions {
  /** Hex info-hashes to whitelist (the Debian build refuses everything else). More via `allow()`. */
  readonly infoHashes: readonly string[];
  /** TCP (HTTP) and UDP port; default a free one. */
  readonly port?: number;
  readonly timeoutMs?: number;
}

export interface RunningOpentracker {
  /** http://127.0.0.1:PORT/announce */
  readonly announceUrl: string;
  /** udp://127.0.0.1:PORT/announce */
  readonly udpUrl: string;
  /** http://127.0.0.1:PORT/scrape */
  readonly scrapeUrl: string;
  readonly port: number;
  /** Adds info-hashes to the whitelist (rewrites it, SIGHUPs opentracker, waits until they are accepted). */
  allow(infoHashes: readonly string[]): Promise<void>;
  output(): string;
  stop(): Promise<void>;
}

const HEX40 = /^[0-9a-f]{40}$/;

function checkHashes(hashes: readonly string[]): string[] {
  return hashes.map((h) => {
    const l = h.toLowerCase();
    if (!HEX40.test(l)) throw new InteropError('BAD_ARGUMENT', `not a hex info-hash: ${JSON.stringify(h)}`);
    return l;
  });
}

function percentEncode(hex: string): string {
  return hex.replace(/../g, (b) => `%${b}`);
}

function httpGet(url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: 2000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Whether the tracker answers an announce for `hex` without a failure (event=stopped: no peer is left behind). */
async function accepts(base: string, hex: string): Promise<boolean> {
  try {
    const body = await httpGet(
      `${base}/announce?info_hash=${percentEncode(hex)}&peer_id=-MLPROBE-000000000000&port=9&uploaded=0&downloaded=0&left=0&numwant=0&compact=1&event=stopped`,
    );
    return body.length > 0 && !body.includes('failure reason');
  } catch {
    return false;
  }
}

/** Starts Debian's opentracker on 127.0.0.1 (HTTP + UDP on one port) with a whitelist. */
export async function startOpentracker(opts: OpentrackerOptions): Promise<RunningOpentracker> {
  const program = requireProgram('opentracker', 'apt-get install opentracker');
  const hashes = new Set(checkHashes(opts.infoHashes));
  const port = opts.port ?? (await freePort());
  const dir = makeTempDir('opentracker');
  chmodSync(dir, 0o755); // it chroots here and drops to `nobody`, who must read the whitelist
  const whitelist = join(dir, 'whitelist.txt');
  const writeList = (): void => writeFileSync(whitelist, [...hashes].map((h) => `${h}\n`).join(''), { mode: 0o644 });
  writeList();
  const root = process.getuid?.() === 0;
  const args = ['-d', dir, '-w', 'whitelist.txt', '-i', '127.0.0.1', '-p', String(port), '-P', String(port), '-A', '127.0.0.1'];
  if (!root) args.push('-u', userInfo().username);
  const proc = spawnTracked(program, args, { cwd: dir });
  const base = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    await proc.stop(1000);
    removeTempDir(dir);
  };
  const died = (): string | undefined => (proc.hasExited() ? `opentracker exited:\n${proc.recentOutput()}` : undefined);
  const waitAccepted = async (list: readonly string[], timeoutMs: number): Promise<void> => {
    const probe = list[0];
    await poll(
      async () => (probe === undefined ? (await httpGet(`${base}/stats`).then(() => true, () => false)) : await accepts(base, probe)),
      timeoutMs,
      () => `opentracker on ${base} to accept ${probe ?? 'requests'}`,
      50,
      died,
    );
  };
  try {
    await waitAccepted([...hashes], opts.timeoutMs ?? 10000);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    announceUrl: `${base}/announce`,
    udpUrl: `udp://127.0.0.1:${port}/announce`,
    scrapeUrl: `${base}/scrape`,
    port,
    async allow(more) {
      const fresh = checkHashes(more).filter((h) => !hashes.has(h));
      if (fresh.length === 0) return;
      for (const h of fresh) hashes.add(h);
      writeList();
      if (proc.child.pid !== undefined) process.kill(proc.child.pid, 'SIGHUP');
      await poll(
        async () => (await Promise.all(fresh.map((h) => accepts(base, h)))).every(Boolean),
        10000,
        () => `opentracker to reload its whitelist`,
        50,
        died,
      );
    },
    output: () => proc.recentOutput(),
    stop,
  };
}

export interface StaticTrackerOptions {
  /** The peers every announce gets back, whatever the info-hash. */
  readonly peers: readonly (readonly [string, number])[];
  /** `interval` in the reply, seconds (default 2: clients that failed to connect re-announce soon). */
  readonly interval?: number;
}

export interface RunningStaticTracker {
  readonly announceUrl: string;
  /** How many announces it answered. */
  readonly announces: number;
  stop(): Promise<void>;
}

function bstr(s: string | Uint8Array): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : Buffer.from(s);
  return Buffer.concat([Buffer.from(`${b.length}:`), b]);
}

/**
 * A tiny in-process HTTP tracker that answers every announce with a fixed peer list: the way to
 * point a client that has no "connect to this peer" option (aria2c) at a given peer.
 */
export async function startStaticTracker(opts: StaticTrackerOptions): Promise<RunningStaticTracker> {
  const compact = Buffer.alloc(opts.peers.length * 6);
  opts.peers.forEach(([host, port], i) => {
    const parts = host.split('.').map(Number);
    if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255) || !Number.isInteger(port) || port <= 0 || port > 65535) {
      throw new InteropError('BAD_ARGUMENT', `static tracker peers must be IPv4 [host, port], got ${JSON.stringify([host, port])}`);
    }
    parts.forEach((p, j) => compact.writeUInt8(p, i * 6 + j));
    compact.writeUInt16BE(port, i * 6 + 4);
  });
  const reply = Buffer.concat([Buffer.from(`d8:intervali${opts.interval ?? 2}e`), bstr('peers'), bstr(compact), Buffer.from('e')]);
  let announces = 0;
  const server: Server = createServer((req, res) => {
    announces++;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': reply.length });
    res.end(reply);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    announceUrl: `http://127.0.0.1:${port}/announce`,
    get announces() {
      return announces;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
