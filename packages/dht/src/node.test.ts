import { encode, type Encodable } from '@mainline/bencode';
import { randomId, toHex } from './id.js';
import type { KrpcMessage } from './krpc.js';
import { DEFAULT_BOOTSTRAP, DhtNode, parseState } from './node.js';
import { flush, probe, runUntil, Sim, type SimNode } from './sim.testutil.js';

const T = Uint8Array.of(0xab, 0xcd);
const query = (method: string, a: { [k: string]: Encodable }, extra: { [k: string]: Encodable } = {}): Uint8Array => encode({ t: T, y: 'q', q: method, a, ...extra });
const only = <K extends KrpcMessage['kind']>(msgs: KrpcMessage[], kind: K): Extract<KrpcMessage, { kind: K }> => {
  expect(msgs).toHaveLength(1);
  expect(msgs[0]!.kind).toBe(kind);
  return msgs[0] as Extract<KrpcMessage, { kind: K }>;
};

let sim: Sim;
let a: SimNode;
beforeEach(() => {
  sim = new Sim();
  a = sim.add({ bootstrap: [] });
});
afterEach(() => sim.close());

describe('answering queries', () => {
  test('ping, find_node and get_peers answer with our id, the requester address (BEP 42 ip) and our version', () => {
    const p = probe(sim);
    const id = randomId();
    const pong = only(p.ask(a, query('ping', { id })), 'response');
    expect(pong.t).toEqual(T);
    expect(pong.id).toEqual(a.node.id);
    expect(pong.ip).toEqual({ host: p.host, port: p.port, family: 4 });
    expect(Buffer.from(pong.v!).subarray(0, 2).toString()).toBe('MN');
    const found = only(p.ask(a, query('find_node', { id, target: randomId() })), 'response');
    expect(found.nodes).toEqual([]); // a lone node knows nobody (the probe never answered a ping)
    const peers = only(p.ask(a, query('get_peers', { id, info_hash: randomId() })), 'response');
    expect(peers.token).toBeDefined();
    expect(peers.values).toBeUndefined();
  });

  test('announce_peer needs the token we gave that IP for that info-hash; implied_port uses the source port', () => {
    const p = probe(sim);
    const q = probe(sim, '10.200.0.2');
    const id = randomId();
    const ih = randomId();
    const other = randomId();
    const token = only(p.ask(a, query('get_peers', { id, info_hash: ih })), 'response').token!;
    // Another IP, another info-hash, a made-up token: all 203 "invalid token", nothing stored.
    expect(only(q.ask(a, query('announce_peer', { id, info_hash: ih, port: 7000, token })), 'error')).toMatchObject({ code: 203, message: 'invalid token' });
    expect(only(p.ask(a, query('announce_peer', { id, info_hash: other, port: 7000, token })), 'error').code).toBe(203);
    expect(only(p.ask(a, query('announce_peer', { id, info_hash: ih, port: 7000, token: 'made-up' })), 'error').code).toBe(203);
    expect(a.node.stats().storedPeers).toBe(0);
    only(p.ask(a, query('announce_peer', { id, info_hash: ih, port: 7000, token })), 'response');
    only(p.ask(a, query('announce_peer', { id, info_hash: ih, port: 9999, token, implied_port: 1 })), 'response');
    const values = only(q.ask(a, query('get_peers', { id, info_hash: ih })), 'response').values!;
    expect(values.map((v) => `${v.host}:${v.port}`).sort()).toEqual([`${p.host}:${p.port}`, `${p.host}:7000`]);
  });

  test('a token stays valid for one to two rotation periods (5-10 min), then is refused', () => {
    const p = probe(sim);
    const id = randomId();
    const ih = randomId();
    const announce = (token: Uint8Array): KrpcMessage => p.ask(a, query('announce_peer', { id, info_hash: ih, port: 7000, token }))[0]!;
    const tokenNow = (): Uint8Array => only(p.ask(a, query('get_peers', { id, info_hash: ih })), 'response').token!;
    const t0 = tokenNow();
    sim.clock.advance(5 * 60_000); // one rotation: the previous secret still counts
    expect(announce(t0).kind).toBe('response');
    expect(tokenNow()).not.toEqual(t0);
    sim.clock.advance(5 * 60_000); // two rotations: t0's secret is gone
    const late = announce(t0);
    expect(late).toMatchObject({ kind: 'error', code: 203 });
  });

  test('unknown methods get 204, malformed queries 203 with their transaction id, junk nothing', () => {
    const p = probe(sim);
    const id = randomId();
    expect(only(p.ask(a, query('sample_everything', { id })), 'error')).toMatchObject({ code: 204, t: T });
    expect(only(p.ask(a, query('find_node', { id })), 'error')).toMatchObject({ code: 203, t: T });
    expect(only(p.ask(a, query('ping', { id: 'short' })), 'error')).toMatchObject({ code: 203, t: T });
    expect(only(p.ask(a, encode({ t: T, y: 'z' })), 'error')).toMatchObject({ code: 203, t: T });
    expect(p.ask(a, Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toEqual([]);
    expect(p.ask(a, encode({ y: 'q', q: 'ping', a: { id } }))).toEqual([]);
    expect(p.ask(a, encode([1, 2, 3]))).toEqual([]);
    // Responses and errors we never asked for are dropped (and counted).
    expect(p.ask(a, encode({ t: T, y: 'r', r: { id } }))).toEqual([]);
    expect(p.ask(a, encode({ t: T, y: 'e', e: [201, 'x'] }))).toEqual([]);
    const s = a.node.stats();
    expect(s.received.malformed).toBe(6);
    expect(s.received.unmatched).toBe(2);
    expect(p.garbage).toEqual([]);
  });

  test('queries beyond 50 per 10 s from one IP are dropped, that IP is ignored for 5 min, others are not', () => {
    const p = probe(sim);
    const q = probe(sim, '10.200.0.2');
    const id = randomId();
    for (let i = 0; i < 60; i++) p.send(a, query('ping', { id }));
    sim.clock.advance(50);
    expect(p.got.filter((m) => m.kind === 'response')).toHaveLength(50);
    expect(a.node.stats().received.rateLimited).toBe(10);
    expect(q.ask(a, query('ping', { id }))).toHaveLength(1);
    sim.clock.advance(60_000);
    expect(p.ask(a, query('ping', { id }))).toHaveLength(0);
    sim.clock.advance(5 * 60_000);
    expect(p.ask(a, query('ping', { id }))).toHaveLength(1);
  });

  test('the per-IP table is bounded: a flood from many addresses keeps at most maxIps entries', () => {
    const b = sim.add({ bootstrap: [], rateLimit: { maxIps: 100, perIp: 1 } });
    const id = randomId();
    for (let i = 0; i < 300; i++) probe(sim, `10.201.${i >> 8}.${i & 255}`).send(b, query('ping', { id }));
    sim.clock.advance(50);
    expect(b.node.stats().sent.responses).toBe(300);
  });
});

test('the owner may reuse a datagram buffer once receive() returns: ids, tokens and peers were copied', () => {
  a.endpoint.onMessage = (d, from) => {
    a.node.receive(d, from);
    d.fill(0x30);
  };
  const p = probe(sim);
  const pid = randomId();
  p.ask(a, query('ping', { id: pid }));
  const ping = p.got.find((m) => m.kind === 'query')!;
  p.send(a, encode({ t: ping.t, y: 'r', r: { id: pid } }));
  sim.clock.advance(50);
  const ih = randomId();
  const token = only(p.ask(a, query('get_peers', { id: pid, info_hash: ih })), 'response').token!;
  expect(only(p.ask(a, query('announce_peer', { id: pid, info_hash: ih, port: 7000, token })), 'response').kind).toBe('response');
  const other = probe(sim, '10.200.0.7');
  const r = only(other.ask(a, query('get_peers', { id: randomId(), info_hash: ih })), 'response');
  expect(r.nodes!.map((n) => toHex(n.id))).toEqual([toHex(pid)]);
  expect(r.values).toEqual([{ host: p.host, port: 7000, family: 4 }]);
});

describe('the peer store', () => {
  const announceFrom = (host: string, ih: Uint8Array, port = 7000): KrpcMessage => {
    const p = probe(sim, host, 5000);
    const id = randomId();
    const token = only(p.ask(a, query('get_peers', { id, info_hash: ih })), 'response').token;
    if (!token) return { kind: 'error', t: T, code: 0, message: 'no token' };
    return p.ask(a, query('announce_peer', { id, info_hash: ih, port, token }))[0]!;
  };

  test('caps torrents (then withholds tokens), peers per torrent and values per reply; expires after 30 min', () => {
    sim.close();
    sim = new Sim();
    a = sim.add({ bootstrap: [], storage: { maxTorrents: 3, maxPeersPerTorrent: 5, maxValues: 4 } });
    const hashes = [randomId(), randomId(), randomId(), randomId()];
    for (let i = 0; i < 3; i++) expect(announceFrom(`10.50.0.${i}`, hashes[i]!).kind).toBe('response');
    // Full: no token for a 4th torrent, so the announce goes elsewhere.
    expect(announceFrom('10.50.0.9', hashes[3]!)).toMatchObject({ kind: 'error', message: 'no token' });
    for (let i = 0; i < 20; i++) announceFrom(`10.51.0.${i}`, hashes[0]!);
    expect(a.node.stats()).toMatchObject({ storedTorrents: 3, storedPeers: 2 + 5 });
    const p = probe(sim);
    const values = only(p.ask(a, query('get_peers', { id: randomId(), info_hash: hashes[0]! })), 'response').values!;
    expect(values).toHaveLength(4);
    sim.clock.advance(30 * 60_000 + 1); // past the TTL
    expect(only(p.ask(a, query('get_peers', { id: randomId(), info_hash: hashes[0]! })), 'response').values).toBeUndefined();
  });
});

describe('lookups, announces and the client API', () => {
  test('a lookup never queries ourselves, even when others list us among the closest', async () => {
    await sim.grow(2);
    const toSelf: string[] = [];
    sim.net.onSend = (_d, from, to) => {
      if (from.address === to.address && from.port === to.port) toSelf.push(from.address);
    };
    const seeder = sim.nodes[1]!.node;
    const r = await runUntil(sim.clock, seeder.announce(randomId(), 6881));
    expect(r.announced).toBe(2);
    expect(toSelf).toEqual([]);
    expect(seeder.stats().storedPeers).toBe(0);
  });

  test('getPeers streams the peers found and completes; announce stores us at the closest nodes', async () => {
    await sim.grow(60);
    const ih = randomId();
    const seeder = sim.nodes[10]!.node;
    const r = await runUntil(sim.clock, seeder.announce(ih, 6881));
    expect(r.announced).toBeGreaterThanOrEqual(6);
    expect(r.peers).toEqual([]);
    const implied = await runUntil(sim.clock, sim.nodes[11]!.node.announce(ih, 'implied'));
    expect(implied.announced).toBeGreaterThan(0);

    const search = sim.nodes[40]!.node.getPeers(ih);
    const seen: string[] = [];
    const iterating = (async () => {
      for await (const p of search) seen.push(`${p.host}:${p.port}`);
    })();
    const result = await runUntil(sim.clock, search.done);
    await iterating;
    const want = [`${sim.nodes[10]!.host}:6881`, `${sim.nodes[11]!.host}:6881`].sort();
    expect(seen.sort()).toEqual(want);
    expect(result.peers.map((p) => `${p.host}:${p.port}`).sort()).toEqual(want);
    expect(result.lookups[0]).toMatchObject({ family: 4, end: 'converged' });

  });

  test('a lookup is bounded in queries and time, even when nodes never answer', async () => {
    await sim.grow(30);
    const n = sim.nodes[5]!;
    // Everyone but n vanishes: every query times out.
    for (const s of sim.nodes) if (s !== n) s.endpoint.close();
    const r = await runUntil(sim.clock, n.node.findNode(randomId()));
    expect(r.responses).toBe(0);
    expect(r.end).toBe('exhausted');
    expect(r.durationMs).toBeLessThanOrEqual(4000 * 3 + 100);
  });

  test('a lookup stops at its query budget', async () => {
    await sim.grow(60);
    const capped = sim.add({ maxLookupQueries: 5 });
    await runUntil(sim.clock, capped.node.start());
    const r = await runUntil(sim.clock, capped.node.findNode(randomId()));
    expect(r.queries).toBeLessThanOrEqual(5);
  });

  test('at most maxLookups run at once; the others wait their turn, and cancel or close ends waiting ones', async () => {
    await sim.grow(40);
    const n = sim.add({ maxLookups: 2 });
    await runUntil(sim.clock, n.node.start());
    const searches = Array.from({ length: 6 }, () => n.node.getPeers(randomId()));
    await flush();
    expect(n.node.stats()).toMatchObject({ runningLookups: 2, queuedLookups: 4 });
    let maxRunning = 0;
    sim.net.onSend = () => (maxRunning = Math.max(maxRunning, n.node.stats().runningLookups));
    searches[5]!.cancel();
    const results = await runUntil(sim.clock, Promise.all(searches.map((s) => s.done)));
    expect(maxRunning).toBe(2);
    expect(results.map((r) => r.lookups[0]!.end)).toEqual(['converged', 'converged', 'converged', 'converged', 'converged', 'cancelled']);
    const more = [n.node.getPeers(randomId()), n.node.getPeers(randomId()), n.node.getPeers(randomId())];
    await flush();
    n.node.close();
    const ended = await runUntil(sim.clock, Promise.all(more.map((s) => s.done)));
    expect(ended.map((r) => r.lookups[0]!.end)).toEqual(['cancelled', 'cancelled', 'cancelled']);
  });

  test('getPeers before start waits for the bootstrap; cancel ends a search early', async () => {
    await sim.grow(20);
    const late = sim.add();
    const started = late.node.start();
    const search = late.node.getPeers(randomId());
    await runUntil(sim.clock, started);
    search.cancel();
    const r = await runUntil(sim.clock, search.done);
    expect(r.lookups.every((l) => l.end === 'cancelled' || l.end === 'converged')).toBe(true);
    expect(() => late.node.getPeers(new Uint8Array(3))).toThrow(/20 bytes/);
    expect(() => late.node.getPeers(randomId(), { announce: 0 })).toThrow(/port/);
  });
});

test('a search started with the join does not wait for the whole join: the peer comes while the join still waits on dead nodes', async () => {
  const r = a; // the bootstrap node of everyone
  await runUntil(sim.clock, r.node.start());
  const gone = Array.from({ length: 6 }, () => sim.add());
  await runUntil(sim.clock, Promise.all(gone.map((g) => g.node.start())));
  const seeder = sim.add();
  await runUntil(sim.clock, seeder.node.start());
  const ih = randomId();
  expect((await runUntil(sim.clock, seeder.node.announce(ih, 7000))).announced).toBeGreaterThanOrEqual(1);
  // Six nodes the bootstrap node still lists vanish: the join's lookups wait for their timeouts.
  for (const g of gone) {
    g.node.close();
    g.endpoint.close();
  }
  const late = sim.add();
  const joined = late.node.start();
  const search = late.node.getPeers(ih);
  const first = await runUntil(sim.clock, search[Symbol.asyncIterator]().next());
  expect(first.value).toMatchObject({ host: seeder.host, port: 7000 });
  expect(late.node.ready).toBe(false);
  await runUntil(sim.clock, joined);
  expect(late.node.ready).toBe(true);
});

describe('routing table upkeep', () => {
  test('a bucket unchanged for 15 min is refreshed with find_node; silent nodes turn bad and replacements take their place', async () => {
    await sim.grow(40);
    const n = sim.nodes[3]!;
    const findNodes: string[] = [];
    sim.net.onSend = (data, from) => {
      if (from.address === n.host && Buffer.from(data).includes('9:find_node')) findNodes.push(toHex(data));
    };
    sim.clock.advance(14 * 60_000);
    await flush();
    expect(findNodes).toHaveLength(0);
    sim.clock.advance(2 * 60_000);
    await flush();
    expect(findNodes.length).toBeGreaterThan(0);

    // Half the network goes away: after they are questionable, pings fail twice, they are bad.
    const before = n.node.stats().tables[0]!;
    const gone = new Set(sim.nodes.filter((_, i) => i % 2 === 1 && i !== 3).map((s) => s.host));
    for (const s of sim.nodes) if (gone.has(s.host)) s.endpoint.close();
    for (let i = 0; i < 40; i++) {
      sim.clock.advance(60_000);
      await flush();
    }
    const after = n.node.stats().tables[0]!;
    expect(before.good).toBeGreaterThan(0);
    expect(after.questionable).toBe(0);
    // What is left is answering (good) or known dead, waiting for a replacement (bad)...
    expect(after.good).toBeGreaterThan(0);
    expect(after.good + after.bad).toBe(after.nodes);
    // ...and the good ones (all that saveState keeps) are exactly the live hosts.
    const kept = parseState(n.node.saveState()).nodes;
    expect(kept.length).toBe(after.good);
    expect(kept.filter((x) => gone.has(x.host))).toEqual([]);
  });

  test('a node that only ever queried us with ro=1 (BEP 43) is not added; one without ro is pinged and added', () => {
    const p = probe(sim);
    p.ask(a, query('ping', { id: randomId() }, { ro: 1 }));
    expect(p.got.filter((m) => m.kind === 'query')).toHaveLength(0);
    const q = probe(sim, '10.200.0.9');
    const qid = randomId();
    q.ask(a, query('ping', { id: qid }));
    const ping = q.got.find((m) => m.kind === 'query');
    expect(ping).toMatchObject({ method: 'ping' });
    q.send(a, encode({ t: ping!.t, y: 'r', r: { id: qid } }));
    sim.clock.advance(50);
    expect(a.node.nodeCount).toBe(1);
  });

  test('a read-only node (BEP 43) answers nothing and marks its queries ro', async () => {
    await sim.grow(5);
    const ro = sim.add({ readOnly: true });
    const seen: boolean[] = [];
    sim.net.onSend = (data, from) => {
      if (from.address === ro.host) seen.push(Buffer.from(data).includes('2:roi1e'));
    };
    await runUntil(sim.clock, ro.node.start());
    expect(ro.node.nodeCount).toBeGreaterThan(0);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every(Boolean)).toBe(true);
    const p = probe(sim);
    expect(p.ask(ro, query('ping', { id: randomId() }))).toEqual([]);
    // And nobody put it in their table.
    for (const s of sim.nodes.slice(0, 6)) expect(s.node.stats().tables[0]!.nodes).toBeLessThanOrEqual(5);
  });
});

describe('persistence', () => {
  test('saveState keeps the id and nodes (Transmission dht.dat layout); a restart from it needs no bootstrap node', async () => {
    await sim.grow(30);
    const n = sim.nodes[7]!;
    const state = n.node.saveState();
    n.node.close();
    n.endpoint.close();
    const contacted = new Set<string>();
    sim.net.onSend = (_d, from, to) => {
      if (from.address === n.host) contacted.add(to.address);
    };
    const saved = parseState(state);
    expect(toHex(saved.id)).toBe(toHex(n.node.id));
    expect(saved.nodes.length).toBe(n.node.nodeCount);
    // A bootstrap node that would answer nothing: the saved nodes must be enough.
    const again = sim.add({ state, bootstrap: ['10.250.0.1:6881'] }, n.host);
    expect(toHex(again.node.id)).toBe(toHex(n.node.id));
    await runUntil(sim.clock, again.node.start());
    expect(again.node.nodeCount).toBeGreaterThanOrEqual(8);
    expect(contacted.has('10.250.0.1')).toBe(false);
    expect(() => new DhtNode({ socket: sim.net.endpoint('10.99.0.1', 1), state: Uint8Array.of(1, 2) })).toThrow(/not bencoded/);
    expect(() => new DhtNode({ socket: sim.net.endpoint('10.99.0.2', 1), state: encode({ id: 'x' }) })).toThrow(/20-byte id/);
  });
});

describe('options', () => {
  test('an unknown option or a bad bootstrap entry is an error naming it', () => {
    const socket = sim.net.endpoint('10.99.0.3', 1);
    expect(() => new DhtNode({ socket, bootstrap: [], ...({ bootstrapNodes: [] } as object) })).toThrow(/unknown DHT option "bootstrapNodes"/);
    expect(() => new DhtNode({ socket, bootstrap: ['router.example'] })).toThrow(/router.example/);
    expect(() => new DhtNode({ socket, bootstrap: ['[1.2.3.4]:5'] })).toThrow(/host:port/);
    expect(() => new DhtNode({ socket, bootstrap: [], k: 0 })).toThrow(/k must be/);
    expect(() => new DhtNode({ socket, bootstrap: [], families: [5 as 4] })).toThrow(/families/);
    expect(new DhtNode({ socket, bootstrap: ['[::1]:6881', 'localhost:1'] })).toBeInstanceOf(DhtNode);
  });

  test('without a bootstrap option the public routers are the default (resolved here by a stub: nothing leaves the test)', async () => {
    const asked: string[] = [];
    const plain = new DhtNode({ socket: sim.net.endpoint('10.99.0.4', 1), clock: sim.clock, resolve: async (host) => (asked.push(host), []) });
    await runUntil(sim.clock, plain.start());
    expect(asked.sort()).toEqual(['dht.libtorrent.org', 'dht.transmissionbt.com', 'router.bittorrent.com', 'router.utorrent.com']);
    expect(DEFAULT_BOOTSTRAP).toEqual(['router.bittorrent.com:6881', 'router.utorrent.com:6881', 'dht.transmissionbt.com:6881', 'dht.libtorrent.org:25401']);
    plain.close();
  });

  test('names are resolved through the injected resolver; failures are warnings', async () => {
    const resolved: string[] = [];
    const warnings: string[] = [];
    const b = sim.add({
      bootstrap: ['router.test:6881', 'broken.test:1'],
      resolve: async (host) => {
        resolved.push(host);
        if (host === 'broken.test') throw new Error('NXDOMAIN');
        return [a.host];
      },
    });
    b.node.on('warning', (w) => warnings.push(w));
    await runUntil(sim.clock, b.node.start());
    expect(resolved.sort()).toEqual(['broken.test', 'router.test']);
    expect(warnings.join()).toMatch(/broken.test: NXDOMAIN/);
    expect(b.node.nodeCount).toBe(1);
  });
});
