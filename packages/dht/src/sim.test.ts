import { compareDistance, randomId, toHex } from './id.js';
import { K } from './routing-table.js';
import { runUntil, Sim } from './sim.testutil.js';

describe('a simulated network of 1,000 nodes', () => {
  const sim = new Sim();
  beforeAll(async () => {
    await sim.grow(1000);
  }, 120_000);
  afterAll(() => sim.close());

  test('every node joined and knows dozens of others (the join fills far buckets too)', () => {
    const counts = sim.nodes.map((s) => s.node.nodeCount).sort((a, b) => a - b);
    expect(counts[0]).toBeGreaterThan(3 * K);
  });

  test('a lookup from any node finds the true K closest nodes in a bounded number of rounds', async () => {
    const ids = sim.nodes.map((s) => s.node.id);
    const rounds: number[] = [];
    for (let i = 0; i < 20; i++) {
      const target = randomId();
      const truth = [...ids].sort((a, b) => compareDistance(target, a, b)).slice(0, K).map(toHex);
      const from = sim.nodes[(i * 37) % sim.nodes.length]!.node;
      const r = await runUntil(sim.clock, from.findNode(target));
      const got = r.closest.map((n) => toHex(n.id));
      // The searcher itself is never in its own result.
      const expected = truth.filter((h) => h !== toHex(from.id));
      expect(got.slice(0, expected.length).filter((h) => expected.includes(h)).length).toBeGreaterThanOrEqual(expected.length - 1);
      rounds.push(r.rounds);
      expect(r.queries).toBeLessThan(80);
    }
    expect(Math.max(...rounds)).toBeLessThanOrEqual(Math.ceil(Math.log2(1000)));
  });
});
