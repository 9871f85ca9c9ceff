// Issue 13 §3: upload slots held by peers that never download. Peers here report what we upload
// to them (bytesUploaded), which turns on the idle-slot rule and the seed's round-robin.
import { ManualClock } from '@mainline/rate';
import { Choker, ChokerError, type ChokerOptions } from './index.js';
import { atEnd, FakePeer, names, unchoked } from './fake-peer.test-util.js';

const NOW = 1_000_000;

/** A FakePeer that reports the bytes we sent it; `download()` makes it use its slot. */
class Downloader extends FakePeer {
  sent = 0;
  bytesUploaded(): number {
    return this.sent;
  }
  download(bytes = 16384): void {
    if (this.choked) throw new Error(`${this.name} downloads while choked`);
    this.sent += bytes;
  }
}

function setup(n: number, opts: Partial<ChokerOptions> = {}, seeding = false) {
  const clock = new ManualClock(NOW);
  const choker = new Choker<Downloader>({ clock, random: atEnd, isSeeding: () => seeding, ...opts });
  const peers = Array.from({ length: n }, (_, i) => new Downloader(`p${i}`, true, (i + 1) * 100, 0, NOW));
  for (const p of peers) choker.peerConnected(p);
  choker.start();
  return { clock, choker, peers, by: (name: string) => peers.find((p) => p.name === name)! };
}

describe('leeching: idle slots are taken back, tit-for-tat stays', () => {
  it('the optimistic unchoke that downloads nothing for 10 s goes to the next peer; preferred peers keep theirs', () => {
    const { clock, choker, peers, by } = setup(10);
    for (const p of peers) p.sending = clock; // all send to us: the six fastest are preferred
    expect(names(choker.preferred as Downloader[])).toEqual(['p9', 'p8', 'p7', 'p6', 'p5', 'p4']);
    expect(names(choker.optimistic as Downloader[])).toEqual(['p0']);
    // The preferred ones download nothing either: they keep their slots (they earn them).
    clock.advance(9_999);
    expect(unchoked(peers)).toEqual(['p0', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
    clock.advance(1); // 10 s after p0's unchoke, nothing uploaded to it
    expect(unchoked(peers)).toEqual(['p1', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
    expect(choker.isIdle(by('p0'))).toBe(true);
    expect(names(choker.peers).at(-1)).toBe('p0'); // to the back of the queue
    // p1 downloads: it keeps the slot past 10 s, and the 10 s rechoke leaves it be (until the
    // optimistic rotation at 30 s, mainline's).
    for (let t = 0; t < 3; t++) {
      by('p1').download();
      clock.advance(5_000);
    }
    expect(unchoked(peers)).toEqual(['p1', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
    expect(choker.isIdle(by('p1'))).toBe(false);
    expect(choker.isIdle(by('p9'))).toBe(false);
  });

  it('idleUnchokeMs 0 turns the rule off; peers without bytesUploaded never count as idle', () => {
    const { clock, peers } = setup(10, { idleUnchokeMs: 0 });
    for (const p of peers) p.sending = clock;
    clock.advance(25_000); // two rechokes, no rotation yet
    expect(unchoked(peers)).toEqual(['p0', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
    expect(clock.pendingTimers).toBe(1); // the rechoke timer only
    expect(() => new Choker({ clock, idleUnchokeMs: -1 })).toThrow(ChokerError);
    expect(() => new Choker({ clock, seedChoking: 'fastest' as never })).toThrow(/seedChoking/);
  });
});

describe('seeding round-robin', () => {
  it('45 idle peers came first: a newcomer is unchoked at once (a trial), and keeps its slot by downloading', () => {
    const { clock, choker, peers } = setup(45, {}, true);
    // Everyone interested got a trial slot at once; after 10 s with nothing uploaded all are idle.
    expect(unchoked(peers)).toHaveLength(45);
    clock.advance(10_000);
    expect(peers.every((p) => choker.isIdle(p))).toBe(true);
    expect(unchoked(peers)).toHaveLength(7); // maxUploads; the idle ones only fill free slots
    const honest = new Downloader('honest', false);
    choker.peerConnected(honest);
    expect(honest.choked).toBe(false); // uninterested peers use no slot
    honest.interested = true;
    choker.interestChanged(honest);
    expect(honest.choked).toBe(false);
    expect(choker.optimistic).toEqual([honest]); // its trial
    for (let t = 0; t < 10; t++) {
      honest.download();
      clock.advance(3_000);
    }
    expect(honest.choked).toBe(false);
    expect(choker.preferred).toContain(honest);
    expect(choker.isIdle(honest)).toBe(false);
  });

  it('an idle slot holder loses its slot to a waiting peer; with nobody waiting it keeps it', () => {
    const { clock, choker, peers, by } = setup(10, { maxUploads: 3 }, true);
    // All ten had trials; p0..p3 download, the rest do not.
    const active = ['p0', 'p1', 'p2', 'p3'].map(by);
    const tick = (ms: number): void => {
      for (const p of active) if (!p.choked) p.download();
      clock.advance(ms);
    };
    tick(5_000);
    tick(5_000);
    // 10 s: the six idle ones are choked; four download for three slots: p3 (last at equal rates) waits.
    expect(unchoked(peers)).toEqual(['p0', 'p1', 'p2']);
    expect(peers.filter((p) => choker.isIdle(p)).map((p) => p.name)).toEqual(['p4', 'p5', 'p6', 'p7', 'p8', 'p9']);
    // p1 stops downloading (still interested): 10 s later its slot goes to p3, who was waiting.
    active.splice(1, 1);
    tick(5_000);
    tick(5_000);
    expect(unchoked(peers)).toEqual(['p0', 'p2', 'p3']);
    expect(choker.isIdle(by('p1'))).toBe(true);
    // p3 stops too: nobody but idle peers waits, so the one that waited longest gets p3's slot.
    active.splice(2, 1);
    tick(5_000);
    tick(5_000);
    expect(unchoked(peers)).toHaveLength(3);
    expect(by('p3').choked).toBe(true);
    expect(by('p0').choked || by('p2').choked).toBe(false);
  });

  it('a downloading peer has its turn (60 s and 4 MiB), then a waiting peer gets the slot', () => {
    const { clock, choker, peers, by } = setup(3, { maxUploads: 2 }, true);
    // p0, p1 download; p2 also had a trial and downloads, but only two slots: p2 (slowest) waits.
    const rates: Record<string, number> = { p0: 300, p1: 200, p2: 100 };
    for (const p of peers) p.up = rates[p.name]!;
    for (const p of peers) p.download();
    clock.advance(10_000);
    expect(unchoked(peers)).toEqual(['p0', 'p1']);
    expect(names(choker.preferred as Downloader[])).toEqual(['p0', 'p1']);
    // 1 MiB each 10 s: at t = 60 s p0 and p1 have had 60 s and over 4 MiB, a turn.
    for (let t = 0; t < 4; t++) {
      by('p0').download(1024 * 1024);
      by('p1').download(1024 * 1024);
      clock.advance(10_000);
      expect(unchoked(peers)).toEqual(['p0', 'p1']);
    }
    by('p0').download(1024 * 1024);
    by('p1').download(1024 * 1024);
    clock.advance(10_000);
    // p2 waited: it gets the slot of the slower one that had its turn; the faster keeps its own.
    expect(unchoked(peers)).toEqual(['p0', 'p2']);
    expect(choker.isIdle(by('p1'))).toBe(false);
  });

  it("seedChoking 'upload-rate' keeps mainline's seed choker", () => {
    const { clock, peers } = setup(10, { seedChoking: 'upload-rate', idleUnchokeMs: 0 }, true);
    peers.forEach((p, i) => (p.up = (10 - i) * 100));
    clock.advance(10_000);
    expect(unchoked(peers)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
  });
});

describe('maxUploads 0: no upload slots at all', () => {
  it.each([
    ['leeching', false],
    ['seeding round-robin', true],
  ] as const)('%s: every peer stays choked, no optimistic or trial slot; a slot again resumes uploads', (_name, seeding) => {
    const { clock, choker, peers } = setup(4, { maxUploads: 0, minUploads: 4 }, seeding);
    for (const p of peers) p.sending = clock;
    expect(unchoked(peers)).toEqual([]);
    clock.advance(60_000);
    expect(unchoked(peers)).toEqual([]);
    expect(choker.preferred).toEqual([]);
    expect(choker.optimistic).toEqual([]);
    choker.setMaxUploads(2);
    expect(unchoked(peers).length).toBeGreaterThan(0);
    choker.setMaxUploads(0);
    expect(unchoked(peers)).toEqual([]);
    choker.stop();
  });
});
