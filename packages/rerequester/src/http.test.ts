import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import * as zlib from 'node:zlib';
import { encode, BencodeDict } from '@mainline/bencode';
import { TrackerError } from './errors.js';
import { rejectionOf } from './rejection.testutil.js';
import { HttpTracker } from './http.js';
import type { AnnounceRequest } from './types.js';

/** Byte-wise percent decoding of one raw query parameter. */
function rawParam(url: string, name: string): Buffer | undefined {
  const q = url.slice(url.indexOf('?') + 1);
  for (const part of q.split('&')) {
    const [k, v = ''] = part.split('=');
    if (k === name) return Buffer.from(v.replace(/%([0-9A-Fa-f]{2})|./gs, (m, h: string | undefined) => (h ? String.fromCharCode(parseInt(h, 16)) : m)), 'latin1');
  }
  return undefined;
}

const infoHash = Buffer.from('00ff7f80253d26202b2f3f41e9c3a9c328aabbccddeeff', 'hex').subarray(0, 20);
const peerId = Buffer.from('-ML0100-\u00e9\u00e8%&= +/?#!x', 'latin1').subarray(0, 20);
const request = (over: Partial<AnnounceRequest> = {}): AnnounceRequest => ({
  infoHash,
  peerId,
  port: 6881,
  uploaded: 10,
  downloaded: 20,
  left: 30,
  key: 7,
  event: 'started',
  ...over,
});

const okBody = encode(
  new BencodeDict([
    ['interval', 900],
    ['min interval', 60],
    ['complete', 2],
    ['incomplete', 1],
    ['tracker id', Buffer.from('T1')],
    ['warning message', Buffer.from('slow down')],
    ['peers', Buffer.from([10, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0, 80])],
    ['peers6', Buffer.from('00000000000000000000000000000001c8d5', 'hex')],
  ]),
);

let server: http.Server;
let base: string;
const seenUrls: string[] = [];
/** The address each request came from. */
const seenFrom: string[] = [];
const CAP = 64 * 1024;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    seenUrls.push(url);
    seenFrom.push(req.socket.remoteAddress ?? '');
    const path = url.split('?')[0]!;
    const chain = /^\/chain\/(\d+)$/.exec(path);
    if (chain) {
      res.writeHead(302, { location: `/chain/${Number(chain[1]) + 1}` }).end();
      return;
    }
    switch (path) {
      case '/announce':
      case '/x/announce.php':
        res.end(okBody);
        return;
      case '/gzip/announce':
        res.writeHead(200, { 'content-encoding': 'gzip' }).end(zlib.gzipSync(okBody));
        return;
      case '/list/announce':
        res.end(
          encode(
            new BencodeDict([
              ['interval', 60],
              ['peers', [new BencodeDict([['ip', Buffer.from('host.example')], ['port', 5], ['peer id', Buffer.alloc(20, 65)]])]],
            ]),
          ),
        );
        return;
      case '/garbage':
        res.end('<html>this is not bencode</html>');
        return;
      case '/bad-types':
        res.end('d8:intervali-5e5:peers0:e');
        return;
      case '/huge': {
        // No content-length: the cap must cut the stream.
        const chunk = Buffer.alloc(16 * 1024, 0x61);
        let sent = 0;
        const pump = (): void => {
          while (sent < 100 * 1024 * 1024 && !res.destroyed) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end();
        };
        res.on('error', () => undefined);
        pump();
        return;
      }
      case '/huge-declared':
        res.writeHead(200, { 'content-length': String(CAP * 10) });
        res.write('d');
        return; // the client must bail out on the header alone
      case '/gzip-bomb':
        res.writeHead(200, { 'content-encoding': 'gzip' }).end(zlib.gzipSync(Buffer.alloc(20 * 1024 * 1024)));
        return;
      case '/bad-gzip':
        res.writeHead(200, { 'content-encoding': 'gzip' }).end('definitely not gzip');
        return;
      case '/slow':
        setTimeout(() => res.end(okBody), 3000).unref();
        return;
      case '/failure':
        res.end('d14:failure reason15:torrent unknowne');
        return;
      case '/failure-403':
        res.writeHead(403).end('d14:failure reason12:not allowed!e');
        return;
      case '/status500':
        res.writeHead(500).end('internal oops');
        return;
      case '/empty':
        res.end();
        return;
      case '/truncated':
        res.writeHead(200, { 'content-length': '500' });
        res.write('d8:interval');
        setTimeout(() => res.destroy(), 20);
        return;
      case '/loop/a':
        res.writeHead(301, { location: '/loop/b' }).end();
        return;
      case '/loop/b':
        res.writeHead(307, { location: `${base}/loop/a` }).end();
        return;
      case '/redirect/announce':
        res.writeHead(302, { location: '/announce?from=redirect' }).end();
        return;
      case '/to-ftp':
        res.writeHead(302, { location: 'ftp://example.com/announce' }).end();
        return;
      case '/utf8keys/scrape':
        // What the npm bittorrent-tracker server sends: the "binary" string of the hash as UTF-8.
        res.end(
          encode(
            new BencodeDict([
              ['files', new BencodeDict([[Buffer.from(infoHash.toString('latin1'), 'utf8'), new BencodeDict([['complete', 1], ['downloaded', 1], ['incomplete', 0]])]])],
            ]),
          ),
        );
        return;
      case '/badkeys/scrape':
        res.end('d5:filesd5:abcded8:completei1e10:downloadedi1e10:incompletei0eeee');
        return;
      case '/scrape':
        res.end(
          encode(
            new BencodeDict([
              ['files', new BencodeDict([[infoHash, new BencodeDict([['complete', 4], ['downloaded', 9], ['incomplete', 2]])]])],
            ]),
          ),
        );
        return;
      default:
        res.writeHead(404).end();
    }
  });
  server.keepAliveTimeout = 1;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const tracker = (path: string, timeoutMs = 2000) => new HttpTracker(`${base}${path}`, { timeoutMs, maxResponseBytes: CAP });

const failure = (path: string, timeoutMs?: number): Promise<TrackerError> => rejectionOf(tracker(path, timeoutMs).announce(request()));

describe('HttpTracker against a loopback server', () => {
  it('sends from localAddress (a session bound to 127.0.0.2 announces from there, not from 127.0.0.1)', async () => {
    await tracker('/announce').announce(request());
    expect(seenFrom.at(-1)).toBe('127.0.0.1');
    await new HttpTracker(`${base}/announce`, { timeoutMs: 2000, localAddress: '127.0.0.2' }).announce(request());
    expect(seenFrom.at(-1)).toBe('127.0.0.2');
    // An address of the other family reaches no IPv4 tracker: a clear error, not a hang.
    await expect(new HttpTracker(`${base}/announce`, { timeoutMs: 2000, localAddress: '::1' }).announce(request())).rejects.toBeInstanceOf(TrackerError);
  });

  it('sends raw-byte percent-encoded info_hash and peer_id and parses compact, peers6 and extras', async () => {
    const r = await tracker('/announce').announce(request({ trackerId: Buffer.from([0xff, 0x00]) }));
    const sent = seenUrls.at(-1)!;
    expect(rawParam(sent, 'info_hash')!.equals(infoHash)).toBe(true);
    expect(rawParam(sent, 'peer_id')!.equals(peerId)).toBe(true);
    expect(rawParam(sent, 'trackerid')!.equals(Buffer.from([0xff, 0x00]))).toBe(true);
    expect(sent).toMatch(/&event=started(&|$)/);
    expect(r).toMatchObject({ interval: 900, minInterval: 60, complete: 2, incomplete: 1, warningMessage: 'slow down' });
    expect(Buffer.from(r.trackerId!).toString()).toBe('T1');
    expect(r.peers).toEqual([
      { ip: '10.0.0.1', port: 6881 },
      { ip: '10.0.0.2', port: 80 },
      { ip: '::1', port: 51413 },
    ]);
  });

  it('appends to an announce URL that has a query, and reads dict-form peers', async () => {
    await tracker('/x/announce.php?passkey=s3cr%20t').announce(request());
    expect(seenUrls.at(-1)).toMatch(/^\/x\/announce\.php\?passkey=s3cr%20t&info_hash=/);
    const r = await tracker('/list/announce').announce(request());
    expect(r.peers).toEqual([{ ip: 'host.example', port: 5, peerId: new Uint8Array(20).fill(65) }]);
  });

  it('accepts gzip and follows a relative redirect', async () => {
    expect((await tracker('/gzip/announce').announce(request())).interval).toBe(900);
    expect((await tracker('/redirect/announce').announce(request())).interval).toBe(900);
    expect(seenUrls.at(-1)).toBe('/announce?from=redirect');
  });

  it('failure reason → REJECTED with the text, also on a 4xx status', async () => {
    const e = await failure('/failure');
    expect(e.code).toBe('REJECTED');
    expect(e.message).toBe(`${base}/failure: rejected by tracker: torrent unknown`);
    expect((await failure('/failure-403')).message).toMatch(/rejected by tracker: not allowed!/);
  });

  it.each([
    ['/garbage', 'BAD_RESPONSE', /bad data from tracker/],
    ['/bad-types', 'BAD_RESPONSE', /interval/],
    ['/huge', 'RESPONSE_TOO_LARGE', /larger than 65536 bytes/],
    ['/huge-declared', 'RESPONSE_TOO_LARGE', /larger than 65536 bytes/],
    ['/gzip-bomb', 'RESPONSE_TOO_LARGE', /larger than 65536 bytes/],
    ['/bad-gzip', 'BAD_RESPONSE', /could not decompress/],
    ['/status500', 'HTTP_STATUS', /HTTP status 500/],
    ['/nowhere', 'HTTP_STATUS', /HTTP status 404/],
    ['/empty', 'EMPTY_RESPONSE', /empty reply/],
    ['/truncated', 'NETWORK', /./],
    ['/loop/a', 'TOO_MANY_REDIRECTS', /redirect loop/],
    ['/chain/0', 'TOO_MANY_REDIRECTS', /more than 5 redirects/],
    ['/to-ftp', 'UNSUPPORTED_PROTOCOL', /ftp:/],
  ] as const)('%s → %s', async (path, code, msg) => {
    const e = await failure(path);
    expect(e.code).toBe(code);
    expect(e.message).toMatch(msg);
    expect(e.url).toBe(`${base}${path}`);
  });

  it('times out a slow tracker at the injected deadline (one try, told to onAttempt)', async () => {
    const t0 = Date.now();
    const tries: unknown[] = [];
    const e = await rejectionOf(tracker('/slow', 200).announce(request(), { onAttempt: (a) => tries.push(a) }));
    expect(tries).toEqual([{ attempt: 1, maxAttempts: 1, timeoutMs: 200 }]);
    expect(e.code).toBe('TIMEOUT');
    expect(e.message).toMatch(/no reply within 200 ms/);
    expect(e.detail).toBe('no reply within 200 ms');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('a connection refused is a NETWORK error; an abort is ABORTED', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const e = await rejectionOf(new HttpTracker(`http://127.0.0.1:${port}/announce`).announce(request()));
    expect(e.code).toBe('NETWORK');
    expect(e.message).toMatch(/ECONNREFUSED/);
    const ac = new AbortController();
    const p = tracker('/slow').announce(request(), { signal: ac.signal });
    ac.abort();
    expect((await rejectionOf(p)).code).toBe('ABORTED');
  });

  it('an https URL is spoken to in TLS (node:https loads at the first https URL, not with node:http)', async () => {
    // A plain TCP server sees what the client opens with: a TLS handshake record starts 0x16 0x03.
    const firstBytes: Buffer[] = [];
    const tls = net.createServer((socket) => {
      socket.once('data', (d: Buffer) => {
        firstBytes.push(d.subarray(0, 2));
        socket.destroy();
      });
    });
    await new Promise<void>((r) => tls.listen(0, '127.0.0.1', r));
    try {
      const port = (tls.address() as AddressInfo).port;
      const e = await rejectionOf(new HttpTracker(`https://127.0.0.1:${port}/announce`, { timeoutMs: 5_000 }).announce(request()));
      expect(e.code).toBe('NETWORK');
      expect(firstBytes).toEqual([Buffer.from([0x16, 0x03])]);
    } finally {
      await new Promise((r) => tls.close(r));
    }
  });

  it('scrapes via the BEP 48 URL conversion', async () => {
    const files = await tracker('/announce').scrape([infoHash]);
    expect(rawParam(seenUrls.at(-1)!, 'info_hash')!.equals(infoHash)).toBe(true);
    expect(seenUrls.at(-1)).toMatch(/^\/scrape\?info_hash=/);
    expect(files.get(infoHash.toString('hex'))).toMatchObject({ complete: 4, downloaded: 9, incomplete: 2 });
    const e = await rejectionOf(tracker('/tracker').scrape([infoHash]));
    expect(e.code).toBe('UNSUPPORTED_PROTOCOL');
  });

  it('repairs UTF-8-mangled scrape keys (npm bittorrent-tracker) but rejects other bad keys', async () => {
    expect(Buffer.from(infoHash.toString('latin1'), 'utf8').length).toBeGreaterThan(20);
    const files = await tracker('/utf8keys/announce').scrape([infoHash]);
    expect([...files.keys()]).toEqual([infoHash.toString('hex')]);
    const e = await rejectionOf(tracker('/badkeys/announce').scrape([infoHash]));
    expect(e.code).toBe('BAD_RESPONSE');
    expect(e.message).toMatch(/info-hash keys must be 20 bytes/);
  });

  it('rejects malformed URLs and closed trackers', async () => {
    expect(() => new HttpTracker('not a url')).toThrow(TrackerError);
    expect(() => new HttpTracker('udp://x:1')).toThrow(/cannot fetch udp:/);
    const t = tracker('/announce');
    t.close();
    await expect(t.announce(request())).rejects.toThrow(/closed/);
  });
});
