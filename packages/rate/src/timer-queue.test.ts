import { ManualClock } from './clock.js';
import { TimerQueue } from './timer-queue.js';

describe('TimerQueue', () => {
  it('holds one timer of its clock for any number of its own, and fires each at its due time, in order', () => {
    const clock = new ManualClock(1000);
    const q = new TimerQueue(clock);
    const fired: [string, number][] = [];
    const at = (name: string) => () => fired.push([name, clock.now()]);
    for (let i = 0; i < 1000; i++) q.setTimeout(() => undefined, 60_000 + i);
    q.setTimeout(at('b'), 200);
    q.setTimeout(at('a'), 100);
    q.setTimeout(at('b2'), 200); // same due time: in the order they were set
    expect(q.pending).toBe(1003);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(150);
    expect(fired).toEqual([['a', 1100]]);
    clock.advance(50);
    expect(fired).toEqual([['a', 1100], ['b', 1200], ['b2', 1200]]);
    expect(q.pending).toBe(1000);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(70_000);
    expect(q.pending).toBe(0);
    expect(clock.pendingTimers).toBe(0); // nothing waits: no timer
  });

  it('cancels: a cleared timer never fires, and clearing the earliest re-arms for the next', () => {
    const clock = new ManualClock(0);
    const q = new TimerQueue(clock);
    const fired: number[] = [];
    const first = q.setTimeout(() => fired.push(1), 10);
    q.setTimeout(() => fired.push(2), 20);
    q.clearTimeout(first);
    q.clearTimeout(first); // harmless twice
    expect(clock.nextTimerAt()).toBe(20);
    clock.advance(100);
    expect(fired).toEqual([2]);
    // Many cancelled: compacted, none fires, no timer left.
    const handles = Array.from({ length: 500 }, (_, i) => q.setTimeout(() => fired.push(99), 1000 + i));
    for (const h of handles) q.clearTimeout(h);
    expect(q.pending).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    clock.advance(10_000);
    expect(fired).toEqual([2]);
  });

  it('timers set while firing fire within the same advance when due; close() cancels everything', () => {
    const clock = new ManualClock(0);
    const q = new TimerQueue(clock);
    const fired: number[] = [];
    q.setTimeout(() => {
      fired.push(clock.now());
      q.setTimeout(() => fired.push(clock.now()), 5);
      q.setTimeout(() => fired.push(clock.now()), 0);
    }, 10);
    clock.advance(20);
    expect(fired).toEqual([10, 10, 15]);
    q.setTimeout(() => fired.push(-1), 10);
    q.close();
    expect(clock.pendingTimers).toBe(0);
    clock.advance(100);
    expect(fired).toEqual([10, 10, 15]);
  });
});
