import { randomBytes } from 'node:crypto';
import { LsdError, type LsdErrorCode } from './errors.js';
import { MAX_ANNOUNCE_BYTES, MAX_HEADER_LINES, MAX_RECEIVE_BYTES, encodeAnnounce, encodeAnnounces, infoHashesPerAnnounce, parseAnnounce } from './message.js';

const H1 = '343baf94554e444055bdda7296c5160bd4a4c0e8';
const H2 = '0123456789abcdef0123456789abcdef01234567';
const bytes = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

function refused(datagram: Uint8Array | string): LsdErrorCode {
  try {
    parseAnnounce(typeof datagram === 'string' ? bytes(datagram) : datagram);
  } catch (e) {
    if (e instanceof LsdError) return e.code;
    throw e;
  }
  throw new Error('parsed');
}

describe('encodeAnnounce', () => {
  test('IPv4: byte for byte what libtorrent 2.0.8 sent in our netns capture (137 bytes)', () => {
    const d = encodeAnnounce({ family: 'IPv4', port: 40001, infoHashes: [H1], cookie: '5f8f88bc' });
    expect(text(d)).toBe(`BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 40001\r\nInfohash: ${H1}\r\ncookie: 5f8f88bc\r\n\r\n\r\n`);
    expect(d.length).toBe(137);
  });

  test('IPv6: the Host is the bracketed group; bytes or upper-case hex come out lower-case', () => {
    const d = encodeAnnounce({ family: 'IPv6', port: 6881, infoHashes: [Buffer.from(H2, 'hex'), H1.toUpperCase()] });
    expect(text(d)).toBe(`BT-SEARCH * HTTP/1.1\r\nHost: [ff15::efc0:988f]:6771\r\nPort: 6881\r\nInfohash: ${H2}\r\nInfohash: ${H1}\r\n\r\n\r\n`);
  });

  test('ends in CRLF CRLF CRLF, which Transmission 3 insists on', () => {
    expect(text(encodeAnnounce({ family: 'IPv4', port: 1, infoHashes: [H1] })).endsWith('\r\n\r\n\r\n')).toBe(true);
  });

  test('refuses bad ports, hashes, cookies and an empty list', () => {
    for (const port of [0, 65536, 1.5, NaN]) expect(() => encodeAnnounce({ family: 'IPv4', port, infoHashes: [H1] })).toThrow(LsdError);
    expect(() => encodeAnnounce({ family: 'IPv4', port: 1, infoHashes: ['xyz'] })).toThrow(/40 hex/);
    expect(() => encodeAnnounce({ family: 'IPv4', port: 1, infoHashes: [new Uint8Array(19)] })).toThrow(/20 bytes/);
    expect(() => encodeAnnounce({ family: 'IPv4', port: 1, infoHashes: [H1], cookie: 'a b' })).toThrow(/cookie/);
    expect(() => encodeAnnounce({ family: 'IPv4', port: 1, infoHashes: [] })).toThrow(/at least one/);
  });
});

describe('encodeAnnounces: several info-hashes per datagram, within the size limit', () => {
  test('25 hashes fit in 1400 bytes with an 8-digit cookie and a 5-digit port; 60 make 25 + 25 + 10', () => {
    const fields = { family: 'IPv6' as const, port: 65535, cookie: 'deadbeef' };
    // 137 bytes for the first (139 with IPv6's longer Host), 52 for each further one.
    expect(infoHashesPerAnnounce(fields)).toBe(25);
    expect(infoHashesPerAnnounce({ ...fields, family: 'IPv4' })).toBe(25);
    expect(infoHashesPerAnnounce(fields, 139 + 52 * 3)).toBe(4);
    expect(infoHashesPerAnnounce(fields, 139 + 52 * 3 - 1)).toBe(3);
    const hashes = Array.from({ length: 60 }, () => randomBytes(20).toString('hex'));
    const datagrams = encodeAnnounces({ ...fields, family: 'IPv4', infoHashes: hashes });
    expect(datagrams.map((d) => parseAnnounce(d).infoHashes.length)).toEqual([25, 25, 10]);
    expect(datagrams.every((d) => d.length <= MAX_ANNOUNCE_BYTES)).toBe(true);
    expect(datagrams[0]!.length).toBeGreaterThan(MAX_ANNOUNCE_BYTES - 52);
    expect(datagrams.flatMap((d) => parseAnnounce(d).infoHashes)).toEqual(hashes);
  });

  test('a limit too small for one hash is an error; 200 bytes (Transmission 3) hold two', () => {
    expect(() => encodeAnnounces({ family: 'IPv4', port: 1, infoHashes: [H1] }, 100)).toThrow(/does not fit/);
    expect(infoHashesPerAnnounce({ family: 'IPv4', port: 51413, cookie: 'deadbeef' }, 200)).toBe(2);
  });
});

describe('parseAnnounce: what real clients send', () => {
  test("libtorrent's announce (lower-case hex, lower-case `cookie`)", () => {
    const a = parseAnnounce(bytes(`BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 40001\r\nInfohash: ${H1}\r\ncookie: 5f8f88bc\r\n\r\n\r\n`));
    expect(a).toEqual({ port: 40001, infoHashes: [H1], invalidInfoHashes: 0, cookie: '5f8f88bc', host: '239.192.152.143:6771' });
  });

  test("Transmission 3's (upper-case hex, no cookie)", () => {
    const a = parseAnnounce(bytes(`BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 51413\r\nInfohash: ${H1.toUpperCase()}\r\n\r\n\r\n`));
    expect(a).toEqual({ port: 51413, infoHashes: [H1], invalidInfoHashes: 0, cookie: undefined, host: '239.192.152.143:6771' });
  });

  test("Transmission 4's over IPv6 (several Infohash lines, a 12-character cookie)", () => {
    const a = parseAnnounce(
      bytes(`BT-SEARCH * HTTP/1.1\r\nHost: [ff15::efc0:988f]:6771\r\nPort: 51413\r\nInfohash: ${H1.toUpperCase()}\r\nInfohash: ${H2.toUpperCase()}\r\ncookie: aZ09bY18cX27\r\n\r\n\r\n`),
    );
    expect(a).toEqual({ port: 51413, infoHashes: [H1, H2], invalidInfoHashes: 0, cookie: 'aZ09bY18cX27', host: '[ff15::efc0:988f]:6771' });
  });

  test('header names and the method in any case, LF-only lines, extra spaces, unknown headers, no Host', () => {
    const a = parseAnnounce(bytes(`bt-search * http/1.0\nPORT:   6881  \nX-Client: test\nINFOHASH:${H2}\nCookie: c1\n\n`));
    expect(a).toEqual({ port: 6881, infoHashes: [H2], invalidInfoHashes: 0, cookie: 'c1', host: undefined });
  });

  test('what follows the empty line is ignored, also a C client sending its NUL terminator', () => {
    expect(parseAnnounce(bytes(`BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: ${H1}\r\n\r\n\x00\xff garbage`)).port).toBe(1);
  });

  test('bad and all-zero Infohash lines are skipped and counted; repeats count once', () => {
    const a = parseAnnounce(bytes(`BT-SEARCH * HTTP/1.1\r\nPort: 7\r\nInfohash: xyz\r\nInfohash: ${'0'.repeat(40)}\r\nInfohash: ${H1}\r\nInfohash: ${H1.toUpperCase()}\r\nInfohash: ${H1}00\r\n\r\n`));
    expect(a.infoHashes).toEqual([H1]);
    expect(a.invalidInfoHashes).toBe(3);
  });
});

describe('parseAnnounce: hostile datagrams are refused whole, with a reason', () => {
  const ok = (extra = ''): string => `BT-SEARCH * HTTP/1.1\r\nPort: 6881\r\nInfohash: ${H1}\r\n${extra}\r\n`;

  test('size: at most 1500 bytes', () => {
    const pad = (n: number): string => ok(`X: ${'a'.repeat(n)}\r\n`);
    const fits = pad(MAX_RECEIVE_BYTES - pad(0).length);
    expect(fits.length).toBe(MAX_RECEIVE_BYTES);
    expect(parseAnnounce(bytes(fits)).port).toBe(6881);
    expect(refused(pad(MAX_RECEIVE_BYTES - pad(0).length + 1))).toBe('TOO_LARGE');
    expect(refused(new Uint8Array(65_000))).toBe('TOO_LARGE');
  });

  test('garbage: binary, control characters, a lone CR, nothing at all', () => {
    expect(refused(randomBytes(1000))).toMatch(/NOT_TEXT|BAD_REQUEST_LINE|UNTERMINATED/);
    expect(refused(ok('X: a\x00b\r\n'))).toBe('NOT_TEXT');
    expect(refused(ok('X: \xe9\r\n'))).toBe('NOT_TEXT');
    expect(refused(ok('X: a\rb\r\n'))).toBe('NOT_TEXT');
    expect(refused('')).toBe('UNTERMINATED');
    expect(refused('\r\n\r\n')).toBe('BAD_REQUEST_LINE');
  });

  test('the request line', () => {
    for (const line of ['GET * HTTP/1.1', 'BT-SEARCH / HTTP/1.1', 'BT-SEARCH * HTTP/2.0', 'BT-SEARCH  * HTTP/1.1', 'BT-SEARCH *', 'BT-SEARCH * HTTP/1.1 x']) {
      expect(refused(`${line}\r\nPort: 1\r\nInfohash: ${H1}\r\n\r\n`)).toBe('BAD_REQUEST_LINE');
    }
  });

  test('header lines', () => {
    expect(refused(ok('no colon here\r\n'))).toBe('BAD_HEADER');
    expect(refused(ok(': empty name\r\n'))).toBe('BAD_HEADER');
    expect(refused(ok('Bad Name: x\r\n'))).toBe('BAD_HEADER');
    expect(refused(ok(' folded: continuation\r\n'))).toBe('BAD_HEADER');
    expect(refused(`BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: ${H1}\r\n`)).toBe('UNTERMINATED');
  });

  test(`more than ${MAX_HEADER_LINES} header lines`, () => {
    const lines = (n: number): string => `BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: ${H1}\r\n${'a: b\r\n'.repeat(n - 2)}\r\n`;
    expect(parseAnnounce(bytes(lines(MAX_HEADER_LINES))).port).toBe(1);
    expect(refused(lines(MAX_HEADER_LINES + 1))).toBe('TOO_MANY_HEADERS');
  });

  test('thousands of Infohash lines cannot be sent: the size and line caps stop them', () => {
    const many = `BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n${Array.from({ length: 5000 }, () => `Infohash: ${randomBytes(20).toString('hex')}\r\n`).join('')}\r\n`;
    expect(refused(many)).toBe('TOO_LARGE');
    expect(refused(`BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n${'Infohash: x\r\n'.repeat(100)}\r\n`)).toBe('TOO_MANY_HEADERS');
  });

  test('Port: missing, twice, out of range, not plain decimal', () => {
    expect(refused(`BT-SEARCH * HTTP/1.1\r\nInfohash: ${H1}\r\n\r\n`)).toBe('NO_PORT');
    expect(refused(ok('Port: 6882\r\n'))).toBe('DUPLICATE_HEADER');
    for (const p of ['0', '65536', '99999', '123456', '', '12a', '+1', '-1', '0x10', '1.5', '6 881']) {
      expect({ p, code: refused(`BT-SEARCH * HTTP/1.1\r\nPort: ${p}\r\nInfohash: ${H1}\r\n\r\n`) }).toEqual({ p, code: 'BAD_PORT' });
    }
    expect(parseAnnounce(bytes(`BT-SEARCH * HTTP/1.1\r\nPort: 65535\r\nInfohash: ${H1}\r\n\r\n`)).port).toBe(65535);
  });

  test('cookie or Host twice; no valid info-hash', () => {
    expect(refused(ok('cookie: a\r\ncookie: b\r\n'))).toBe('DUPLICATE_HEADER');
    expect(refused(ok('Host: a\r\nHost: b\r\n'))).toBe('DUPLICATE_HEADER');
    expect(refused('BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n\r\n')).toBe('NO_INFOHASH');
    expect(refused(`BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: ${'0'.repeat(40)}\r\n\r\n`)).toBe('NO_INFOHASH');
  });

  test('any byte string gives an announce or an LsdError, never another exception', () => {
    const seed = bytes(ok('cookie: x\r\n'));
    for (let i = 0; i < 3000; i++) {
      const d = Buffer.from(seed);
      for (let k = 0; k < 1 + (i % 5); k++) d[Math.floor(Math.random() * d.length)] = Math.floor(Math.random() * 256);
      try {
        parseAnnounce(d);
      } catch (e) {
        expect(e).toBeInstanceOf(LsdError);
      }
    }
  });
});

test('round trip: what we encode we parse back', () => {
  for (let i = 0; i < 200; i++) {
    const infoHashes = Array.from({ length: 1 + (i % 25) }, () => randomBytes(20).toString('hex'));
    const port = 1 + Math.floor(Math.random() * 65535);
    const cookie = randomBytes(4).toString('hex');
    const family = i % 2 === 0 ? 'IPv4' : 'IPv6';
    const a = parseAnnounce(encodeAnnounce({ family, port, infoHashes, cookie }));
    expect(a).toEqual({ port, infoHashes, invalidInfoHashes: 0, cookie, host: family === 'IPv4' ? '239.192.152.143:6771' : '[ff15::efc0:988f]:6771' });
  }
});
