import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ManualClock, RateError, RateMeasure, RecentRate, UPLOAD_RATE_FUDGE_MS } from './index.js';

const MiB = 1024 * 1024;

/** Feeds `bytesPerSecond` in 16 KiB blocks for `ms`, as a peer's data arrives. */
function flow(clock: ManualClock, sinks: { update(n: number): void }[], bytesPerSecond: number, ms: number): void {
  const block = 16 * 1024;
  const every = (block / bytesPerSecond) * 1000;
  for (let t = 0; t + every <= ms; t += every) {
    clock.advance(every);
    for (const s of sinks) s.update(block);
  }
}

describe('RecentRate (a display rate over the last 2 s)', () => {
  it('reads a steady 2.9 MiB/s within 2% after 1 s, where RateMeasure still lags far behind', () => {
    // The issue: a peer sending ~2.9 MiB/s showed 298 KiB/s after 1 s and 1000 KiB/s after 4 s.
    const clock = new ManualClock(0);
    const recent = new RecentRate({ clock });
    const up = new RateMeasure({ clock, fudgeMs: UPLOAD_RATE_FUDGE_MS });
    flow(clock, [recent, up], 2.9 * MiB, 1000);
    expect(recent.rate() / (2.9 * MiB)).toBeGreaterThan(0.98);
    expect(up.rate() / (2.9 * MiB)).toBeLessThan(0.2);
    flow(clock, [recent, up], 2.9 * MiB, 3000);
    expect(Math.abs(recent.rate() / (2.9 * MiB) - 1)).toBeLessThan(0.02);
    expect(up.rate() / (2.9 * MiB)).toBeLessThan(0.6);
  });

  it('follows a change of speed within the window, and reads 0 one window after a stall', () => {
    const clock = new ManualClock(0);
    const r = new RecentRate({ clock });
    flow(clock, [r], 4 * MiB, 10_000);
    expect(r.rate() / (4 * MiB)).toBeCloseTo(1, 1);
    flow(clock, [r], 1 * MiB, 2_250);
    expect(r.rate() / MiB).toBeCloseTo(1, 1);
    clock.advance(2_250);
    expect(r.rate()).toBe(0);
    expect(r.total).toBeGreaterThan(40 * MiB);
  });

  it('from a counter read now and then: the growth since one window ago, never a spike after a silence', () => {
    const clock = new ManualClock(5_000);
    const r = new RecentRate({ clock });
    let total = 0;
    for (let i = 0; i < 8; i++) {
      clock.advance(500); // a redraw every 500 ms
      total += 500_000; // 1 MB/s
      r.observe(total);
      expect(r.rate()).toBeCloseTo(1_000_000, -3);
    }
    // Nobody looked for 10 s while 10 MB came: the reading is the average since the last look.
    clock.advance(10_000);
    total += 10_000_000;
    r.observe(total);
    expect(r.rate()).toBeGreaterThan(800_000);
    expect(r.rate()).toBeLessThan(1_100_000);
    // A counter that restarts from 0 (a new swarm) starts the measure over.
    clock.advance(1000);
    r.observe(250_000);
    clock.advance(250);
    r.observe(500_000);
    expect(r.rate()).toBeCloseTo(1_000_000, -3);
  });

  it('restartAt: a counter resumed from a saved total reads 0, then only what moves after it', () => {
    const clock = new ManualClock(0);
    const r = new RecentRate({ clock });
    r.restartAt(5_000_000_000); // lifetime total read back from a resume record
    clock.advance(500);
    r.observe(5_000_000_000);
    expect(r.rate()).toBe(0);
    clock.advance(500);
    r.observe(5_000_500_000);
    expect(r.rate()).toBeCloseTo(500_000, -3); // 500 kB over the second since the restart
  });

  it('a burst in the first instant is not read as a huge rate; a longer window averages longer', () => {
    const clock = new ManualClock(0);
    const r = new RecentRate({ clock });
    r.update(100_000);
    expect(r.rate()).toBe(400_000); // over one slot (250 ms), not over 0 ms
    const ten = new RecentRate({ clock, windowMs: 10_000 });
    const two = new RecentRate({ clock });
    flow(clock, [ten, two], 2 * MiB, 5000);
    flow(clock, [ten, two], 1 * MiB, 5000);
    expect(two.rate() / MiB).toBeCloseTo(1, 1);
    expect(ten.rate() / MiB).toBeCloseTo(1.5, 1);
  });

  it('stays exact over many small updates', () => {
    const clock = new ManualClock(0);
    const r = new RecentRate({ clock });
    for (let i = 0; i < 100_000; i++) {
      clock.advance(1);
      r.update(10);
    }
    expect(r.rate()).toBeCloseTo(10_000, -1);
    expect(r.total).toBe(1_000_000);
  });

  it('after a quiet spell that was read all along, the first bytes count over one window, not the whole spell', () => {
    const clock = new ManualClock(0);
    const r = new RecentRate({ clock });
    for (let i = 0; i < 20; i++) {
      clock.advance(500);
      expect(r.rate()).toBe(0);
    }
    clock.advance(100);
    r.observe(1_000_000); // 1 MB came in the last 2 s (at most): 500 kB/s, not 1 MB over 10.1 s
    expect(r.rate()).toBeCloseTo(500_000, -3);
    // Quiet again: 0 one window later; then traffic reads from the total as it stood one window back.
    clock.advance(2_500);
    expect(r.rate()).toBe(0);
    for (let i = 0; i < 10; i++) {
      clock.advance(500);
      expect(r.rate()).toBe(0);
    }
    r.observe(3_000_000);
    expect(r.rate()).toBeCloseTo(1_000_000, -3);
    expect(r.total).toBe(3_000_000);
  });

  it('a quiet spell nobody read is averaged over, as before; a reset during it starts over', () => {
    const clock = new ManualClock(0);
    const r = new RecentRate({ clock });
    clock.advance(10_000);
    r.update(1_000_000);
    expect(r.rate()).toBeCloseTo(100_000, -3);
    clock.advance(20_000);
    r.observe(500); // a counter reset: nothing counts from before
    expect(r.rate()).toBe(0);
    clock.advance(1_000);
    r.observe(100_500);
    expect(r.rate()).toBeCloseTo(100_000, -3);
  });

  it('an idle one that is read keeps no reference points: 10,000 of them fit in a small heap', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const used = (): number => {
      for (let i = 0; i < 3; i++) gc();
      return getHeapStatistics().used_heap_size;
    };
    const clock = new ManualClock(1_700_000_000_000);
    const rates: RecentRate[] = [];
    const before = used();
    for (let i = 0; i < 10_000; i++) rates.push(new RecentRate({ clock }));
    for (let t = 0; t < 12; t++) {
      clock.advance(300);
      for (const r of rates) r.observe(r.total);
      for (const r of rates) expect(r.rate()).toBe(0);
    }
    const each = (used() - before) / rates.length;
    console.log(`heap per idle RecentRate: ${each.toFixed(0)} B`);
    // ~430 B each with a ring of points per idle one; ~100 B without.
    expect(each).toBeLessThan(200);
    expect(rates).toHaveLength(10_000);
  });

  it('refuses bad arguments with a RateError', () => {
    const clock = new ManualClock(0);
    expect(() => new RecentRate({ clock, windowMs: 0 })).toThrow(RateError);
    const r = new RecentRate({ clock });
    expect(() => r.update(-1)).toThrow(RateError);
    expect(() => r.observe(Number.NaN)).toThrow(RateError);
  });
});
