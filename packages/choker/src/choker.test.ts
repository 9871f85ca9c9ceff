import { ManualClock } from '@mainline/rate';
import { Choker, ChokerError, type ChokerOptions } from './index.js';
import { atEnd, FakePeer, names, unchoked } from './fake-peer.test-util.js';

const NOW = 1_000_000;

function setup(
  specs: [name: string, down: number][],
  opts: Partial<ChokerOptions> = {},
): { clock: ManualClock; choker: Choker<FakePeer>; peers: FakePeer[]; by: (n: string) => FakePeer } {
  const clock = new ManualClock(NOW);
  const choker = new Choker<FakePeer>({ clock, random: atEnd, ...opts });
  const peers = specs.map(([name, down]) => new FakePeer(name, true, down, 0, NOW));
  for (const p of peers) choker.peerConnected(p);
  const by = (n: string): FakePeer => peers.find((p) => p.name === n)!;
  return { clock, choker, peers, by };
}

// ten interested peers, p0 slowest … p9 fastest
const TEN: [string, number][] = Array.from({ length: 10 }, (_, i) => [`p${i}`, (i + 1) * 100]);

describe('Choker rechoke', () => {
  it('leeching: unchokes the 6 fastest uploaders to us plus the first other interested peer', () => {
    const { choker, peers } = setup(TEN);
    expect(names(choker.peers)).toEqual(names(peers)); // atEnd keeps connection order
    expect(unchoked(peers)).toEqual(['p0', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
    expect(names(choker.preferred as FakePeer[])).toEqual(['p9', 'p8', 'p7', 'p6', 'p5', 'p4']);
    expect(names(choker.optimistic as FakePeer[])).toEqual(['p0']);
  });

  it('seeding: ranks by our upload rate to them, and nobody counts as snubbed', () => {
    let seeding = false;
    const { choker, peers } = setup(TEN, { isSeeding: () => seeding });
    // upload rates run the other way round; nobody has sent a block for ages
    peers.forEach((p, i) => {
      p.up = (10 - i) * 100;
      p.lastBlock = null;
    });
    choker.rechoke();
    // leeching: everyone snubbed → no preferred; the walk unchokes up to minUploads (4)
    expect(unchoked(peers)).toEqual(['p0', 'p1', 'p2', 'p3']);
    seeding = true;
    choker.rechoke();
    expect(names(choker.preferred as FakePeer[])).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5']);
    expect(unchoked(peers)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
  });

  it('snubbed peers (no block for more than snubTime) are not preferred', () => {
    const { clock, choker, by, peers } = setup(TEN);
    by('p9').lastBlock = NOW - 60_001; // just over 60 s
    by('p8').lastBlock = NOW - 60_000; // exactly 60 s: not yet
    by('p7').lastBlock = null; // never sent a block: snubbed
    choker.rechoke();
    expect(names(choker.preferred as FakePeer[])).toEqual(['p8', 'p6', 'p5', 'p4', 'p3', 'p2']);
    expect(unchoked(peers)).toEqual(['p0', 'p2', 'p3', 'p4', 'p5', 'p6', 'p8']);
    clock.advance(1);
    choker.rechoke(); // p8 now over the limit too
    expect(names(choker.preferred as FakePeer[])).toEqual(['p6', 'p5', 'p4', 'p3', 'p2', 'p1']);
  });

  it('snubTimeMs is an option (mainline used 30 s)', () => {
    const { choker, by } = setup(TEN, { snubTimeMs: 30_000 });
    by('p9').lastBlock = NOW - 30_001;
    choker.rechoke();
    expect(choker.preferred).not.toContain(by('p9'));
  });

  it('unchokes uninterested peers met before the optimistic unchoke, without counting them', () => {
    const { choker, by, peers } = setup(TEN);
    by('p0').interested = false;
    by('p1').interested = false;
    choker.rechoke();
    // walk: p0, p1 uninterested → unchoked on the way; p2 interested → optimistic; rest choked
    expect(unchoked(peers)).toEqual(['p0', 'p1', 'p2', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
    expect(names(choker.optimistic as FakePeer[])).toEqual(['p2']);
  });

  it('keeps unchoking until minUploads interested peers are unchoked', () => {
    const { choker, by, peers } = setup(TEN);
    for (const n of ['p9', 'p8', 'p7', 'p6', 'p5']) by(n).lastBlock = null; // only p0..p4 can be preferred
    by('p1').interested = false;
    choker.setMaxUploads(3); // preferred = 2 (p4, p3)
    // walk: p0 (interested, count 3, hit), p1 uninterested → unchoked, p2 (count 4), stop
    expect(names(choker.preferred as FakePeer[])).toEqual(['p4', 'p3']);
    expect(unchoked(peers)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
    expect(names(choker.optimistic as FakePeer[])).toEqual(['p0', 'p2']);
  });

  it('ties in rate keep list order', () => {
    const { choker, peers } = setup(TEN.map(([n]) => [n, 500] as [string, number]));
    expect(names(choker.preferred as FakePeer[])).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5']);
    expect(unchoked(peers)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
  });

  it('only sends choke/unchoke when the state actually changes', () => {
    const { choker, peers } = setup(TEN);
    const before = peers.map((p) => p.chokes + p.unchokes);
    choker.rechoke();
    choker.rechoke();
    expect(peers.map((p) => p.chokes + p.unchokes)).toEqual(before);
  });
});

describe('Choker timer and optimistic rotation', () => {
  it('holds no timer while nobody is connected: arms with the first peer, clears after the last', () => {
    const { clock, choker, peers } = setup([]);
    choker.start();
    expect(choker.running).toBe(true);
    expect(clock.pendingTimers).toBe(0); // an idle torrent's choker costs nothing
    const p = new FakePeer('p0', true, 100, 0, NOW);
    choker.peerConnected(p);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(10_000);
    expect(choker.timerRuns).toBe(1);
    choker.peerDisconnected(p);
    expect(clock.pendingTimers).toBe(0);
    clock.advance(100_000);
    expect(choker.timerRuns).toBe(1);
    expect(choker.running).toBe(true);
    choker.peerConnected(new FakePeer('p1', true, 100, 0, clock.now()));
    expect(clock.pendingTimers).toBe(1);
    clock.advance(10_000);
    expect(choker.timerRuns).toBe(2);
    expect(peers).toHaveLength(0);
  });

  it('rechokes every 10 s and rotates the optimistic unchoke on every 3rd run', () => {
    const { clock, choker, by, peers } = setup(TEN);
    for (const p of peers) p.sending = clock;
    choker.start();
    choker.start(); // idempotent
    expect(clock.pendingTimers).toBe(1);
    expect(names(choker.optimistic as FakePeer[])).toEqual(['p0']);

    clock.advance(10_000); // run 1
    by('p4').down = 50; // p4 drops out of the top 6: p3 (400) replaces it; picked up at run 2
    expect(choker.timerRuns).toBe(1);
    expect(unchoked(peers)).toEqual(['p0', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
    clock.advance(10_000); // run 2: rates re-read, no rotation
    expect(unchoked(peers)).toEqual(['p0', 'p3', 'p5', 'p6', 'p7', 'p8', 'p9']);
    expect(names(choker.peers)).toEqual(names(peers));

    clock.advance(10_000); // run 3: rotate to the first choked interested peer: p1
    expect(names(choker.peers)).toEqual(['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9', 'p0']);
    expect(names(choker.optimistic as FakePeer[])).toEqual(['p1']);
    expect(unchoked(peers)).toEqual(['p1', 'p3', 'p5', 'p6', 'p7', 'p8', 'p9']);

    clock.advance(20_000); // runs 4, 5: same
    expect(names(choker.optimistic as FakePeer[])).toEqual(['p1']);
    clock.advance(10_000); // run 6: p1 is unchoked (skipped), p2 is the first choked interested
    expect(names(choker.optimistic as FakePeer[])).toEqual(['p2']);
    clock.advance(30_000); // run 9: next choked interested after p2 is p4 (p3 preferred)
    expect(names(choker.peers)[0]).toBe('p4');
    expect(names(choker.optimistic as FakePeer[])).toEqual(['p4']);
    clock.advance(30_000); // run 12: wraps round to p0
    expect(names(choker.optimistic as FakePeer[])).toEqual(['p0']);
    expect(choker.timerRuns).toBe(12);

    choker.stop();
    expect(choker.running).toBe(false);
    expect(clock.pendingTimers).toBe(0);
    clock.advance(100_000);
    expect(choker.timerRuns).toBe(12);
  });
});

describe('Choker events', () => {
  it('places new peers at a random index in [−2, len] clamped to 0, and rechokes', () => {
    const clock = new ManualClock(NOW);
    let r = 0;
    const choker = new Choker<FakePeer>({ clock, random: () => r });
    const add = (name: string, rand: number): void => {
      r = rand;
      choker.peerConnected(new FakePeer(name, true, 100, 0, NOW));
    };
    add('a', 0.5); // len 0: 3 slots, all index 0
    add('b', 0.9); // len 1: floor(0.9·4) − 2 = 1 → end
    add('c', 0.99); // len 2: floor(0.99·5) − 2 = 2 → end
    add('d', 0.4); // len 3: floor(0.4·6) − 2 = 0 → front
    add('e', 0.74); // len 4: floor(0.74·7) − 2 = 3
    add('f', 0.1); // len 5: −2 → 0
    expect(names(choker.peers as FakePeer[])).toEqual(['f', 'd', 'a', 'b', 'e', 'c']);
    expect(unchoked(choker.peers as FakePeer[])).toEqual(['a', 'b', 'c', 'd', 'e', 'f']); // all preferred
  });

  it('the front slot is exactly 3× as likely as any other', () => {
    const N = 8 * 1000;
    const counts = new Array<number>(6).fill(0);
    for (let k = 0; k < N; k++) {
      let value = (k + 0.5) / N; // evenly spread draws
      const clock = new ManualClock();
      const choker = new Choker<FakePeer>({ clock, random: () => value });
      const base = ['a', 'b', 'c', 'd', 'e'].map((n) => new FakePeer(n, false));
      const v = value;
      value = 0.999999;
      for (const p of base) choker.peerConnected(p);
      value = v;
      const x = new FakePeer('x', false);
      choker.peerConnected(x);
      counts[choker.peers.indexOf(x)]!++;
    }
    expect(counts).toEqual([3000, 1000, 1000, 1000, 1000, 1000]);
  });

  it('a peer given an explicit position goes there', () => {
    const { choker } = setup(TEN);
    const x = new FakePeer('x', true, 0, 0, NOW);
    choker.peerConnected(x, 3);
    expect(choker.peers.indexOf(x)).toBe(3);
    const y = new FakePeer('y', true, 0, 0, NOW);
    choker.peerConnected(y, 999);
    expect(choker.peers.indexOf(y)).toBe(11);
  });

  it('disconnect of an interested unchoked peer rechokes at once; of a choked one does not', () => {
    const { choker, by, peers } = setup(TEN);
    by('p3').down = 2000; // would be preferred at the next rechoke
    choker.peerDisconnected(by('p1')); // choked: no rechoke
    expect(unchoked(peers)).toEqual(['p0', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
    expect(choker.peerDisconnected(by('p9'))).toBe(true); // preferred: rechoke now
    expect(unchoked(peers.filter((p) => p.name !== 'p9'))).toEqual(['p0', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8']);
    expect(names(choker.peers)).not.toContain('p9');
    expect(choker.peerDisconnected(by('p9'))).toBe(false); // unknown now
  });

  it('interest change rechokes at once only for unchoked peers', () => {
    const { choker, by, peers } = setup(TEN);
    const opt = by('p0'); // the optimistic unchoke
    opt.interested = false;
    choker.interestChanged(opt); // unchoked → rechoke: p0 stays unchoked (uninterested, on the way), p1 optimistic
    expect(names(choker.optimistic as FakePeer[])).toEqual(['p1']);
    expect(unchoked(peers)).toEqual(['p0', 'p1', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);

    const fast = by('p9');
    fast.interested = false;
    choker.interestChanged(fast); // unchoked → rechoke: p3 moves into the preferred six
    expect(names(choker.preferred as FakePeer[])).toEqual(['p8', 'p7', 'p6', 'p5', 'p4', 'p3']);
    // p9 is now uninterested and after the optimistic hit: choked
    expect(fast.choked).toBe(true);

    by('p2').down = 5000;
    by('p2').interested = true;
    choker.interestChanged(by('p2')); // choked peer: waits for the next rechoke (mainline)
    expect(by('p2').choked).toBe(true);
    choker.interestChanged(new FakePeer('stranger')); // unknown peers are ignored
  });

  it('setMaxUploads applies at once', () => {
    const { choker, peers } = setup(TEN);
    choker.setMaxUploads(4);
    // preferred 3, then p0 optimistic (count 4 = minUploads, hit) → 4 unchoked
    expect(unchoked(peers)).toEqual(['p0', 'p7', 'p8', 'p9']);
    choker.setMaxUploads(10);
    expect(unchoked(peers)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
    choker.setMaxUploads(1); // no preferred: p0 optimistic, then up to minUploads
    expect(unchoked(peers)).toEqual(['p0', 'p1', 'p2', 'p3']);
    choker.setMinUploads(0);
    expect(unchoked(peers)).toEqual(['p0']);
    expect(choker.maxUploads).toBe(1);
    expect(choker.minUploads).toBe(0);
  });

  it('survives callbacks that disconnect peers mid-rechoke', () => {
    const { choker, by, peers } = setup(TEN);
    by('p2').down = 10_000; // will be unchoked next
    by('p2').onUnchoke = () => {
      choker.peerDisconnected(by('p9')); // re-entrant rechoke request
    };
    choker.rechoke();
    const left = peers.filter((p) => p.name !== 'p9');
    expect(names(choker.peers)).not.toContain('p9');
    expect(unchoked(left)).toEqual(['p0', 'p2', 'p4', 'p5', 'p6', 'p7', 'p8']);
    expect(names(choker.preferred as FakePeer[])).toEqual(['p2', 'p8', 'p7', 'p6', 'p5', 'p4']);
  });

  it('rejects bad arguments and duplicate peers with ChokerError', () => {
    const clock = new ManualClock();
    expect(() => new Choker({ clock, maxUploads: -1 })).toThrow(ChokerError);
    expect(() => new Choker({ clock, minUploads: -1 })).toThrow(ChokerError);
    expect(() => new Choker({ clock, snubTimeMs: NaN })).toThrow(ChokerError);
    expect(() => new Choker({ clock, rechokeIntervalMs: 0 })).toThrow(/rechokeIntervalMs/);
    const choker = new Choker({ clock });
    const p = new FakePeer('p');
    choker.peerConnected(p);
    expect(() => choker.peerConnected(p)).toThrow(expect.objectContaining({ code: 'DUPLICATE_PEER' }));
    expect(() => choker.setMaxUploads(2.5)).toThrow(ChokerError);
    expect(() => choker.peerConnected(new FakePeer('q'), 1.5)).toThrow(ChokerError);
  });
});
