import fc from 'fast-check';
import { appendQuery, buildAnnounceUrl, scrapeUrlOf } from './http.js';
import { percentEncodeBytes } from './encode.js';
import { TrackerError } from './errors.js';
import type { AnnounceRequest } from './types.js';

/** Inverse of percent-encoding, byte-wise (decodeURIComponent would insist on UTF-8). */
function percentDecode(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%') {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(s.charCodeAt(i));
  }
  return Uint8Array.from(out);
}

const req = (over: Partial<AnnounceRequest> = {}): AnnounceRequest => ({
  infoHash: new Uint8Array(20).fill(0xaa),
  peerId: Buffer.from('-ML0100-abcdefghijkl'),
  port: 6881,
  uploaded: 1,
  downloaded: 2,
  left: 3,
  key: 0xdeadbeef,
  ...over,
});

describe('percentEncodeBytes', () => {
  it('keeps unreserved bytes and escapes everything else as %XX', () => {
    expect(percentEncodeBytes(Buffer.from('aZ09-._~'))).toBe('aZ09-._~');
    expect(percentEncodeBytes(Uint8Array.from([0x00, 0x20, 0x25, 0x2b, 0x2f, 0x7f, 0x80, 0xff]))).toBe('%00%20%25%2B%2F%7F%80%FF');
  });

  it('round-trips any bytes, one byte per escape (never via a text encoding)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const enc = percentEncodeBytes(bytes);
        expect(enc).toMatch(/^(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})*$/);
        expect(Buffer.from(percentDecode(enc)).equals(Buffer.from(bytes))).toBe(true);
      }),
    );
  });
});

describe('buildAnnounceUrl', () => {
  it('sends every BEP 3 field, compact=1 and the key as 8 hex digits', () => {
    const u = new URL(buildAnnounceUrl('http://t.example/announce', req({ event: 'started', numwant: 50, ip: '10.0.0.1' })));
    const q = u.searchParams;
    expect(q.get('port')).toBe('6881');
    expect(q.get('uploaded')).toBe('1');
    expect(q.get('downloaded')).toBe('2');
    expect(q.get('left')).toBe('3');
    expect(q.get('compact')).toBe('1');
    expect(q.get('event')).toBe('started');
    expect(q.get('numwant')).toBe('50');
    expect(q.get('key')).toBe('deadbeef');
    expect(q.get('ip')).toBe('10.0.0.1');
    expect(u.search).toContain(`info_hash=${'%AA'.repeat(20)}`);
    expect(u.search).toContain('peer_id=-ML0100-abcdefghijkl');
  });

  it('omits event for regular announces and echoes trackerid as raw bytes', () => {
    const url = buildAnnounceUrl('http://t/a', req({ event: 'none', trackerId: Uint8Array.from([0xc3, 0x28, 0x41]) }));
    expect(url).not.toContain('event=');
    expect(url).toContain('trackerid=%C3%28A');
  });

  it('appends with & when the announce URL already has a query', () => {
    expect(buildAnnounceUrl('http://t/announce?passkey=abc', req())).toMatch(/^http:\/\/t\/announce\?passkey=abc&info_hash=/);
    expect(buildAnnounceUrl('http://t/announce?', req())).toMatch(/^http:\/\/t\/announce\?info_hash=/);
    expect(appendQuery('http://t/a?x=1&', 'y=2')).toBe('http://t/a?x=1&y=2');
    expect(appendQuery('http://t/a#frag', 'y=2')).toBe('http://t/a?y=2');
  });

  it('rejects bad requests with a typed error', () => {
    const bad: Partial<AnnounceRequest>[] = [
      { infoHash: new Uint8Array(19) },
      { peerId: new Uint8Array(21) },
      { port: 70000 },
      { left: -1 },
      { uploaded: 1.5 },
      { key: 2 ** 32 },
      { event: 'paused' as AnnounceRequest['event'] },
    ];
    for (const b of bad) {
      expect(() => buildAnnounceUrl('http://t/a', req(b))).toThrow(TrackerError);
    }
  });
});

describe('scrapeUrlOf (BEP 48)', () => {
  it.each([
    ['http://example.com/announce', 'http://example.com/scrape'],
    ['http://example.com/x/announce', 'http://example.com/x/scrape'],
    ['http://example.com/announce.php', 'http://example.com/scrape.php'],
    ['http://example.com/a/announce?x2%0644', 'http://example.com/a/scrape?x2%0644'],
    ['http://example.com/announce?x=2/4', 'http://example.com/scrape?x=2/4'],
    ['http://example.com/a', undefined],
    ['http://example.com/announce/x', undefined],
    ['http://example.com/x%064announce', undefined],
    ['http://example.com', undefined],
    ['http://example.com/', undefined],
  ])('%s → %s', (announce, scrape) => {
    expect(scrapeUrlOf(announce)).toBe(scrape);
  });
});
