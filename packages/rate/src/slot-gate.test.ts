import { ManualClock, RateError, SlotGate, type ReleaseSlot } from './index.js';

const flush = () => new Promise<void>((r) => setImmediate(r));

describe('SlotGate', () => {
  it('lets `limit` holders in, the others in the order they asked; a release counts once', async () => {
    const gate = new SlotGate({ limit: 2 });
    const granted: string[] = [];
    const releases = new Map<string, ReleaseSlot>();
    for (const name of ['a', 'b', 'c', 'd']) {
      void gate.acquire().then((release) => {
        granted.push(name);
        releases.set(name, release);
      });
    }
    await flush();
    expect(granted).toEqual(['a', 'b']);
    expect([gate.holding, gate.waiting]).toEqual([2, 2]);
    releases.get('b')!();
    releases.get('b')!(); // again: nothing more
    await flush();
    expect(granted).toEqual(['a', 'b', 'c']);
    expect([gate.holding, gate.waiting]).toEqual([2, 1]);
    releases.get('a')!();
    await flush();
    expect(granted).toEqual(['a', 'b', 'c', 'd']);
  });

  it('keeps a slot as long as it is held unless maxHoldMs says otherwise', async () => {
    const clock = new ManualClock();
    const held = new SlotGate({ limit: 1, clock });
    const capped = new SlotGate({ limit: 1, clock, maxHoldMs: 1_000 });
    await held.acquire();
    await capped.acquire();
    let heldNext = false;
    let cappedNext = false;
    void held.acquire().then(() => (heldNext = true));
    void capped.acquire().then(() => (cappedNext = true));
    clock.advance(60_000);
    await flush();
    expect(cappedNext).toBe(true);
    expect(heldNext).toBe(false);
    expect(held.waiting).toBe(1);
  });

  it('an aborted waiter leaves the queue with the gate\'s error; urgent goes over the limit', async () => {
    const gate = new SlotGate({ limit: 1 });
    await gate.acquire();
    const ac = new AbortController();
    const waiting = gate.acquire(ac.signal);
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(gate.waiting).toBe(0);
    await gate.acquire(undefined, true);
    expect(gate.holding).toBe(2);
    const own = new SlotGate({ limit: 1, aborted: () => new Error('mine') });
    const aborted = new AbortController();
    aborted.abort();
    await expect(own.acquire(aborted.signal)).rejects.toThrow('mine');
    expect(() => new SlotGate({ limit: 0 })).toThrow(RateError);
    expect(() => new SlotGate({ limit: 1, maxHoldMs: 0 })).toThrow(RateError);
  });
});
