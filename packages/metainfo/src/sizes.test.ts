import { encode } from '@mainline/bencode';
import { parseTorrent, validateTrackerResponse } from './index.js';

// Guards against quadratic work in the parsers of repeated fields (the magnet parser was;
// these were checked and are linear): big inputs parse in a fraction of a second.
const timed = <T>(f: () => T): { value: T; ms: number } => {
  const started = performance.now();
  const value = f();
  return { value, ms: performance.now() - started };
};

test('a torrent with 80,000 announce-list tiers and 80,000 web seeds parses in well under two seconds', () => {
  const n = 80_000;
  const bytes = encode({
    'announce-list': Array.from({ length: n }, (_, i) => [`http://t${i}.example/announce`]),
    'url-list': Array.from({ length: n }, (_, i) => `http://w${i}.example/`),
    info: { name: 'n', 'piece length': 16384, pieces: new Uint8Array(20), length: 10 },
  });
  const { value: meta, ms } = timed(() => parseTorrent(bytes));
  expect(meta.announceList).toHaveLength(n);
  expect(meta.urlList).toHaveLength(n);
  expect(ms).toBeLessThan(2000); // ~0.2 s idle
});

test('a tracker reply with 300,000 compact peers, or 30,000 dict peers, is read in well under two seconds', () => {
  const n = 300_000;
  const compact = new Uint8Array(n * 6);
  for (let i = 0; i < n; i++) compact.set([10, (i >> 16) & 255, (i >> 8) & 255, i & 255, 0x1a, 0xe1], i * 6);
  const packed = timed(() => validateTrackerResponse(encode({ interval: 1800, peers: compact })));
  expect(packed.value.failureReason === undefined && packed.value.peers.length).toBe(n);
  expect(packed.ms).toBeLessThan(2000);
  const dicts = Array.from({ length: n / 10 }, (_, i) => ({ ip: `10.0.${(i >> 8) & 255}.${i & 255}`, port: 6881, 'peer id': new Uint8Array(20) }));
  const listed = timed(() => validateTrackerResponse(encode({ interval: 1800, peers: dicts })));
  expect(listed.value.failureReason === undefined && listed.value.peers.length).toBe(n / 10);
  expect(listed.ms).toBeLessThan(2000);
});
