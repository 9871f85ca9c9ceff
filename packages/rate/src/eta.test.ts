import fc from 'fast-check';
import { EtaEstimator, ManualClock, RateError } from './index.js';

describe('EtaEstimator (mainline RateMeasure)', () => {
  it('gives no estimate before data, and none right after the first data', () => {
    const clock = new ManualClock(0);
    const eta = new EtaEstimator({ clock, left: 10_000 });
    expect(eta.timeLeft()).toBeNull();
    eta.dataCameIn(1000);
    expect(eta.bytesLeft).toBe(9000);
    expect(eta.timeLeft()).toBeNull();
  });

  it('averages since a start 2 s before the first data', () => {
    const clock = new ManualClock(0);
    const eta = new EtaEstimator({ clock, left: 10_000 });
    eta.dataCameIn(1000); // start = −2 s; left 9000
    clock.advance(2000);
    eta.dataCameIn(1000); // 1000 B over 4 s = 250 B/s; left 8000
    expect(eta.currentRate).toBe(250);
    expect(eta.timeLeft()).toBe(32_000);
    clock.advance(2000);
    eta.dataCameIn(1000); // (250·4 + 1000) / 6; left 7000
    expect(eta.currentRate).toBeCloseTo(2000 / 6, 9);
    expect(eta.timeLeft()).toBeCloseTo(21_000, 6);
  });

  it('keeps its estimate for 15 s without data, then lets it grow', () => {
    const clock = new ManualClock(0);
    const eta = new EtaEstimator({ clock, left: 10_000 });
    eta.dataCameIn(1000);
    clock.advance(2000);
    eta.dataCameIn(1000);
    clock.advance(2000);
    eta.dataCameIn(1000); // t = 4 s, left 7000, ~21 s
    clock.advanceTo(19_000); // exactly 15 s: not yet stale
    expect(eta.timeLeft()).toBeCloseTo(21_000, 6);
    clock.advanceTo(20_000); // stale: rate = 2000 B over 22 s
    expect(eta.timeLeft()).toBeCloseTo((7000 / (2000 / 22)) * 1000, 6);
  });

  it('pulls the start forward near the end so the estimate follows the current rate', () => {
    const clock = new ManualClock(0);
    const eta = new EtaEstimator({ clock, left: 3000 });
    eta.dataCameIn(1000); // start −2, left 2000
    clock.advance(2000);
    eta.dataCameIn(1000); // rate 250, left 1000, remaining 4 s → start stays −2
    clock.advance(1000);
    eta.dataCameIn(500); // rate (250·4+500)/5 = 300, remaining 5/3 s → start = 3 − 5/3
    expect(eta.timeLeft()).toBeCloseTo((500 / 300) * 1000, 6);
    clock.advance(1000);
    eta.dataCameIn(250); // rate (300·5/3 + 250)/(4 − 4/3) = 281.25
    expect(eta.currentRate).toBeCloseTo(281.25, 9);
    expect(eta.timeLeft()).toBeCloseTo((250 / 281.25) * 1000, 6);
  });

  it('is robust to a burst once running: the window stays ≥ 20 s', () => {
    const clock = new ManualClock(0);
    const eta = new EtaEstimator({ clock, left: 1_000_000 });
    eta.dataCameIn(1000);
    for (let i = 0; i < 60; i++) {
      clock.advance(1000);
      eta.dataCameIn(1000);
    }
    const before = eta.timeLeft()!;
    clock.advance(1000);
    eta.dataCameIn(50_000); // one 50× burst
    const after = eta.timeLeft()!;
    // A 1-second view would predict ~19 s; the ≥ 20 s window keeps it within a factor of 4.
    expect(after).toBeLessThan(before);
    expect(after).toBeGreaterThan(before / 4);
  });

  it('hash failures give bytes back', () => {
    const clock = new ManualClock(0);
    const eta = new EtaEstimator({ clock, left: 10_000 });
    eta.dataCameIn(4000);
    eta.dataRejected(1000);
    expect(eta.bytesLeft).toBe(7000);
    clock.advance(2000);
    eta.dataCameIn(1000); // rate 250 over 4 s, left 6000
    expect(eta.timeLeft()).toBe(24_000);
  });

  it('finishes at 0 and never goes negative', () => {
    const clock = new ManualClock(0);
    const eta = new EtaEstimator({ clock, left: 1000 });
    eta.dataCameIn(600);
    clock.advance(1000);
    eta.dataCameIn(600);
    expect(eta.bytesLeft).toBe(0);
    expect(eta.timeLeft()).toBe(0);
  });

  it('returns null while the rate is 0', () => {
    const clock = new ManualClock(0);
    const eta = new EtaEstimator({ clock, left: 1000 });
    eta.dataCameIn(0);
    clock.advance(1000);
    eta.dataCameIn(0);
    expect(eta.timeLeft()).toBeNull();
  });

  it('rejects bad input', () => {
    const clock = new ManualClock(0);
    expect(() => new EtaEstimator({ clock, left: -1 })).toThrow(RateError);
    const eta = new EtaEstimator({ clock, left: 1 });
    expect(() => eta.dataCameIn(Infinity)).toThrow(RateError);
    expect(() => eta.dataRejected(-3)).toThrow(RateError);
  });

  it('at a constant rate the estimate converges to the true time left (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 1_000_000 }), fc.integer({ min: 100, max: 2000 }), (perSec, secs) => {
        const clock = new ManualClock(0);
        const total = perSec * secs;
        const eta = new EtaEstimator({ clock, left: total });
        eta.dataCameIn(perSec);
        const checkAt = Math.floor(secs / 2);
        for (let i = 1; i <= checkAt; i++) {
          clock.advance(1000);
          eta.dataCameIn(perSec);
        }
        if (checkAt < 25) return;
        const trueLeft = ((total - perSec * (checkAt + 1)) / perSec) * 1000;
        expect(Math.abs(eta.timeLeft()! - trueLeft)).toBeLessThanOrEqual(trueLeft * 0.15 + 1000);
      }),
      { numRuns: 50 },
    );
  });
});
