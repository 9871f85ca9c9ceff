import { TrackerError } from './errors.js';
import { TrackerTiers } from './tiers.js';

/** A deterministic RNG: cycles through the given values. */
const seq = (...v: number[]) => {
  let i = 0;
  return () => v[i++ % v.length]!;
};

describe('TrackerTiers (BEP 12)', () => {
  it('uses announce when there is no announce-list, and announce-list when there is', () => {
    expect(new TrackerTiers('http://a/announce').tiers).toEqual([['http://a/announce']]);
    expect(new TrackerTiers('http://a', [['http://b'], ['http://c']]).tiers).toEqual([['http://b'], ['http://c']]);
    expect(new TrackerTiers('http://a', [[]]).tiers).toEqual([['http://a']]);
  });

  it('drops duplicates and empty tiers, and needs at least one URL', () => {
    expect(new TrackerTiers(undefined, [['http://a', 'http://a'], [], ['http://a', 'http://b']], () => 0.99).tiers).toEqual([
      ['http://a'],
      ['http://b'],
    ]);
    expect(() => new TrackerTiers(undefined, [])).toThrow(TrackerError);
    expect(() => new TrackerTiers('', [[''], []])).toThrow(/no tracker URL/);
  });

  it('shuffles inside each tier with the injected RNG (Fisher-Yates), never across tiers', () => {
    // random()=0 always swaps position i with 0: [a,b,c] → i=2: [c,b,a] → i=1: [b,c,a]
    expect(new TrackerTiers(undefined, [['a:', 'b:', 'c:'], ['d:', 'e:']], () => 0).tiers).toEqual([
      ['b:', 'c:', 'a:'],
      ['e:', 'd:'],
    ]);
    // random() just below 1 keeps every element in place.
    expect(new TrackerTiers(undefined, [['a:', 'b:', 'c:']], () => 0.999).tiers).toEqual([['a:', 'b:', 'c:']]);
    // Every permutation is reachable.
    const seen = new Set<string>();
    for (const r of [0, 0.34, 0.67, 0.99]) for (const s of [0, 0.5, 0.99]) seen.add(new TrackerTiers(undefined, [['a:', 'b:', 'c:']], seq(r, s)).tiers[0]!.join());
    expect(seen.size).toBe(6);
  });

  it('tries tier by tier, promotes the tracker that answered to the front of its tier', async () => {
    const t = new TrackerTiers(undefined, [['a:', 'b:', 'c:'], ['d:', 'e:']], () => 0.999);
    const tried: string[] = [];
    const r = await t.run(async (url) => {
      tried.push(url);
      if (url !== 'c:') throw new Error(`${url} down`);
      return 42;
    });
    expect(r).toEqual({ url: 'c:', value: 42 });
    expect(tried).toEqual(['a:', 'b:', 'c:']);
    expect(t.tiers).toEqual([['c:', 'a:', 'b:'], ['d:', 'e:']]);

    // The whole first tier down: fall through to the second tier, whose winner is promoted there.
    const tried2: string[] = [];
    const failures: string[] = [];
    const r2 = await t.run(
      async (url) => {
        tried2.push(url);
        if (url !== 'e:') throw new Error('down');
        return 'ok';
      },
      (url) => failures.push(url),
    );
    expect(r2.url).toBe('e:');
    expect(tried2).toEqual(['c:', 'a:', 'b:', 'd:', 'e:']);
    expect(failures).toEqual(['c:', 'a:', 'b:', 'd:']);
    expect(t.tiers).toEqual([['c:', 'a:', 'b:'], ['e:', 'd:']]);
  });

  it('rejects with ALL_TRACKERS_FAILED naming each failure when every tracker fails', async () => {
    const t = new TrackerTiers(undefined, [['a:'], ['b:']]);
    const err = await t
      .run(async (url) => {
        throw new TrackerError('TIMEOUT', 'no reply', url);
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrackerError);
    expect((err as TrackerError).code).toBe('ALL_TRACKERS_FAILED');
    expect((err as TrackerError).message).toMatch(/a:: no reply; b:: no reply/);
    // One tracker: its own error comes through unchanged.
    const single = await new TrackerTiers('a:').run(async () => {
      throw new TrackerError('REJECTED', 'nope', 'a:');
    }).catch((e: unknown) => e);
    expect((single as TrackerError).code).toBe('REJECTED');
  });

  it('stops walking when told to', async () => {
    const t = new TrackerTiers(undefined, [['a:', 'b:']], () => 0.999);
    let go = true;
    const tried: string[] = [];
    await expect(
      t.run(
        async (url) => {
          tried.push(url);
          go = false;
          throw new Error('x');
        },
        undefined,
        () => go,
      ),
    ).rejects.toThrow(TrackerError);
    expect(tried).toEqual(['a:']);
  });
});
