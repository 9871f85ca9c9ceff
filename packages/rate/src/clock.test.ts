import { ManualClock, RateError, systemClock, type TimerHandle } from './index.js';

describe('ManualClock', () => {
  it('starts at the given time and only moves on advance', () => {
    const c = new ManualClock(1000);
    expect(c.now()).toBe(1000);
    c.advance(250);
    expect(c.now()).toBe(1250);
    c.advanceTo(2000);
    expect(c.now()).toBe(2000);
  });

  it('fires timers in due order, then in scheduling order, with now() at the due time', () => {
    const c = new ManualClock();
    const log: string[] = [];
    c.setTimeout(() => log.push(`b@${c.now()}`), 20);
    c.setTimeout(() => log.push(`a@${c.now()}`), 10);
    c.setTimeout(() => log.push(`c@${c.now()}`), 20);
    c.advance(15);
    expect(log).toEqual(['a@10']);
    expect(c.now()).toBe(15);
    c.advance(5); // inclusive of the end point
    expect(log).toEqual(['a@10', 'b@20', 'c@20']);
  });

  it('fires timers scheduled by timers when they fall inside the window', () => {
    const c = new ManualClock();
    const at: number[] = [];
    const tick = (): void => {
      at.push(c.now());
      c.setTimeout(tick, 10);
    };
    c.setTimeout(tick, 10);
    c.advance(35);
    expect(at).toEqual([10, 20, 30]);
    expect(c.pendingTimers).toBe(1);
    expect(c.nextTimerAt()).toBe(40);
  });

  it('zero and bad delays fire on the next advance, even advance(0)', () => {
    const c = new ManualClock();
    let n = 0;
    c.setTimeout(() => n++, 0);
    c.setTimeout(() => n++, -5);
    c.setTimeout(() => n++, NaN);
    expect(n).toBe(0);
    c.advance(0);
    expect(n).toBe(3);
  });

  it('clearTimeout cancels; clearing twice or after firing is harmless', () => {
    const c = new ManualClock();
    let fired = 0;
    const h = c.setTimeout(() => fired++, 5);
    const h2 = c.setTimeout(() => fired++, 5);
    c.clearTimeout(h);
    c.clearTimeout(h);
    expect(c.pendingTimers).toBe(1);
    c.advance(10);
    expect(fired).toBe(1);
    c.clearTimeout(h2);
    expect(c.pendingTimers).toBe(0);
  });

  it('stays correct when many timers are cancelled (heap compaction)', () => {
    const c = new ManualClock();
    const fired: number[] = [];
    const handles: TimerHandle[] = [];
    for (let i = 0; i < 500; i++) handles.push(c.setTimeout(() => fired.push(i), 1000 - i));
    for (let i = 0; i < 500; i++) if (i % 5 !== 0) c.clearTimeout(handles[i]!);
    expect(c.pendingTimers).toBe(100);
    c.advance(1000);
    const expected = [];
    for (let i = 495; i >= 0; i -= 5) expected.push(i);
    expect(fired).toEqual(expected);
  });

  it('runAll jumps through every timer and guards against endless rescheduling', () => {
    const c = new ManualClock();
    const seen: number[] = [];
    c.setTimeout(() => seen.push(c.now()), 30);
    c.setTimeout(() => {
      seen.push(c.now());
      c.setTimeout(() => seen.push(c.now()), 100);
    }, 10);
    expect(c.runAll()).toBe(3);
    expect(seen).toEqual([10, 30, 110]);
    const forever = (): void => void c.setTimeout(forever, 1);
    forever();
    expect(() => c.runAll(50)).toThrow(RateError);
  });

  it('rejects going backwards and bad numbers', () => {
    const c = new ManualClock(100);
    expect(() => c.advanceTo(50)).toThrow(RateError);
    expect(() => c.advance(-1)).toThrow(RateError);
    expect(() => c.advance(NaN)).toThrow(/advance/);
    expect(() => new ManualClock(Infinity)).toThrow(RateError);
  });
});

describe('systemClock', () => {
  it('reads close to Date.now() and runs real timers', async () => {
    expect(Math.abs(systemClock.now() - Date.now())).toBeLessThan(1000);
    const t0 = systemClock.now();
    await new Promise<void>((resolve) => systemClock.setTimeout(resolve, 5));
    expect(systemClock.now() - t0).toBeGreaterThanOrEqual(4);
    let fired = false;
    const h = systemClock.setTimeout(() => (fired = true), 1);
    systemClock.clearTimeout(h);
    await new Promise((r) => setTimeout(r, 10));
    expect(fired).toBe(false);
  });
});
