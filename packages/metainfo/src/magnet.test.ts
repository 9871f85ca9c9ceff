import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { MAX_MAGNET_PEERS, MAX_MAGNET_TRACKERS, MAX_MAGNET_WEB_SEEDS, formatMagnet, magnetFromTorrent, parseInfoHash, parseMagnet, parseTorrent } from './index.js';
import { errorOf, fixturesDir } from './test-support.js';

const HEX = 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a';
// RFC 4648 base32 of the same 20 bytes, computed independently of our decoder below.
function base32(bytes: Uint8Array): string {
  const A = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const b of bytes) bits += b.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bits.length; i += 5) out += A[parseInt(bits.slice(i, i + 5).padEnd(5, '0'), 2)];
  return out;
}
const B32 = base32(Buffer.from(HEX, 'hex'));

describe('parseMagnet', () => {
  it('reads xt (hex), dn, several tr, ws, x.pe and xl', () => {
    const m = parseMagnet(
      `magnet:?xt=urn:btih:${HEX.toUpperCase()}&dn=Big+Buck%20Bunny&tr=http%3A%2F%2Fa%2Fannounce&tr=udp://b:80&tr=udp://b:80` +
        `&ws=http%3A%2F%2Fseed%2F&x.pe=10.0.0.1:6881&x.pe=%5B2001%3Adb8%3A%3A1%5D%3A51413&x.pe=host.example:1&xl=12345&foo=bar`,
    );
    expect(m.infoHash).toBe(HEX);
    expect(Buffer.from(m.infoHashBytes).toString('hex')).toBe(HEX);
    expect(m.name).toBe('Big Buck Bunny');
    expect(m.trackers).toEqual(['http://a/announce', 'udp://b:80']);
    expect(m.webSeeds).toEqual(['http://seed/']);
    expect(m.peers).toEqual([
      { ip: '10.0.0.1', port: 6881 },
      { ip: '2001:db8::1', port: 51413 },
      { ip: 'host.example', port: 1 },
    ]);
    expect(m.length).toBe(12345);
  });

  it('reads base32 info-hashes in either case, and numbered tr.N keys', () => {
    expect(parseMagnet(`magnet:?xt=urn:btih:${B32}`).infoHash).toBe(HEX);
    expect(parseMagnet(`MAGNET:?XT=URN:BTIH:${B32.toLowerCase()}&tr.1=x&tr.2=y`)).toMatchObject({ infoHash: HEX, trackers: ['x', 'y'] });
  });

  it('ignores v2 btmh topics next to a btih', () => {
    expect(parseMagnet(`magnet:?xt=urn:btmh:1220${'ab'.repeat(32)}&xt=urn:btih:${HEX}`).infoHash).toBe(HEX);
  });

  it.each([
    ['http://x', 'BAD_MAGNET '],
    ['magnet:?dn=x', 'BAD_MAGNET xt'],
    [`magnet:?xt=urn:btih:${HEX.slice(1)}`, 'BAD_MAGNET xt'],
    [`magnet:?xt=urn:btih:${HEX}00`, 'BAD_MAGNET xt'],
    [`magnet:?xt=urn:btih:${'g'.repeat(40)}`, 'BAD_MAGNET xt'],
    [`magnet:?xt=urn:btih:${B32.slice(0, 31)}1`, 'BAD_MAGNET xt'],
    [`magnet:?xt=urn:btmh:1220${'ab'.repeat(32)}`, 'BAD_MAGNET xt'],
    [`magnet:?xt=urn:btih:${HEX}&xt=urn:btih:${'0'.repeat(40)}`, 'BAD_MAGNET xt'],
    [`magnet:?xt=urn:btih:${HEX}&dn=%E0%A4%A`, 'BAD_MAGNET dn'],
    [`magnet:?xt=urn:btih:${HEX}&x.pe=1.2.3.4`, 'BAD_MAGNET x.pe'],
    [`magnet:?xt=urn:btih:${HEX}&x.pe=1.2.3.4:0`, 'BAD_MAGNET x.pe'],
    [`magnet:?xt=urn:btih:${HEX}&x.pe=1.2.3.4:70000`, 'BAD_MAGNET x.pe'],
    [`magnet:?xt=urn:btih:${HEX}&xl=-1`, 'BAD_MAGNET xl'],
  ])('rejects %s', (uri, expected) => {
    expect(errorOf(() => parseMagnet(uri))).toBe(expected);
  });
});

describe('parseMagnet on hostile links', () => {
  const link = (parts: string[]): string => `magnet:?xt=urn:btih:${HEX}&${parts.join('&')}`;
  const many = (n: number, f: (i: number) => string): string[] => Array.from({ length: n }, (_, i) => f(i));
  /** The fastest of five runs, in ms: what the code costs, with less of what the machine is doing. */
  const bestOf5 = (f: () => void): number =>
    Math.min(
      ...[0, 1, 2, 3, 4].map(() => {
        const t = performance.now();
        f();
        return performance.now() - t;
      }),
    );
  /**
   * Linear, not quadratic: 8 times the entries cost well under 64 times the time (the ratio a
   * quadratic parser shows; 8 to 12 for ours, more on a loaded machine where the large input's
   * garbage collection costs extra: 11 seen for 4 times the entries). A ratio, because a loaded
   * machine moves both.
   */
  const expectLinear = (build: (n: number) => string, n: number): void => {
    const small = build(n / 8);
    const large = build(n);
    parseMagnet(small); // warm up
    expect(bestOf5(() => parseMagnet(large)) / bestOf5(() => parseMagnet(small))).toBeLessThan(28);
  };

  it('parses 80,000 distinct trackers in well under a second, keeping the first 64 (it took 17.5 s when quadratic)', () => {
    const uri = link(many(80_000, (i) => `tr=${encodeURIComponent(`http://t${i}.example/announce`)}`));
    const started = performance.now();
    const m = parseMagnet(uri);
    const ms = performance.now() - started;
    expect(m.trackers).toHaveLength(MAX_MAGNET_TRACKERS);
    expect(m.trackers[0]).toBe('http://t0.example/announce');
    expect(m.trackers.at(-1)).toBe(`http://t${MAX_MAGNET_TRACKERS - 1}.example/announce`);
    expect(m.dropped).toEqual({ trackers: 80_000 - MAX_MAGNET_TRACKERS, webSeeds: 0, peers: 0 });
    // ~50 ms on an idle machine (17.5 s when quadratic); the margin is for a loaded CI box.
    expect(ms).toBeLessThan(5000);
    expectLinear((n) => link(many(n, (i) => `tr=${encodeURIComponent(`http://t${i}.example/announce`)}`)), 160_000);
  });

  it('is linear with repeats too: 80,000 copies of one tracker, web seed or peer are one entry each', () => {
    const uri = link([...many(80_000, () => 'tr=udp://t:1'), ...many(80_000, () => 'ws=http://w/'), ...many(80_000, () => 'x.pe=10.0.0.1:6881')]);
    const started = performance.now();
    const m = parseMagnet(uri);
    expect(performance.now() - started).toBeLessThan(5000);
    expectLinear((n) => link([...many(n, () => 'tr=udp://t:1'), ...many(n, () => 'ws=http://w/'), ...many(n, () => 'x.pe=10.0.0.1:6881')]), 160_000);
    expect(m).toMatchObject({ trackers: ['udp://t:1'], webSeeds: ['http://w/'], peers: [{ ip: '10.0.0.1', port: 6881 }] });
    expect(m.dropped).toBeUndefined();
  });

  it('caps web seeds and x.pe peers as well (distinct entries past the cap are counted, not kept)', () => {
    const m = parseMagnet(link([...many(100, (i) => `ws=http://w${i}/`), ...many(1000, (i) => `x.pe=10.0.${i >> 8}.${i & 255}:6881`), 'x.pe=10.0.0.0:6881']));
    expect(m.webSeeds).toHaveLength(MAX_MAGNET_WEB_SEEDS);
    expect(m.peers).toHaveLength(MAX_MAGNET_PEERS);
    expect(m.dropped).toEqual({ trackers: 0, webSeeds: 100 - MAX_MAGNET_WEB_SEEDS, peers: 1000 - MAX_MAGNET_PEERS });
  });

  it('takes other caps as options, and refuses nonsense ones', () => {
    const m = parseMagnet(link(['tr=a', 'tr=b', 'tr=c', 'ws=w', 'x.pe=h:1']), { maxTrackers: 2, maxWebSeeds: 0, maxPeers: 1 });
    expect(m).toMatchObject({ trackers: ['a', 'b'], webSeeds: [], peers: [{ ip: 'h', port: 1 }], dropped: { trackers: 1, webSeeds: 1, peers: 0 } });
    expect(() => parseMagnet(link([]), { maxTrackers: -1 })).toThrow('maxTrackers');
  });
});

describe('parseInfoHash', () => {
  it('accepts hex, base32 and bytes; rejects the rest', () => {
    expect(Buffer.from(parseInfoHash(HEX)).toString('hex')).toBe(HEX);
    expect(Buffer.from(parseInfoHash(B32)).toString('hex')).toBe(HEX);
    expect(parseInfoHash(new Uint8Array(20).fill(3))).toEqual(new Uint8Array(20).fill(3));
    expect(errorOf(() => parseInfoHash(new Uint8Array(19)))).toBe('BAD_MAGNET xt');
    expect(errorOf(() => parseInfoHash('xyz'))).toBe('BAD_MAGNET xt');
  });
});

describe('formatMagnet / magnetFromTorrent', () => {
  it('round-trips through parseMagnet', () => {
    const input = {
      infoHash: B32,
      name: 'a & b = c?',
      trackers: ['http://t/a?x=1&y=2', 'udp://u:1'],
      webSeeds: ['http://w/'],
      peers: [{ ip: '::1', port: 5 }, { ip: '1.2.3.4', port: 6 }],
      length: 99,
    };
    const uri = formatMagnet(input);
    expect(uri.startsWith(`magnet:?xt=urn:btih:${HEX}&`)).toBe(true);
    expect(parseMagnet(uri)).toEqual({ ...input, infoHash: HEX, infoHashBytes: parseInfoHash(HEX) });
  });

  it('builds the magnet of a real torrent', () => {
    const meta = parseTorrent(readFileSync(path.join(fixturesDir(), 'bunny.torrent')));
    const m = parseMagnet(magnetFromTorrent(meta));
    expect(m).toEqual({
      infoHash: meta.infoHash,
      infoHashBytes: meta.infoHashBytes,
      name: meta.name,
      length: meta.totalLength,
      trackers: [],
      webSeeds: [...meta.urlList],
      peers: [],
    });
  });
});
