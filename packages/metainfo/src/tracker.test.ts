import { decode, encode } from '@mainline/bencode';
import { validateScrapeResponse, validateTrackerResponse, type TrackerSuccess } from './index.js';
import { errorOf as code } from './test-support.js';

const bytes = (...xs: number[]) => Uint8Array.from(xs);

function success(body: Record<string, unknown>): TrackerSuccess {
  const r = validateTrackerResponse(encode(body as never));
  if (r.failureReason !== undefined) throw new Error('expected success');
  return r;
}

describe('validateTrackerResponse', () => {
  it('reads compact IPv4 peers (BEP 23) and the scalar fields', () => {
    const r = success({
      interval: 1800,
      'min interval': 60,
      complete: 3,
      incomplete: 7,
      'tracker id': 'abc',
      'warning message': 'hello',
      peers: bytes(127, 0, 0, 1, 0x1a, 0xe1, 10, 1, 2, 3, 0xff, 0xff),
    });
    expect(r.peers).toEqual([
      { ip: '127.0.0.1', port: 6881 },
      { ip: '10.1.2.3', port: 65535 },
    ]);
    expect(r.interval).toBe(1800);
    expect(r.minInterval).toBe(60);
    expect(r.complete).toBe(3);
    expect(r.incomplete).toBe(7);
    expect(Buffer.from(r.trackerId!).toString()).toBe('abc');
    expect(r.warningMessage).toBe('hello');
    expect(r.droppedPeers).toBe(0);
  });

  it('reads the dict peer list with and without peer ids', () => {
    const id = new Uint8Array(20).fill(7);
    const r = success({ interval: 5, peers: [{ ip: '1.2.3.4', port: 80, 'peer id': id }, { ip: 'host.example', port: 9 }] });
    expect(r.peers[0]).toEqual({ ip: '1.2.3.4', port: 80, peerId: id });
    expect(r.peers[1]).toEqual({ ip: 'host.example', port: 9 });
  });

  it('reads compact IPv6 peers6 (BEP 7) in RFC 5952 form', () => {
    const a = Buffer.from('20010db8000000000000000000000001' + '1ae1', 'hex');
    const b = Buffer.from('fe800000000000000202b3fffe1e8329' + '0050', 'hex');
    const c = Buffer.from('00000000000000000000000000000001' + '0001', 'hex');
    const d = Buffer.from('20010db8000100000001000100010001' + '0002', 'hex');
    const r = success({ peers: new Uint8Array(0), peers6: Buffer.concat([a, b, c, d]) });
    expect(r.peers.map((p) => `${p.ip} ${p.port}`)).toEqual([
      '2001:db8::1 6881',
      'fe80::202:b3ff:fe1e:8329 80',
      '::1 1',
      '2001:db8:1:0:1:1:1:1 2',
    ]);
  });

  it('accepts peers6 without peers, external ip, and the mainline counters', () => {
    const r = success({ peers6: new Uint8Array(0), 'external ip': bytes(8, 8, 4, 4), 'num peers': 4, 'done peers': 1, last: 3 });
    expect(r.peers).toEqual([]);
    expect(r.externalIp).toBe('8.8.4.4');
    expect([r.numPeers, r.donePeers, r.last]).toEqual([4, 1, 3]);
  });

  it('drops port-0 peers and counts them', () => {
    const r = success({ peers: bytes(1, 1, 1, 1, 0, 0, 2, 2, 2, 2, 0, 1) });
    expect(r.peers).toEqual([{ ip: '2.2.2.2', port: 1 }]);
    expect(r.droppedPeers).toBe(1);
  });

  it('returns a failure reason and ignores everything else', () => {
    const r = validateTrackerResponse(encode({ 'failure reason': 'unregistered torrent', peers: 5, 'retry in': 10 }));
    expect(r).toEqual({ failureReason: 'unregistered torrent', retryIn: 10 });
    expect(validateTrackerResponse(encode({ 'failure reason': 'x', 'retry in': 'never' }))).toEqual({ failureReason: 'x', retryIn: Infinity });
  });

  it('reads sloppy bencode by default and strict when asked', () => {
    const sloppy = Buffer.from('d8:intervali60e5:peers0:e\n');
    expect(validateTrackerResponse(sloppy)).toMatchObject({ interval: 60, peers: [] });
    expect(code(() => validateTrackerResponse(sloppy, { strict: true }))).toBe('bencode TRAILING_BYTES');
  });

  it('accepts an already decoded dict', () => {
    expect(validateTrackerResponse(decode(encode({ peers: [] })))).toMatchObject({ peers: [] });
  });

  it.each([
    ['not a dict', encode([1]), 'NOT_A_DICT '],
    ['failure reason not a string', encode({ 'failure reason': 3 }), 'WRONG_TYPE failure reason'],
    ['no peers', encode({ interval: 3 }), 'MISSING_FIELD peers'],
    ['peers an int', encode({ peers: 3 }), 'WRONG_TYPE peers'],
    ['compact not a multiple of 6', encode({ peers: new Uint8Array(7) }), 'BAD_LENGTH peers'],
    ['peers6 not a multiple of 18', encode({ peers: '', peers6: new Uint8Array(6) }), 'BAD_LENGTH peers6'],
    ['peers6 a list', encode({ peers6: [] }), 'WRONG_TYPE peers6'],
    ['peer not a dict', encode({ peers: [1] }), 'NOT_A_DICT peers[0]'],
    ['peer without ip', encode({ peers: [{ port: 1 }] }), 'MISSING_FIELD peers[0].ip'],
    ['peer ip an int', encode({ peers: [{ ip: 1, port: 1 }] }), 'WRONG_TYPE peers[0].ip'],
    ['peer port a string', encode({ peers: [{ ip: 'a', port: 'x' }] }), 'WRONG_TYPE peers[0].port'],
    ['peer port too big', encode({ peers: [{ ip: 'a', port: 70000 }] }), 'BAD_INTEGER peers[0].port'],
    ['peer port negative', encode({ peers: [{ ip: 'a', port: -1 }] }), 'BAD_INTEGER peers[0].port'],
    ['peer id short', encode({ peers: [{ ip: 'a', port: 1, 'peer id': 'short' }] }), 'BAD_LENGTH peers[0].peer id'],
    ['interval 0', encode({ peers: '', interval: 0 }), 'BAD_INTEGER interval'],
    ['min interval string', encode({ peers: '', 'min interval': '5' }), 'WRONG_TYPE min interval'],
    ['tracker id int', encode({ peers: '', 'tracker id': 5 }), 'WRONG_TYPE tracker id'],
    ['complete negative', encode({ peers: '', complete: -1 }), 'BAD_INTEGER complete'],
    ['huge interval', encode({ peers: '', interval: 2n ** 70n }), 'TOO_LARGE interval'],
    ['external ip 5 bytes', encode({ peers: '', 'external ip': new Uint8Array(5) }), 'BAD_LENGTH external ip'],
    ['truncated body', Buffer.from('d5:peers'), 'bencode TRUNCATED'],
  ])('rejects %s', (_name, body, expected) => {
    expect(code(() => validateTrackerResponse(body))).toBe(expected);
  });
});

describe('validateScrapeResponse', () => {
  const h1 = new Uint8Array(20).fill(0xab);
  const h2 = new Uint8Array(20).fill(0x01);
  it('reads files keyed by info-hash and flags', () => {
    const body = encode(
      new Map<Uint8Array | string, never>([
        ['files', new Map([[h1, { complete: 5, incomplete: 2, downloaded: 50, name: 'x' }], [h2, { complete: 0, incomplete: 0, downloaded: 0 }]]) as never],
        ['flags', { min_request_interval: 900 } as never],
      ]),
    );
    const r = validateScrapeResponse(body);
    if (r.failureReason !== undefined) throw new Error('failure');
    expect(r.minRequestInterval).toBe(900);
    expect(r.files.get('ab'.repeat(20))).toEqual({ infoHash: h1, complete: 5, incomplete: 2, downloaded: 50, name: 'x' });
    expect(r.files.get('01'.repeat(20))).toEqual({ infoHash: h2, complete: 0, incomplete: 0, downloaded: 0 });
  });
  it('returns failures', () => {
    expect(validateScrapeResponse(encode({ 'failure reason': 'no' }))).toEqual({ failureReason: 'no' });
  });
  it.each([
    ['no files', encode({}), 'NOT_A_DICT files'],
    ['short key', encode({ files: { abc: { complete: 1, incomplete: 1, downloaded: 1 } } }), `BAD_LENGTH files[616263]`],
    ['missing downloaded', encode(new Map([['files', new Map([[h1, { complete: 1, incomplete: 1 }]])]]) as never), `MISSING_FIELD files[${'ab'.repeat(20)}].downloaded`],
    ['negative', encode(new Map([['files', new Map([[h1, { complete: -1, incomplete: 1, downloaded: 0 }]])]]) as never), `BAD_INTEGER files[${'ab'.repeat(20)}].complete`],
  ])('rejects %s', (_n, body, expected) => {
    expect(code(() => validateScrapeResponse(body))).toBe(expected);
  });
});
