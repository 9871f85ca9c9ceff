// BEP 32 (IPv6 beside IPv4) and BEP 42 (node ids tied to external IPs), on the in-memory network.
import { encode } from '@mainline/bencode';
import { isValidBep42Id } from './bep42.js';
import { familyOf } from './compact.js';
import { randomId } from './id.js';
import { DhtNode, type DhtOptions } from './node.js';
import { probe, runUntil, Sim } from './sim.testutil.js';

/** A node with an IPv4 and an IPv6 endpoint behind one DatagramSocket, as a dual-stack owner would give it. */
function dualNode(sim: Sim, i: number, options: Partial<DhtOptions>): DhtNode {
  const ep4 = sim.net.endpoint(`10.1.0.${i}`, 6881);
  const ep6 = sim.net.endpoint(`fd00::${i.toString(16)}`, 6881);
  const node = new DhtNode({
    clock: sim.clock,
    families: [4, 6],
    ...options,
    socket: { send: (d, port, host) => (familyOf(host) === 6 ? ep6 : ep4).send(d, port, host) },
  });
  ep4.onMessage = ep6.onMessage = (d, from) => node.receive(d, from);
  return node;
}

test('BEP 32: separate IPv4 and IPv6 tables, nodes6 and want, values per family', async () => {
  const sim = new Sim();
  const nodes = [dualNode(sim, 1, { bootstrap: [] })];
  for (let i = 2; i <= 20; i++) nodes.push(dualNode(sim, i, { bootstrap: ['10.1.0.1:6881', '[fd00::1]:6881'] }));
  await runUntil(sim.clock, Promise.all(nodes.map((n) => n.start())));
  const s = nodes[5]!.stats();
  expect(s.tables.map((t) => t.family)).toEqual([4, 6]);
  expect(s.tables.every((t) => t.good >= 5)).toBe(true);

  // want selects the lists; without it a query is answered in its own family.
  const p4 = probe(sim, '10.200.0.1');
  const p6 = probe(sim, 'fd00::200');
  const id = randomId();
  const to4 = { host: '10.1.0.6', port: 6881 };
  const to6 = { host: 'fd00::6', port: 6881 };
  const fn = (want?: string[]): Uint8Array => encode({ t: 'aa', y: 'q', q: 'find_node', a: { id, target: randomId(), ...(want ? { want } : {}) } });
  const [both] = p4.ask(to4, fn(['n4', 'n6']));
  expect(both).toMatchObject({ kind: 'response' });
  expect((both as { nodes: unknown[] }).nodes.length).toBe(8);
  expect((both as { nodes6: unknown[] }).nodes6.length).toBe(8);
  const [v6only] = p6.ask(to6, fn());
  expect(v6only).not.toHaveProperty('nodes');
  expect((v6only as { nodes6: { host: string }[] }).nodes6.every((n) => n.host.startsWith('fd00::'))).toBe(true);
  expect((v6only as { ip: { host: string } }).ip.host).toBe('fd00::200');

  const ih = randomId();
  const announced = await runUntil(sim.clock, nodes[3]!.announce(ih, 6881));
  expect(announced.lookups.map((l) => l.family)).toEqual([4, 6]);
  expect(announced.announced).toBeGreaterThanOrEqual(12);
  const found = await runUntil(sim.clock, nodes[15]!.getPeers(ih).done);
  expect(found.peers.map((p) => `${p.family} ${p.host}`).sort()).toEqual(['4 10.1.0.4', '6 fd00::4']);
  sim.close();
});

describe('BEP 42', () => {
  // Public addresses only inside the in-memory network: no datagram leaves the process.
  const pub = (i: number): string => `198.51.100.${i}`;

  test('a node learns its external IP by voting, takes a BEP 42 id for it, and is then admitted by enforcing nodes', async () => {
    const sim = new Sim();
    const ext = Array.from({ length: 6 }, (_, i) => sim.add({ externalAddress: pub(i + 1), bootstrap: i === 0 ? [] : [`${pub(1)}:6881`] }, pub(i + 1)));
    await runUntil(sim.clock, Promise.all(ext.map((s) => s.node.start())));
    for (const s of ext) expect(isValidBep42Id(s.node.id, s.host)).toBe(true);

    const x = sim.add({ bootstrap: [`${pub(1)}:6881`] }, '203.0.113.5');
    const before = Uint8Array.from(x.node.id);
    const ids: Uint8Array[] = [];
    x.node.on('id', (id) => ids.push(id));
    const voted: string[] = [];
    x.node.on('external-address', (a) => voted.push(a));
    await runUntil(sim.clock, x.node.start());
    expect(voted).toEqual(['203.0.113.5']);
    expect(x.node.externalAddress).toBe('203.0.113.5');
    expect(isValidBep42Id(before, '203.0.113.5')).toBe(false);
    expect(ids).toHaveLength(1);
    expect(isValidBep42Id(x.node.id, '203.0.113.5')).toBe(true);
    // After its new-id lookup, the others have it in their tables.
    sim.clock.advance(5000);
    const known = ext.filter((s) => s.node.stats().tables[0]!.nodes > ext.length - 1).length;
    expect(known).toBeGreaterThan(0);
    sim.close();
  });

  test('enforcing nodes keep an id that does not fit its public IP out of the table; bep42: false admits it; one node per public IP', async () => {
    const sim = new Sim();
    const strict = sim.add({ externalAddress: pub(1), bootstrap: [] }, pub(1));
    const lax = sim.add({ externalAddress: pub(2), bootstrap: [], bep42: false, onePerIp: false }, pub(2));
    await runUntil(sim.clock, Promise.all([strict.node.start(), lax.node.start()]));
    const liar = sim.add({ id: randomId(), bootstrap: [`${pub(1)}:6881`, `${pub(2)}:6881`] }, '203.0.113.9');
    await runUntil(sim.clock, liar.node.start());
    sim.clock.advance(1000);
    expect(isValidBep42Id(liar.node.id, liar.host)).toBe(false);
    expect(strict.node.stats().tables[0]!.nodes).toBe(0);
    expect(lax.node.stats().tables[0]!.nodes).toBe(1);
    // Two honest nodes behind one public IP: an enforcing table keeps one.
    const twins = [1, 2].map((port) => sim.add({ externalAddress: '203.0.113.20', bootstrap: [`${pub(1)}:6881`, `${pub(2)}:6881`] }, '203.0.113.20', port));
    await runUntil(sim.clock, Promise.all(twins.map((t) => t.node.start())));
    sim.clock.advance(1000);
    expect(strict.node.stats().tables[0]!.nodes).toBe(1);
    expect(lax.node.stats().tables[0]!.nodes).toBe(3);
    sim.close();
  });
});
