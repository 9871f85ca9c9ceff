import { ManualClock } from '@mainline/rate';
import { TrackerError } from './errors.js';
import { RequestGate, type ReleaseSlot } from './gate.js';

const flush = () => new Promise<void>((r) => setImmediate(r));

/** Asks the gate for a slot and records when it is granted (or refused). */
function ask(gate: RequestGate, log: string[], name: string, signal?: AbortSignal, urgent = false): { release: () => ReleaseSlot; error: () => unknown } {
  let release: ReleaseSlot | undefined;
  let error: unknown;
  gate.acquire(signal, urgent).then(
    (r) => {
      release = r;
      log.push(name);
    },
    (e: unknown) => {
      error = e;
      log.push(`${name}:refused`);
    },
  );
  return {
    release: () => {
      if (!release) throw new Error(`${name} holds no slot`);
      return release;
    },
    error: () => error,
  };
}

describe('RequestGate', () => {
  it('lets `limit` requests in at once; the others wait and get slots first come first served', async () => {
    const clock = new ManualClock();
    const gate = new RequestGate({ limit: 2, clock });
    const log: string[] = [];
    const reqs = ['a', 'b', 'c', 'd', 'e'].map((n) => ask(gate, log, n));
    await flush();
    expect(log).toEqual(['a', 'b']);
    expect([gate.holding, gate.waiting]).toEqual([2, 3]);
    reqs[1]!.release()();
    await flush();
    expect(log).toEqual(['a', 'b', 'c']);
    // A release twice gives back one slot only.
    reqs[1]!.release()();
    await flush();
    expect(log).toEqual(['a', 'b', 'c']);
    expect([gate.holding, gate.waiting]).toEqual([2, 2]);
    // A newcomer does not pass the ones waiting.
    ask(gate, log, 'f');
    reqs[0]!.release()();
    reqs[2]!.release()();
    await flush();
    expect(log).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect([gate.holding, gate.waiting]).toEqual([2, 1]);
  });

  it('a request whose signal aborts while it waits leaves the queue, refused with ABORTED; an aborted signal is refused at once', async () => {
    const gate = new RequestGate({ limit: 1, clock: new ManualClock() });
    const log: string[] = [];
    const a = ask(gate, log, 'a');
    const ac = new AbortController();
    const b = ask(gate, log, 'b', ac.signal);
    ask(gate, log, 'c');
    await flush();
    expect(gate.waiting).toBe(2);
    ac.abort();
    await flush();
    expect(gate.waiting).toBe(1);
    expect(b.error()).toBeInstanceOf(TrackerError);
    expect((b.error() as TrackerError).code).toBe('ABORTED');
    a.release()();
    await flush();
    expect(log).toEqual(['a', 'b:refused', 'c']);
    await expect(gate.acquire(AbortSignal.abort())).rejects.toMatchObject({ code: 'ABORTED' });
    expect(gate.waiting).toBe(0);
  });

  it('an urgent request (a stopped announce) takes a slot at once, over the limit; the queue moves again once below it', async () => {
    const gate = new RequestGate({ limit: 1, clock: new ManualClock() });
    const log: string[] = [];
    const a = ask(gate, log, 'a');
    ask(gate, log, 'b');
    const stop = ask(gate, log, 'stopped', undefined, true);
    await flush();
    expect(log).toEqual(['a', 'stopped']);
    expect([gate.holding, gate.waiting]).toEqual([2, 1]);
    a.release()();
    await flush();
    expect(log).toEqual(['a', 'stopped']); // still one in flight: at the limit
    stop.release()();
    await flush();
    expect(log).toEqual(['a', 'stopped', 'b']);
  });

  it('a request that holds its slot past maxHoldMs goes on without it: one dead tracker cannot hold the queue up', async () => {
    const clock = new ManualClock();
    const gate = new RequestGate({ limit: 1, maxHoldMs: 5_000, clock });
    const log: string[] = [];
    const slow = ask(gate, log, 'slow');
    ask(gate, log, 'next');
    await flush();
    clock.advance(4_999);
    await flush();
    expect(log).toEqual(['slow']);
    clock.advance(1);
    await flush();
    expect(log).toEqual(['slow', 'next']);
    expect(gate.holding).toBe(1);
    // Its late release changes nothing; a released slot's timer is cancelled.
    slow.release()();
    expect(gate.holding).toBe(1);
    expect(clock.pendingTimers).toBe(1);
  });

  it('run() gives the slot back when the request fails too', async () => {
    const gate = new RequestGate({ limit: 1, clock: new ManualClock() });
    await expect(gate.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(gate.holding).toBe(0);
    await expect(gate.run(() => Promise.resolve(7))).resolves.toBe(7);
    expect(gate.holding).toBe(0);
  });

  it('refuses a limit that is not a positive integer, and a hold time that is not positive', () => {
    for (const limit of [0, -1, 1.5, Number.NaN]) expect(() => new RequestGate({ limit })).toThrow(TrackerError);
    expect(() => new RequestGate({ maxHoldMs: 0 })).toThrow(TrackerError);
    expect(new RequestGate().limit).toBe(20);
  });
});
