// torrent-add with a local path or a URL, attacked: /dev/zero, FIFOs, huge files, paths outside
// the allowed directories, loopback URLs (also by name), redirects, error pages, endless bodies.
// In-process daemons for the answers; spawned ones where the daemon's memory is measured.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { freePort, makePayload, makeTempDir, makeTorrent, poll, type MadeTorrent } from '@mainline/interop';
import { mergeConfig, type DaemonConfig } from './config.js';
import { fetchTorrentUrl } from './fetch-torrent.js';
import { startDaemon, type RunningDaemon } from './program.js';
import { killAll, memory, rpcClient, spawnDaemon } from './test-helpers.js';

jest.setTimeout(60_000);
const MiB = 1024 * 1024;

let dir: string;
let t: MadeTorrent;
const daemons: RunningDaemon[] = [];
const servers: Server[] = [];

beforeAll(async () => {
  dir = makeTempDir('daemon-add');
  const payload = await makePayload(join(dir, 'src'), { name: 'small.bin', size: 100_000 });
  t = makeTorrent(payload.path, { pieceLength: 32768, outPath: join(dir, 'small.torrent') });
});

afterAll(async () => {
  killAll();
  await Promise.all(daemons.map((d) => d.stop()));
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function daemon(name: string, config: Partial<DaemonConfig> = {}): Promise<{ add: (args: object) => Promise<string>; logs: string[] }> {
  const peerPort = await freePort();
  const logs: string[] = [];
  const running = await startDaemon(
    mergeConfig({ downloadDir: join(dir, name, 'dl'), stateDir: join(dir, name, 'state'), portRange: [peerPort, peerPort + 1], bind: '127.0.0.1', rpcPort: 0, ...config }),
    { log: (l) => logs.push(l) },
  );
  daemons.push(running);
  const rpc = rpcClient(running.server.port);
  return { add: async (args) => (await rpc('torrent-add', { paused: true, ...args })).result, logs };
}

/** A loopback HTTP server; `hits` counts the requests it got. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void, host = '127.0.0.1'): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  const server = createServer((req, res) => {
    hits++;
    handler(req, res);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, host, r));
  return { url: `http://${host}:${(server.address() as AddressInfo).port}`, hits: () => hits };
}

/** Sends chunk after chunk (chunked encoding, no length) until `limit` or the client leaves. */
function endless(limit: number, sent: { bytes: number; closed: boolean }) {
  return (_req: IncomingMessage, res: ServerResponse): void => {
    res.writeHead(200, { 'Content-Type': 'application/x-bittorrent' });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const pump = (): void => {
      while (sent.bytes < limit && !res.destroyed) {
        sent.bytes += chunk.length;
        if (!res.write(chunk)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    res.on('close', () => (sent.closed = true));
    pump();
  };
}

describe('torrent-add with a local path', () => {
  test('only from the watch directory or torrentFileDirs; links cannot lead out', async () => {
    const watch = join(dir, 'watch');
    mkdirSync(watch);
    writeFileSync(join(watch, 'ok.tor'), t.bytes); // not *.torrent: the watch scan leaves it alone
    symlinkSync(t.path, join(watch, 'link.tor'));
    const { add } = await daemon('paths', { watchDir: watch });
    expect(await add({ filename: '/dev/zero' })).toBe('refusing to read /dev/zero: not inside the watch directory or a directory of the daemon setting torrentFileDirs');
    expect(await add({ filename: t.path })).toMatch(/^refusing to read .*small\.torrent: not inside/);
    expect(await add({ filename: join(watch, '..', 'small.torrent') })).toMatch(/^refusing to read/);
    expect(await add({ filename: join(watch, 'link.tor') })).toMatch(/^refusing to read .*link\.tor: not inside/);
    expect(await add({ filename: 'small.torrent' })).toBe('cannot read small.torrent: not an absolute path');
    expect(await add({ filename: join(watch, 'ok.tor') })).toBe('success');
  });

  test('only regular files, at most 10 MiB read: /dev/zero, a FIFO and a 1 GiB file are refused at once', async () => {
    const allowed = join(dir, 'allowed');
    mkdirSync(allowed);
    execFileSync('mkfifo', [join(allowed, 'fifo.torrent')]);
    writeFileSync(join(allowed, 'huge.torrent'), '');
    truncateSync(join(allowed, 'huge.torrent'), 1024 * MiB);
    const { add } = await daemon('kinds', { torrentFileDirs: [allowed, '/dev'] });
    const started = Date.now();
    expect(await add({ filename: '/dev/zero' })).toBe('refusing to read /dev/zero: not a regular file');
    expect(await add({ filename: join(allowed, 'fifo.torrent') })).toMatch(/fifo\.torrent: not a regular file$/);
    expect(await add({ filename: join(allowed, 'huge.torrent') })).toMatch(/huge\.torrent: larger than 10485760 bytes$/);
    expect(await add({ filename: join(allowed, 'missing.torrent') })).toMatch(/missing\.torrent: no such file$/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test('the watch directory reads at most 10 MiB too: a 1 GiB .torrent and a link leading out become .invalid', async () => {
    const watch = join(dir, 'watch2');
    mkdirSync(watch);
    const big = join(watch, 'big.torrent');
    writeFileSync(big, '');
    truncateSync(big, 1024 * MiB);
    const outside = join(dir, 'outside.torrent');
    writeFileSync(outside, t.bytes);
    symlinkSync(outside, join(watch, 'out.torrent'));
    // Older than a second: not a file still being written.
    const old = new Date(Date.now() - 60_000);
    for (const f of [big, outside]) utimesSync(f, old, old);
    const { logs } = await daemon('watch2-daemon', { watchDir: watch });
    expect(readdirSync(watch).sort()).toEqual(['big.torrent.invalid', 'out.torrent.invalid']);
    expect(logs.join('\n')).toMatch(/big\.torrent: refusing to read .*: larger than 10485760 bytes/);
  });

  test('the real daemon, /dev/zero allowed by its config: answered at once, memory flat (it grew ~300 MB/s before)', async () => {
    const config = join(dir, 'devzero.json');
    writeFileSync(config, JSON.stringify({ torrentFileDirs: ['/dev'] }));
    const d = await spawnDaemon({ stateDir: join(dir, 'dz', 'state'), downloadDir: join(dir, 'dz', 'dl'), args: ['--config', config] });
    const before = memory(d.proc.pid!);
    const started = Date.now();
    const r = await rpcClient(d.rpcPort)('torrent-add', { filename: '/dev/zero' });
    const after = memory(d.proc.pid!);
    expect(r.result).toBe('refusing to read /dev/zero: not a regular file');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(after.peak - before.peak).toBeLessThan(20);
    d.kill('SIGKILL');
  });
});

describe('torrent-add with a URL', () => {
  test('loopback and private addresses are refused by default, by literal and by name, before any request', async () => {
    const server = await serve((_req, res) => res.end(Buffer.from(t.bytes)));
    const port = new URL(server.url).port;
    const v6 = await serve((_req, res) => res.end(Buffer.from(t.bytes)), '::1');
    const { add } = await daemon('private');
    const refused = /^refusing to fetch .*: .* (is|resolves to) a loopback, private or otherwise non-public address \(the daemon setting fetchPrivateAddresses allows it\)$/;
    for (const url of [`${server.url}/t.torrent`, `http://localhost:${port}/t.torrent`, `http://127.1:${port}/`, v6.url.replace('::1', '[::1]'), 'http://10.1.2.3/x', 'http://169.254.169.254/latest/meta-data', 'http://[::ffff:127.0.0.1]:1/']) {
      expect(await add({ filename: url })).toMatch(refused);
    }
    expect(server.hits()).toBe(0);
    expect(v6.hits()).toBe(0);
  });

  test('a name resolving to 127.0.0.1 is refused, and every redirect hop is checked again', async () => {
    const evil = { lookup: async () => [{ address: '127.0.0.1', family: 4 }] };
    await expect(fetchTorrentUrl('http://evil.example/t.torrent', evil)).rejects.toThrow('refusing to fetch http://evil.example/t.torrent: evil.example resolves to a loopback');
    const second = await serve((_req, res) => res.end(Buffer.from(t.bytes)), '127.0.0.2');
    const first = await serve((_req, res) => {
      res.writeHead(302, { Location: `${second.url}/t.torrent` });
      res.end();
    });
    // Only 127.0.0.1 counts as allowed here: the hop to 127.0.0.2 must be refused.
    const only = { addressAllowed: (a: string) => a === '127.0.0.1' };
    await expect(fetchTorrentUrl(`${first.url}/go`, only)).rejects.toThrow(/refusing to fetch .*\/go: 127\.0\.0\.2 is a loopback/);
    expect(first.hits()).toBe(1);
    expect(second.hits()).toBe(0);
  });

  test('with fetchPrivateAddresses: fetched; redirects capped at 5; error pages are not echoed', async () => {
    let hop = 0;
    const server = await serve((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      const n = Number(u.searchParams.get('n') ?? 0);
      if (u.pathname === '/t.torrent') res.end(Buffer.from(t.bytes));
      else if (u.pathname === '/chain') {
        hop++;
        res.writeHead(302, { Location: n > 0 ? `/chain?n=${n - 1}` : '/t.torrent' });
        res.end();
      } else if (u.pathname === '/secret') {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('internal-secret-token');
      } else res.end('<html>the admin page of something</html>');
    });
    const { add, logs } = await daemon('fetch', { fetchPrivateAddresses: true });
    expect(await add({ filename: `${server.url}/t.torrent` })).toBe('success');
    expect(await add({ filename: `${server.url}/chain?n=4` })).toBe('success'); // 5 redirects: duplicate of the first, still success
    hop = 0;
    expect(await add({ filename: `${server.url}/chain?n=5` })).toBe(`cannot fetch ${server.url}/chain?n=5: more than 5 redirects`);
    expect(hop).toBe(6);
    // Before: "cannot fetch …: HTTP 404" and "expected a value …, found '<' (at byte 0)".
    const notFound = await add({ filename: `${server.url}/secret` });
    expect(notFound).toBe(`cannot fetch ${server.url}/secret: the server did not send a torrent`);
    const page = await add({ filename: `${server.url}/page` });
    expect(page).toBe(`invalid or corrupt torrent file: what ${server.url}/page sent is not a torrent`);
    for (const answer of [notFound, page]) expect(answer).not.toMatch(/404|internal-secret-token|<|admin page/);
    expect(logs.some((l) => l.includes('HTTP 404'))).toBe(true); // the admin still sees it in the log
  });

  test('the real daemon, an endless chunked body: stopped after 10 MiB, memory flat (RSS reached 3 GB before)', async () => {
    const sent = { bytes: 0, closed: false };
    const server = await serve(endless(256 * MiB, sent));
    const config = join(dir, 'fetch.json');
    writeFileSync(config, JSON.stringify({ fetchPrivateAddresses: true }));
    const d = await spawnDaemon({ stateDir: join(dir, 'fe', 'state'), downloadDir: join(dir, 'fe', 'dl'), args: ['--config', config] });
    const before = memory(d.proc.pid!);
    const r = await rpcClient(d.rpcPort)('torrent-add', { filename: `${server.url}/endless` });
    const after = memory(d.proc.pid!);
    expect(r.result).toBe(`cannot fetch ${server.url}/endless: larger than 10485760 bytes`);
    await poll(() => sent.closed, 5000, () => 'the daemon to hang up');
    // 10 MiB read, plus what the sockets' buffers held when the daemon hung up.
    expect(sent.bytes).toBeLessThan(24 * MiB);
    expect(after.peak - before.peak).toBeLessThan(60);
    d.kill('SIGKILL');
  });
});
