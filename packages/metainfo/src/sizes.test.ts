import { encode } from '@mainline/bencode';
import { parseTorrent, validateTrackerResponse } from './index.js';

// Guards against quadratic work in the parsers of repeated fields (the magnet parser was;
// these were checked and are linear): big inputs parse in a fraction of a second.
const timed = <T>(f: () => T): { value: T; ms: number } => {
  const started = performance.now();
  const value = f();
  return { value, ms: performance.now() - started };
};

test('a torrent with 80,000 announce-list tiers and 80,000 web seeds parses in a fraction of the time a quadratic parser needs', () => {
  const n = 80_000;
  const bytes = encode({
    'announce-list': Array.from({ length: n }, (_, i) => [`http://t${i}.example/announce`]),
    'url-list': Array.from({ length: n }, (_, i) => `http://w${i}.example/`),
    info: { name: 'n', 'piece length': 16384, pieces: new Uint8Array(20), length: 10 },
  });
  const { value: meta, ms } = timed(() => parseTorrent(bytes));
  expect(meta.announceList).toHaveLength(n);
  expect(meta.urlList).toHaveLength(n);
  expect(ms).toBeLessThan(6000); // ~0.2 s idle, 0.6 s on a loaded 2-core machine; quadratic takes minutes
});

test('a tracker reply with 300,000 compact peers, or 30,000 dict peers, is read in linear time', () => {
  const n = 300_000;
  const compact = new Uint8Array(n * 6);
  for (let i = 0; i < n; i++) compact.set([10, (i >> 16) & 255, (i >> 8) & 255, i & 255, 0x1a, 0xe1], i * 6);
  const packed = timed(() => validateTrackerResponse(encode({ interval: 1800, peers: compact })));
  expect(packed.value.failureReason === undefined && packed.value.peers.length).toBe(n);
  // ~0.1 s idle; 2 s was seen on a loaded 2-core machine. Quadratic would take minutes.
  expect(packed.ms).toBeLessThan(8000);
  const reply = (count: number): Uint8Array =>
    encode({ interval: 1800, peers: Array.from({ length: count }, (_, i) => ({ ip: `10.0.${(i >> 8) & 255}.${i & 255}`, port: 6881, 'peer id': new Uint8Array(20) })) });
  const small = reply(n / 80);
  const large = reply(n / 10);
  const listed = timed(() => validateTrackerResponse(large));
  expect(listed.value.failureReason === undefined && listed.value.peers.length).toBe(n / 10);
  // 8 times the peers cost well under the 64 times a quadratic reader needs (a ratio: load moves both).
  const best = (b: Uint8Array): number => Math.min(...[0, 1, 2].map(() => timed(() => validateTrackerResponse(b)).ms));
  best(small); // warm up
  expect(best(large) / best(small)).toBeLessThan(28);
});
