import fc from 'fast-check';
import { ManualClock, RateError, RateMeasure, UPLOAD_RATE_FUDGE_MS } from './index.js';

describe('RateMeasure (mainline CurrentRateMeasure.Measure)', () => {
  it('averages over the window including the 1 s fudge', () => {
    const clock = new ManualClock(0);
    const m = new RateMeasure({ clock }); // since = −1 s
    clock.advance(1000);
    m.update(1000); // 1000 B over 2 s
    expect(m.rateNoUpdate()).toBe(500);
    clock.advance(2000);
    m.update(1000); // 2000 B over 4 s
    expect(m.rate()).toBe(500);
    expect(m.total).toBe(2000);
  });

  it('upload measures start with a 5 s head start', () => {
    const clock = new ManualClock(10_000);
    const m = new RateMeasure({ clock, fudgeMs: UPLOAD_RATE_FUDGE_MS });
    m.update(1000);
    expect(m.rate()).toBe(200);
  });

  it('decays while idle: rate() applies a 0-byte update', () => {
    const clock = new ManualClock(0);
    const m = new RateMeasure({ clock });
    clock.advance(3000);
    m.update(2000); // 2000 B over 4 s = 500
    clock.advance(4000);
    expect(m.rateNoUpdate()).toBe(500); // peek does not decay
    expect(m.rate()).toBe(250); // 2000 B over 8 s
    clock.advance(100_000);
    expect(m.rate()).toBeLessThan(50);
  });

  it('converges to a steady rate and forgets beyond the 20 s window', () => {
    const clock = new ManualClock(0);
    const m = new RateMeasure({ clock });
    for (let i = 0; i < 100; i++) {
      clock.advance(1000);
      m.update(1000);
    }
    // r ← (20·r + 1000)/21 each second: converges geometrically to 1000.
    const r0 = m.rate();
    expect(Math.abs(r0 - 1000)).toBeLessThan(5);
    // last = 100 s, since = 80 s. Idle 10 s: 20 s worth of r0 spread over 30 s.
    clock.advance(10_000);
    expect(m.rate()).toBeCloseTo((r0 * 20) / 30, 6);
    // since is now 90 s, last 110 s: again the 20 s weight is spread over 30 s.
    clock.advance(10_000);
    expect(m.rate()).toBeCloseTo((r0 * 20 * 20) / 30 / 30, 6);
    expect(m.total).toBe(100_000);
  });

  it('a short window option reacts faster', () => {
    const clock = new ManualClock(0);
    const slow = new RateMeasure({ clock });
    const fast = new RateMeasure({ clock, maxRatePeriodMs: 2000 });
    for (let i = 0; i < 30; i++) {
      clock.advance(1000);
      slow.update(1000);
      fast.update(1000);
    }
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      slow.update(10_000);
      fast.update(10_000);
    }
    expect(fast.rate()).toBeGreaterThan(slow.rate() * 2);
  });

  it('timeUntilRate says how long to stay silent to fall to a target', () => {
    const clock = new ManualClock(0);
    const m = new RateMeasure({ clock });
    clock.advance(3000);
    m.update(2000); // 500 B/s, window 4 s
    expect(m.timeUntilRate(600)).toBe(0);
    expect(m.timeUntilRate(500)).toBe(0);
    const wait = m.timeUntilRate(250);
    expect(wait).toBeCloseTo(4000, 9); // 500·4/250 − 4 = 4 s
    clock.advance(wait);
    expect(m.rate()).toBeCloseTo(250, 9);
    expect(m.timeUntilRate(0)).toBe(Infinity);
  });

  it('with fudge 0 bytes at the very start are held until time moves', () => {
    const clock = new ManualClock(0);
    const m = new RateMeasure({ clock, fudgeMs: 0 });
    m.update(500);
    expect(m.rate()).toBe(0);
    clock.advance(1000);
    m.update(500);
    expect(m.rate()).toBe(1000);
  });

  it('rejects bad input with a typed error', () => {
    const clock = new ManualClock();
    const m = new RateMeasure({ clock });
    expect(() => m.update(-1)).toThrow(RateError);
    expect(() => m.update(NaN)).toThrow(/bytes/);
    expect(() => m.timeUntilRate(-5)).toThrow(RateError);
    expect(() => new RateMeasure({ clock, maxRatePeriodMs: 0 })).toThrow(RateError);
    expect(() => new RateMeasure({ clock, fudgeMs: -1 })).toThrow(RateError);
  });

  it('matches the reference formula for arbitrary update sequences (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 30_000 }), fc.integer({ min: 0, max: 1 << 20 })), {
          maxLength: 60,
        }),
        (steps) => {
          const clock = new ManualClock(5000);
          const m = new RateMeasure({ clock, fudgeMs: 1000 });
          // independent transcription of mainline, in seconds
          let since = 4;
          let last = 4;
          let rate = 0;
          let t = 5;
          for (const [dt, n] of steps) {
            clock.advance(dt);
            t += dt / 1000;
            m.update(n);
            rate = (rate * (last - since) + n) / (t - since);
            last = t;
            if (since < t - 20) since = t - 20;
            expect(m.rateNoUpdate()).toBeCloseTo(rate, 6);
            expect(m.rateNoUpdate()).toBeGreaterThanOrEqual(0);
          }
        },
      ),
    );
  });
});
