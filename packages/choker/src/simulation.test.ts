import { ManualClock, RateMeasure } from '@mainline/rate';
import { Choker } from './index.js';
import { FakePeer, prng } from './fake-peer.test-util.js';

const N = 20;
const SECONDS = 600;

interface Outcome {
  optimisticTurns: Map<FakePeer, number>;
  everPreferred: Set<FakePeer>;
  everUnchoked: Set<FakePeer>;
  longestChokedMs: number;
  checks: number;
  timerRuns: number;
}

/**
 * 20 interested peers over 10 simulated minutes. Each peer sends us data at its own speed with
 * ±5 % noise every second; with `reshuffleEverySec` the speeds are redrawn now and then. The
 * choker reads the rates from real RateMeasures. After every rechoke (every 10th second) we check
 * that exactly the fastest maxUploads−1 peers are preferred and unchoked, plus one optimistic.
 */
function simulate(seed: number, reshuffleEverySec: number): Outcome {
  const rnd = prng(seed);
  const clock = new ManualClock(0);
  const choker = new Choker<FakePeer>({ clock, random: rnd });
  const peers: FakePeer[] = [];
  const measures = new Map<FakePeer, RateMeasure>();
  const speed = new Map<FakePeer, number>();
  const reshuffle = (): void => {
    for (const p of peers) speed.set(p, 5_000 + Math.floor(rnd() * 200) * 1_000);
  };
  for (let i = 0; i < N; i++) {
    const p = new FakePeer(`p${i}`, true);
    const m = new RateMeasure({ clock });
    measures.set(p, m);
    p.downloadRate = () => m.rate(); // like a real connection: the live measure
    peers.push(p);
  }
  reshuffle();
  for (const p of peers) choker.peerConnected(p);
  choker.start();

  const out: Outcome = {
    optimisticTurns: new Map(peers.map((p) => [p, 0])),
    everPreferred: new Set(),
    everUnchoked: new Set(),
    longestChokedMs: 0,
    checks: 0,
    timerRuns: 0,
  };
  const chokedSince = new Map<FakePeer, number>(peers.map((p) => [p, 0]));
  for (let sec = 1; sec <= SECONDS; sec++) {
    if (reshuffleEverySec > 0 && sec % reshuffleEverySec === 0) reshuffle();
    for (const p of peers) {
      measures.get(p)!.update(Math.floor(speed.get(p)! * (0.95 + rnd() * 0.1)));
      p.lastBlock = clock.now();
    }
    clock.advance(1000); // the choker's timer fires at every 10th second
    if (sec % 10 !== 0) continue;
    out.checks++;
    // the rates the choker saw: no time has passed since its rechoke
    const ranked = [...peers].sort((a, b) => b.downloadRate() - a.downloadRate());
    const fastest = ranked.slice(0, choker.maxUploads - 1);
    for (const p of fastest) expect(p.choked).toBe(false);
    expect(new Set(choker.preferred)).toEqual(new Set(fastest));
    // 6 by rate + exactly 1 optimistic (minUploads = 4 is already met by the preferred)
    expect(peers.filter((p) => !p.choked)).toHaveLength(choker.maxUploads);
    expect(choker.optimistic).toHaveLength(1);
    const opt = choker.optimistic[0]!;
    expect(fastest).not.toContain(opt);
    out.optimisticTurns.set(opt, out.optimisticTurns.get(opt)! + 1);
    for (const p of fastest) out.everPreferred.add(p);
    for (const p of peers) {
      if (p.choked) {
        out.longestChokedMs = Math.max(out.longestChokedMs, clock.now() - chokedSince.get(p)!);
      } else {
        out.everUnchoked.add(p);
        chokedSince.set(p, clock.now());
      }
    }
  }
  out.timerRuns = choker.timerRuns;
  return out;
}

describe('Choker simulation (20 peers, 10 simulated minutes)', () => {
  it('stable speeds: the fastest 6 stay unchoked and each of the other 14 gets an optimistic turn', () => {
    const out = simulate(0xb17, 0);
    expect(out.checks).toBe(60);
    expect(out.timerRuns).toBe(60);
    expect(out.everPreferred.size).toBeLessThanOrEqual(8); // noise may swap neighbours at the edge
    const neverPreferred = [...out.optimisticTurns.keys()].filter((p) => !out.everPreferred.has(p));
    expect(neverPreferred.length).toBeGreaterThanOrEqual(N - 8);
    for (const p of neverPreferred) expect([p.name, out.optimisticTurns.get(p)]).not.toEqual([p.name, 0]);
    expect(out.everUnchoked.size).toBe(N);
  });

  it.each([
    [0x5eed, 120],
    [0xc0ffee, 60],
    [42, 90],
  ])('changing speeds (seed %i, reshuffle every %i s): nobody waits longer than one rotation', (seed, every) => {
    const out = simulate(seed, every);
    expect(out.checks).toBe(60);
    // every peer was unchoked at some point, by rate or optimistically
    expect(out.everUnchoked.size).toBe(N);
    // The rotation moves past at least one choked peer every 30 s and at most N − (maxUploads−1) − 1
    // choked peers can be ahead of anyone, so no one stays choked longer than (N − 6) × 30 s.
    expect(out.longestChokedMs).toBeLessThanOrEqual((N - 6) * 30_000);
    const turns = [...out.optimisticTurns.values()].reduce((a, b) => a + b, 0);
    expect(turns).toBe(60);
  });
});
