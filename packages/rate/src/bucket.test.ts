import { ManualClock, MIN_DEFAULT_BURST, RateError, TokenBucket } from './index.js';

/** A connection that keeps asking for `slice` bytes, asking again as soon as it is served. */
function pump(bucket: TokenBucket, slice: number): { got: number; stop(): void } {
  const state = { got: 0, stopped: false, ticket: null as null | { cancel(): boolean } };
  const again = (): void => {
    if (state.stopped) return;
    state.ticket = bucket.take(slice, onGrant);
  };
  const onGrant = (): void => {
    state.got += slice;
    // Ask again on the next turn, like a socket write completing.
    queueMicrotask(again);
  };
  again();
  return {
    get got() {
      return state.got;
    },
    stop() {
      state.stopped = true;
      state.ticket?.cancel();
    },
  };
}

/** Advance in small steps, letting microtasks run in between. */
async function run(clock: ManualClock, ms: number, step = 10): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(step);
    await Promise.resolve();
    await Promise.resolve();
  }
}

describe('TokenBucket', () => {
  it('rate 0 is unlimited: every take is granted synchronously', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ clock });
    let n = 0;
    for (let i = 0; i < 100; i++) b.take(1 << 20, () => n++);
    expect(n).toBe(100);
    expect(b.tryTake(1e12)).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it('grants within the burst at once, then waits for tokens', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ clock, rate: 1000, burst: 1000 });
    let first = false;
    b.take(1000, () => (first = true));
    expect(first).toBe(true); // synchronous
    let second = false;
    const t = b.take(500, () => (second = true));
    expect(t.pending).toBe(true);
    expect(b.waiting).toBe(1);
    clock.advance(499);
    expect(second).toBe(false);
    clock.advance(1);
    expect(second).toBe(true);
    expect(t.pending).toBe(false);
    expect(clock.pendingTimers).toBe(0);
    expect(b.totalGranted).toBe(1500);
  });

  it('serves strictly first come, first served', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ clock, rate: 1000, burst: 1000 });
    b.tryTake(1000);
    const order: string[] = [];
    b.take(800, () => order.push('big'));
    b.take(10, () => order.push('small'));
    expect(b.tryTake(1)).toBe(false); // no overtaking the queue
    clock.advance(10);
    expect(order).toEqual([]);
    clock.advance(790);
    expect(order).toEqual(['big']);
    clock.advance(10);
    expect(order).toEqual(['big', 'small']);
  });

  it('requests larger than the burst go through by borrowing, keeping the long-run rate', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ clock, rate: 1000, burst: 1000 });
    let big = false;
    b.take(5000, () => (big = true)); // full bucket ≥ min(5000, burst): granted, 4000 in debt
    expect(big).toBe(true);
    expect(b.available()).toBe(-4000);
    let next = false;
    b.take(100, () => (next = true));
    clock.advance(4099);
    expect(next).toBe(false);
    clock.advance(1);
    expect(next).toBe(true);
  });

  it('several connections get equal shares and the total follows the rate', async () => {
    const clock = new ManualClock();
    const rate = 100_000;
    const b = new TokenBucket({ clock, rate, burst: 16_384 });
    const conns = [0, 1, 2, 3, 4].map(() => pump(b, 16_384));
    await run(clock, 60_000);
    const got = conns.map((c) => c.got);
    const total = got.reduce((a, x) => a + x, 0);
    // 60 s at 100 kB/s plus the initial burst, within one slice.
    expect(Math.abs(total - (rate * 60 + 16_384))).toBeLessThanOrEqual(16_384);
    for (const g of got) expect(Math.abs(g - total / 5)).toBeLessThanOrEqual(16_384);
    expect(b.totalGranted).toBe(total);
    conns.forEach((c) => c.stop());
  });

  it('is fair to a connection that joins late', async () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ clock, rate: 50_000, burst: 16_384 });
    const early = pump(b, 4096);
    await run(clock, 10_000);
    const lateStart = early.got;
    const late = pump(b, 4096);
    await run(clock, 20_000);
    const earlyShare = early.got - lateStart;
    expect(Math.abs(earlyShare - late.got)).toBeLessThanOrEqual(4096);
    expect(late.got).toBeGreaterThan(20 * 50_000 * 0.45);
    early.stop();
    late.stop();
  });

  it('setRate changes the pace at once; setRate(0) releases every waiter', async () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ clock, rate: 10_000, burst: 1000 });
    const c = pump(b, 1000);
    await run(clock, 10_000);
    const at10 = c.got;
    expect(Math.abs(at10 - 101_000)).toBeLessThanOrEqual(1000);
    b.setRate(40_000); // burst stays 1000 (explicit)
    expect(b.burst).toBe(1000);
    await run(clock, 10_000);
    expect(Math.abs(c.got - at10 - 400_000)).toBeLessThanOrEqual(2000);
    c.stop();

    let released = 0;
    b.setRate(1);
    for (let i = 0; i < 5; i++) b.take(10_000, () => released++);
    expect(released).toBe(0);
    b.setRate(0);
    expect(released).toBe(0); // never from inside setRate
    clock.advance(0);
    expect(released).toBe(5);
    expect(b.waiting).toBe(0);
  });

  it('the default burst follows the rate', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ clock, rate: 1000 });
    expect(b.burst).toBe(MIN_DEFAULT_BURST);
    b.setRate(1_000_000);
    expect(b.burst).toBe(250_000);
    b.setBurst(5000);
    b.setRate(2_000_000);
    expect(b.burst).toBe(5000);
    b.setBurst(undefined);
    expect(b.burst).toBe(500_000);
  });

  it('a cancelled waiter never runs and the next one moves up', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ clock, rate: 1000, burst: 1000 });
    b.tryTake(1000);
    const log: string[] = [];
    const a = b.take(900, () => log.push('a'));
    b.take(100, () => log.push('b'));
    expect(b.waitingBytes).toBe(1000);
    clock.advance(50);
    expect(a.cancel()).toBe(true);
    expect(a.cancel()).toBe(false);
    expect(b.waitingBytes).toBe(100);
    clock.advance(49);
    expect(log).toEqual([]);
    clock.advance(1); // 100 tokens after 100 ms, not 1000 ms
    expect(log).toEqual(['b']);
    expect(clock.pendingTimers).toBe(0);
  });

  it('request() resolves in order and rejects with CANCELLED on abort or cancelAll', async () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ clock, rate: 1000, burst: 100 });
    await b.request(100); // immediate
    const order: number[] = [];
    const p1 = b.request(100).then(() => order.push(1));
    const ac = new AbortController();
    const p2 = b.request(100, ac.signal);
    const p3 = b.request(100).then(() => order.push(3));
    ac.abort();
    await expect(p2).rejects.toMatchObject({ code: 'CANCELLED' });
    clock.advance(100);
    await p1;
    clock.advance(100);
    await p3;
    expect(order).toEqual([1, 3]);

    const p4 = b.request(1000);
    const p5 = b.request(1000);
    b.cancelAll();
    await expect(p4).rejects.toBeInstanceOf(RateError);
    await expect(p5).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(clock.pendingTimers).toBe(0);
    const aborted = new AbortController();
    aborted.abort();
    await expect(b.request(1, aborted.signal)).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('keeps at most one timer on the clock however many wait', () => {
    const clock = new ManualClock();
    const b = new TokenBucket({ clock, rate: 1000, burst: 10 });
    b.tryTake(10);
    let n = 0;
    for (let i = 0; i < 1000; i++) b.take(10, () => n++);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(5000);
    expect(n).toBe(500);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(5000);
    expect(n).toBe(1000);
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects bad arguments with a typed error', () => {
    const clock = new ManualClock();
    expect(() => new TokenBucket({ clock, rate: -1 })).toThrow(RateError);
    expect(() => new TokenBucket({ clock, rate: 1, burst: 0 })).toThrow(RateError);
    const b = new TokenBucket({ clock, rate: 10 });
    expect(() => b.take(NaN, () => undefined)).toThrow(/bytes/);
    expect(() => b.setRate(Infinity)).toThrow(RateError);
    expect(() => b.tryTake(-1)).toThrow(RateError);
  });
});

describe("setLimit('none'): no traffic until raised", () => {
  test('grants nothing while closed, keeps the requests in order, and resumes at the new rate', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ clock, rate: 100_000 });
    const a = pump(bucket, 1000);
    await run(clock, 1000);
    const before = a.got;
    expect(before).toBeGreaterThan(50_000);
    bucket.setLimit('none');
    expect(bucket.closed).toBe(true);
    expect(bucket.unlimited).toBe(false);
    expect(bucket.limit).toBe('none');
    expect(bucket.tryTake(1)).toBe(false);
    const order: string[] = [];
    bucket.take(10, () => order.push('first'));
    bucket.take(10, () => order.push('second'));
    await run(clock, 60_000, 100);
    // At most the grant already in flight when it closed.
    expect(a.got).toBeLessThanOrEqual(before + 1000);
    expect(order).toEqual([]);
    expect(bucket.waiting).toBe(3);
    // Raised: served in order, at the new rate, with no burst saved up while closed.
    bucket.setLimit(10_000);
    expect(bucket.closed).toBe(false);
    const reopened = a.got;
    await run(clock, 10_000, 100);
    expect(order).toEqual(['first', 'second']);
    expect(a.got - reopened).toBeGreaterThan(90_000);
    expect(a.got - reopened).toBeLessThanOrEqual(101_000);
    a.stop();
  });

  test('an unlimited bucket (rate 0) closes too, and setLimit(0) opens it unlimited', () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ clock });
    expect(bucket.unlimited).toBe(true);
    bucket.setLimit('none');
    let granted = false;
    bucket.take(1_000_000, () => (granted = true));
    expect(granted).toBe(false);
    bucket.setLimit(0);
    expect(bucket.unlimited).toBe(true);
    clock.advance(0); // the waiting request is served on the bucket's timer, never inside setLimit
    expect(granted).toBe(true);
    expect(bucket.tryTake(5)).toBe(true);
  });
});

describe('lanes: weighted shares of one bucket', () => {
  /** `n` connections asking through `limiter` one slice at a time. */
  function pumps(limiter: Pick<TokenBucket, 'take'>, n: number, slice: number): { got(): number; stop(): void } {
    const all = Array.from({ length: n }, () => pump(limiter as TokenBucket, slice));
    return { got: () => all.reduce((s, p) => s + p.got, 0), stop: () => all.forEach((p) => p.stop()) };
  }

  test('under the limit, lanes get the rate in proportion to their weights, whatever their connection counts', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ clock, rate: 100_000 });
    const high = pumps(bucket.lane(4), 2, 1000);
    const low = pumps(bucket.lane(1), 6, 1000);
    await run(clock, 20_000, 10);
    const total = high.got() + low.got();
    expect(total).toBeGreaterThan(1_900_000);
    expect(total).toBeLessThanOrEqual(2_000_000 + 25_000 + 8000); // the rate, the first burst, one slice each
    expect(high.got() / low.got()).toBeGreaterThan(3.5);
    expect(high.got() / low.got()).toBeLessThan(4.5);
    high.stop();
    // Alone, a lane gets the whole rate; a weight change counts from then on.
    const before = low.got();
    await run(clock, 5000, 10);
    expect(low.got() - before).toBeGreaterThan(450_000);
    low.stop();
  });

  test('setWeight changes the share; the default lane (take) has weight 1', async () => {
    const clock = new ManualClock();
    const bucket = new TokenBucket({ clock, rate: 50_000 });
    const lane = bucket.lane(1);
    const a = pumps(lane, 1, 500);
    const b = pumps(bucket, 1, 500);
    await run(clock, 10_000, 10);
    expect(a.got() / b.got()).toBeGreaterThan(0.9);
    expect(a.got() / b.got()).toBeLessThan(1.1);
    lane.setWeight(3);
    const [a0, b0] = [a.got(), b.got()];
    await run(clock, 10_000, 10);
    expect((a.got() - a0) / (b.got() - b0)).toBeGreaterThan(2.6);
    expect((a.got() - a0) / (b.got() - b0)).toBeLessThan(3.4);
    expect(lane.weight).toBe(3);
    expect(() => lane.setWeight(0)).toThrow(RateError);
    a.stop();
    b.stop();
  });
});
