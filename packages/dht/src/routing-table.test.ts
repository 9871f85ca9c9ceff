import { commonPrefixBits, randomId, randomIdAtDepth } from './id.js';
import { K, QUESTIONABLE_AFTER_MS, RoutingTable } from './routing-table.js';

const own = new Uint8Array(20); // all zeros: depth = leading zero bits of the other id
const node = (depth: number, i: number, host = `10.0.${depth}.${i}`): { id: Uint8Array; host: string; port: number } => ({ id: randomIdAtDepth(own, depth), host, port: 6881 });

test('only the bucket holding our id splits: far buckets stay at K, near ones fill as we learn closer nodes', () => {
  const t = new RoutingTable({ id: own });
  for (let d = 0; d < 12; d++) for (let i = 0; i < 20; i++) t.heardFrom(node(d, i), 1);
  expect(t.size).toBe(12 * K);
  expect(t.stats(1).buckets).toBe(13);
  // Replacement caches keep up to K verified nodes per bucket.
  expect(t.stats(1).replacements).toBe(12 * K);
  const closest = t.closest(randomIdAtDepth(own, 11), K, 1);
  expect(closest.every((n) => commonPrefixBits(own, n.id) === 11)).toBe(true);
});

test('node states follow BEP 5: good for 15 min after an answer (or a query after an answer), then questionable, bad after 2 failures', () => {
  const t = new RoutingTable({ id: own });
  const n = node(0, 1);
  t.heardFrom(n, 0);
  const e = t.get(n)!;
  expect(t.state(e, QUESTIONABLE_AFTER_MS - 1)).toBe('good');
  expect(t.state(e, QUESTIONABLE_AFTER_MS)).toBe('questionable');
  t.queriedBy(n, n.id, QUESTIONABLE_AFTER_MS);
  expect(t.state(e, QUESTIONABLE_AFTER_MS + 1)).toBe('good');
  t.failed(n, 2 * QUESTIONABLE_AFTER_MS);
  expect(t.state(e, 2 * QUESTIONABLE_AFTER_MS)).toBe('questionable');
  t.failed(n, 2 * QUESTIONABLE_AFTER_MS);
  expect(t.state(e, 2 * QUESTIONABLE_AFTER_MS)).toBe('bad');
  // Another answer makes it good again.
  t.heardFrom(n, 2 * QUESTIONABLE_AFTER_MS);
  expect(t.state(e, 2 * QUESTIONABLE_AFTER_MS)).toBe('good');
});

test('a full bucket: a newcomer waits in the replacement cache, the oldest questionable node is to be pinged, and takes its slot when it turns bad', () => {
  const t = new RoutingTable({ id: own });
  // Fill bucket 0 (no split: it does not hold our id once bucket 1 exists).
  t.heardFrom(node(5, 0), 0);
  for (let i = 0; i < K; i++) t.heardFrom(node(0, i), i);
  const newcomer = node(0, 99);
  // All good: nothing to ping, the newcomer waits.
  expect(t.heardFrom(newcomer, 10)).toEqual({ added: false, reason: 'full' });
  const later = QUESTIONABLE_AFTER_MS + 100;
  const r = t.heardFrom(newcomer, later);
  expect(r).toMatchObject({ added: false, reason: 'full', ping: { host: '10.0.0.0' } }); // least recently heard
  t.failed({ host: '10.0.0.0', port: 6881 }, later);
  expect(t.get({ host: '10.0.0.0', port: 6881 })).toBeDefined(); // one failure: questionable still
  t.failed({ host: '10.0.0.0', port: 6881 }, later);
  expect(t.get({ host: '10.0.0.0', port: 6881 })).toBeUndefined();
  expect(t.get(newcomer)).toBeDefined();
  // A bad node with no replacement waiting stays (it may come back) until a newcomer takes its place.
  t.failed({ host: '10.0.0.1', port: 6881 }, later);
  t.failed({ host: '10.0.0.1', port: 6881 }, later);
  expect(t.get({ host: '10.0.0.1', port: 6881 })).toBeDefined();
  expect(t.heardFrom(node(0, 200), later)).toEqual({ added: true });
  expect(t.get({ host: '10.0.0.1', port: 6881 })).toBeUndefined();
});

test('a changed id at the same address replaces the entry; admit and one-per-host refuse nodes', () => {
  const t = new RoutingTable({ id: own, admit: (n) => n.port !== 1, onePerHost: (h) => h.startsWith('8.') });
  const a = node(0, 1);
  t.heardFrom(a, 0);
  const b = { ...a, id: randomId() };
  t.heardFrom(b, 1);
  expect(t.size).toBe(1);
  expect(t.get(a)!.id).toEqual(b.id);
  expect(t.heardFrom({ id: randomId(), host: '10.9.9.9', port: 1 }, 0)).toEqual({ added: false, reason: 'refused' });
  expect(t.heardFrom({ id: randomId(), host: '8.8.8.8', port: 2 }, 0)).toEqual({ added: true });
  expect(t.heardFrom({ id: randomId(), host: '8.8.8.8', port: 3 }, 0)).toEqual({ added: false, reason: 'refused' });
  expect(t.heardFrom({ id: own, host: '10.1.1.1', port: 3 }, 0)).toEqual({ added: false, reason: 'refused' });
});

test('stale buckets give one refresh target inside each; touching a bucket makes it fresh', () => {
  const t = new RoutingTable({ id: own }, 0);
  for (let d = 0; d < 4; d++) for (let i = 0; i < K; i++) t.heardFrom(node(d, i), 0);
  const targets = t.staleBuckets(0);
  expect(targets.map((x) => Math.min(commonPrefixBits(own, x), t.stats(0).buckets - 1))).toEqual([...Array(t.stats(0).buckets).keys()]);
  for (const x of targets) t.touchBucket(x, 5);
  expect(t.staleBuckets(0)).toEqual([]);
});

test('a join refreshes each depth short of the closest neighbour that holds fewer than K nodes, split or not', () => {
  const t = new RoutingTable({ id: own });
  // Five nodes, no split yet: depths 0, 2 and 6 known; the closest neighbour is at depth 6.
  for (const [d, i] of [[0, 1], [0, 2], [2, 1], [6, 1], [6, 2]] as const) t.heardFrom(node(d, i), 0);
  expect(t.stats(0).buckets).toBe(1);
  expect(t.sparseDepths().map((x) => commonPrefixBits(own, x))).toEqual([0, 1, 2, 3, 4, 5]);
  for (let i = 3; i < 3 + K; i++) t.heardFrom(node(0, i), 0);
  expect(t.sparseDepths().map((x) => commonPrefixBits(own, x))).toEqual([1, 2, 3, 4, 5]);
});
