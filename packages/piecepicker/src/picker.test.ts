import { Bitfield } from '@mainline/bitfield';
import { PiecePicker, PiecePickerError, type PiecePickerOptions } from './index.js';
import { bits, seededRandom } from './test-helpers.js';

const KiB = 1024;

/** `n` one-block pieces; rarest-first from the start unless told otherwise. */
function picker(n: number, extra: Partial<PiecePickerOptions> = {}): PiecePicker {
  return new PiecePicker({
    pieceCount: n,
    pieceLength: 16 * KiB,
    totalLength: n * 16 * KiB,
    rarestFirstCutoff: 0,
    random: seededRandom(1),
    ...extra,
  });
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof PiecePickerError) return e.code;
    throw e;
  }
  return undefined;
}

describe('options and geometry', () => {
  it('rejects inconsistent options with BAD_OPTIONS', () => {
    const base = { pieceCount: 4, pieceLength: 100, totalLength: 350 };
    expect(code(() => new PiecePicker(base))).toBeUndefined();
    expect(code(() => new PiecePicker({ ...base, totalLength: 300 }))).toBe('BAD_OPTIONS');
    expect(code(() => new PiecePicker({ ...base, totalLength: 401 }))).toBe('BAD_OPTIONS');
    expect(code(() => new PiecePicker({ ...base, pieceLength: 0 }))).toBe('BAD_OPTIONS');
    expect(code(() => new PiecePicker({ ...base, pieceCount: -1 }))).toBe('BAD_OPTIONS');
    expect(code(() => new PiecePicker({ ...base, blockSize: 0 }))).toBe('BAD_OPTIONS');
    expect(code(() => new PiecePicker({ ...base, rarestFirstCutoff: 1.5 }))).toBe('BAD_OPTIONS');
    expect(code(() => new PiecePicker({ ...base, have: new Bitfield(5) }))).toBe('BAD_BITFIELD');
    expect(code(() => new PiecePicker({ pieceCount: 0, pieceLength: 1, totalLength: 0 }))).toBeUndefined();
  });

  it('splits pieces into 16 KiB blocks with a short last block', () => {
    const p = new PiecePicker({ pieceCount: 3, pieceLength: 64 * KiB, totalLength: 2 * 64 * KiB + 20000 });
    expect(p.pieceSize(0)).toBe(64 * KiB);
    expect(p.pieceSize(2)).toBe(20000);
    expect(p.blockCount(0)).toBe(4);
    expect(p.blockCount(2)).toBe(2);
    expect(p.blockLength(2, 16 * KiB)).toBe(20000 - 16 * KiB);
    expect(code(() => p.blockLength(2, 32 * KiB))).toBe('BAD_BLOCK');
    expect(code(() => p.blockLength(0, 100))).toBe('BAD_BLOCK');
    expect(code(() => p.pieceSize(3))).toBe('BAD_PIECE');
    p.peerHaveAll('s');
    const blocks = [];
    for (let i = 0; i < 20; i++) blocks.push(...p.pickBlocks('s', 1));
    const last = blocks.filter((b) => b.piece === 2);
    expect(last).toEqual([
      { piece: 2, begin: 0, length: 16 * KiB },
      { piece: 2, begin: 16 * KiB, length: 20000 - 16 * KiB },
    ]);
    expect(blocks.length).toBe(10);
  });

  it('rejects bad pieces, bitfields and priorities', () => {
    const p = picker(10);
    expect(code(() => p.peerHave('a', 10))).toBe('BAD_PIECE');
    expect(code(() => p.peerHave('a', -1))).toBe('BAD_PIECE');
    expect(code(() => p.peerBitfield('a', new Bitfield(9)))).toBe('BAD_BITFIELD');
    expect(code(() => p.setPriority(1, 'urgent' as never))).toBe('BAD_PRIORITY');
    expect(code(() => p.setPriority({ start: 5, end: 11 }, 'high'))).toBe('BAD_PIECE');
    expect(code(() => p.blockReceived(0, 1, 'a'))).toBe('BAD_BLOCK');
  });
});

describe('piece choice', () => {
  it('is rarest first among the pieces the peer has and we lack', () => {
    const p = picker(6, { have: bits(6, [5]), rarestFirstCutoff: 1 });
    p.peerBitfield('a', bits(6, [0, 1, 2, 5]));
    p.peerBitfield('b', bits(6, [1, 2, 3]));
    p.peerBitfield('c', bits(6, [2, 3, 4]));
    // availability: 0→1, 1→2, 2→3, 3→2, 4→1
    expect(p.availability(2)).toBe(3);
    expect(p.pickBlocks('a', 1)).toEqual([{ piece: 0, begin: 0, length: 16 * KiB }]);
    expect(p.pickBlocks('a', 1)[0]!.piece).toBe(1);
    expect(p.pickBlocks('a', 1)[0]!.piece).toBe(2);
    expect(p.pickBlocks('a', 1)).toEqual([]); // 5 is ours
    expect(p.pickBlocks('c', 1)[0]!.piece).toBe(4);
    expect(p.pickBlocks('c', 1)[0]!.piece).toBe(3);
    p.checkInvariants();
  });

  it('follows HAVEs and departures', () => {
    const p = picker(3);
    p.peerBitfield('a', bits(3, [0, 1, 2]));
    p.peerHave('b', 0);
    p.peerHave('b', 1);
    p.peerHave('c', 1);
    expect(p.peerHave('c', 1)).toBe(false);
    // a is complete → a seed; availability now 0:2, 1:3, 2:1
    expect(p.seedCount).toBe(1);
    expect(p.availability(1)).toBe(3);
    p.checkInvariants();
    p.peerLeft('c');
    expect(p.availability(1)).toBe(2);
    p.peerHave('d', 2);
    p.peerHave('e', 2);
    // now 0:2, 1:2, 2:3: a seed picks among the two rarest
    const first = p.pickBlocks('a', 1)[0]!.piece;
    expect([0, 1]).toContain(first);
    p.checkInvariants();
  });

  it('picks at random below rarestFirstCutoff, rarest at or above it', () => {
    const n = 200;
    const rare = bits(n, [7]);
    const firsts = new Set<number>();
    for (let seed = 1; seed <= 30; seed++) {
      const p = new PiecePicker({ pieceCount: n, pieceLength: 16 * KiB, totalLength: n * 16 * KiB, random: seededRandom(seed) });
      for (let k = 0; k < 5; k++) p.peerHaveAll(`s${k}`);
      p.peerBitfield('x', rare); // piece 7 is the only piece with extra availability... make it the rarest instead:
      p.peerLeft('x');
      p.peerBitfield('common', bits(n, Array.from({ length: n - 1 }, (_, i) => (i >= 7 ? i + 1 : i))));
      // Every piece but 7 has availability 6; piece 7 has 5: rarest.
      firsts.add(p.pickBlocks('s0', 1)[0]!.piece);
    }
    expect(firsts.size).toBeGreaterThan(10);
    // Same seed, same choice: the RNG is the only source of randomness.
    const run = () => {
      const p = new PiecePicker({ pieceCount: n, pieceLength: 16 * KiB, totalLength: n * 16 * KiB, random: seededRandom(42) });
      p.peerHaveAll('s');
      return p.pickBlocks('s', 3).map((b) => b.piece);
    };
    expect(run()).toEqual(run());
    // With 4 pieces had, rarest first takes over.
    for (let seed = 1; seed <= 10; seed++) {
      const p = new PiecePicker({
        pieceCount: n,
        pieceLength: 16 * KiB,
        totalLength: n * 16 * KiB,
        have: bits(n, [100, 101, 102, 103]),
        random: seededRandom(seed),
      });
      p.peerHaveAll('s0');
      p.peerBitfield('common', bits(n, Array.from({ length: n - 1 }, (_, i) => (i >= 7 ? i + 1 : i))));
      expect(p.pickBlocks('s0', 1)[0]!.piece).toBe(7);
    }
  });

  it('random first still only picks pieces the peer has', () => {
    const n = 1000;
    const p = new PiecePicker({ pieceCount: n, pieceLength: 16 * KiB, totalLength: n * 16 * KiB, random: seededRandom(3) });
    p.peerBitfield('few', bits(n, [3, 500, 999])); // sparse path
    const many = bits(n, Array.from({ length: 400 }, (_, i) => i * 2 + 1));
    p.peerBitfield('many', many); // probing path
    for (const b of p.pickBlocks('few', 3)) expect([3, 500, 999]).toContain(b.piece);
    for (const b of p.pickBlocks('many', 50)) expect(b.piece % 2).toBe(1);
  });

  it('finishes started pieces first', () => {
    // 4 pieces of 4 blocks.
    const p = new PiecePicker({ pieceCount: 4, pieceLength: 64 * KiB, totalLength: 256 * KiB, rarestFirstCutoff: 0, random: seededRandom(5) });
    p.peerBitfield('a', bits(4, [0, 1]));
    p.peerBitfield('b', bits(4, [1, 2]));
    p.peerBitfield('c', bits(4, [1, 3]));
    const first = p.pickBlocks('a', 1);
    expect(first).toEqual([{ piece: 0, begin: 0, length: 16 * KiB }]);
    // b has the rarer piece 2 but piece 1 ... is not started; c joins piece 1 after b starts it.
    expect(p.pickBlocks('b', 1)[0]!.piece).toBe(2);
    expect(p.pickBlocks('a', 2).map((r) => [r.piece, r.begin])).toEqual([
      [0, 16 * KiB],
      [0, 32 * KiB],
    ]);
    // Piece 1 is the most common, but once started everyone who has it finishes it first.
    const c1 = p.pickBlocks('c', 1)[0]!;
    expect(c1.piece).toBe(3);
    p.setPriority(3, 'skip');
    expect(p.pickBlocks('c', 1)[0]!.piece).toBe(1);
    expect(p.pickBlocks('b', 4).map((r) => [r.piece, r.begin])).toEqual([
      [2, 16 * KiB],
      [2, 32 * KiB],
      [2, 48 * KiB],
      [1, 16 * KiB],
    ]);
    p.checkInvariants();
  });

  it('honours high and skip priorities', () => {
    const p = picker(10);
    p.peerHaveAll('s');
    p.peerBitfield('x', bits(10, [0, 1, 2, 3, 4, 5])); // 6..9 rarer
    p.setPriority({ start: 6, end: 10 }, 'skip');
    p.setPriority(2, 'high');
    p.setPriority(1, 'high');
    const picked = p.pickBlocks('s', 10).map((b) => b.piece);
    expect(picked.slice(0, 2).sort()).toEqual([1, 2]);
    expect(picked.sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(p.priority(7)).toBe('skip');
    expect(p.isEndgame).toBe(true);
    p.setPriority(7, 'normal');
    expect(p.isEndgame).toBe(false);
    expect(p.pickBlocks('s', 10, { endgame: false }).map((b) => b.piece)).toEqual([7]);
    p.checkInvariants();
  });

  it('is interesting only with a wanted piece we lack', () => {
    const p = picker(8, { have: bits(8, [0]) });
    p.peerBitfield('a', bits(8, [0, 3]));
    expect(p.isInteresting('a')).toBe(true);
    p.setPriority(3, 'skip');
    expect(p.isInteresting('a')).toBe(false);
    p.peerHaveAll('s');
    expect(p.isInteresting('s')).toBe(true);
    expect(p.isInteresting('nobody')).toBe(false);
    expect(p.peerHasPiece('a', 3)).toBe(true);
    expect(p.peerHasPiece('s', 7)).toBe(true);
  });

  it('goes in index order in sequential mode', () => {
    const p = picker(20);
    p.peerHaveAll('s');
    p.peerBitfield('odd', bits(20, Array.from({ length: 10 }, (_, i) => i * 2 + 1)));
    p.setSequential(true);
    expect(p.isSequential).toBe(true);
    expect(p.pickBlocks('odd', 3).map((b) => b.piece)).toEqual([1, 3, 5]);
    expect(p.pickBlocks('s', 3).map((b) => b.piece)).toEqual([0, 2, 4]);
    p.setPriority(15, 'high');
    expect(p.pickBlocks('s', 2).map((b) => b.piece)).toEqual([15, 6]);
    // A failed piece goes back and is next again.
    p.blockReceived(0, 0, 's');
    expect(p.pieceFailed(0)).toEqual([]);
    expect(p.pickBlocks('s', 1)[0]!.piece).toBe(0);
    p.checkInvariants();
  });
});

describe('seeds', () => {
  it('are counted once and cost nothing per piece', () => {
    const p = picker(100);
    p.peerHaveAll('s1');
    p.peerBitfield('s2', Bitfield.full(100));
    expect(p.seedCount).toBe(2);
    expect(p.isSeed('s2')).toBe(true);
    expect(p.availability(42)).toBe(2);
    p.peerHave('s1', 3); // no effect
    expect(p.availability(3)).toBe(2);
    p.peerLeft('s1');
    expect(p.seedCount).toBe(1);
    expect(p.availability(99)).toBe(1);
    // A peer completing through HAVEs becomes a seed.
    for (let i = 0; i < 100; i++) p.peerHave('grower', i);
    expect(p.isSeed('grower')).toBe(true);
    expect(p.seedCount).toBe(2);
    expect(p.availability(50)).toBe(2);
    p.checkInvariants();
  });
});

describe('blocks, endgame and lost requests', () => {
  function twoBlockPicker(): PiecePicker {
    return new PiecePicker({ pieceCount: 2, pieceLength: 32 * KiB, totalLength: 48 * KiB, rarestFirstCutoff: 0, random: seededRandom(9) });
  }

  it('never hands out a block twice outside endgame', () => {
    const p = twoBlockPicker();
    p.peerHaveAll('a');
    p.peerHaveAll('b');
    const a = p.pickBlocks('a', 2);
    const b = p.pickBlocks('b', 5, { endgame: false });
    expect(a.length + b.length).toBe(3);
    const keys = [...a, ...b].map((r) => `${r.piece}:${r.begin}`);
    expect(new Set(keys).size).toBe(3);
    expect(p.isEndgame).toBe(true);
  });

  it('duplicates outstanding blocks in endgame and cancels them on arrival', () => {
    const p = twoBlockPicker();
    p.peerHaveAll('a');
    p.peerHaveAll('b');
    p.peerBitfield('c', bits(2, [1]));
    const a = p.pickBlocks('a', 3);
    expect(a.length).toBe(3);
    expect(p.isEndgame).toBe(true);
    const b = p.pickBlocks('b', 10);
    expect(b.length).toBe(3);
    expect(p.pickBlocks('b', 10)).toEqual([]); // never twice to the same peer
    const c = p.pickBlocks('c', 10);
    expect(c.map((r) => r.piece)).toEqual([1]);
    const got = p.blockReceived(1, 0, 'b');
    expect(got.accepted).toBe(true);
    expect(got.pieceComplete).toBe(true);
    expect(got.duplicateRequestsToCancel.map((r) => r.peer).sort()).toEqual(['a', 'c']);
    expect(got.duplicateRequestsToCancel[0]).toMatchObject({ piece: 1, begin: 0, length: 16 * KiB });
    expect(p.blockReceived(1, 0, 'a').accepted).toBe(false);
    expect(p.outstandingRequests('c')).toEqual([]);
    expect(p.outstandingRequests('a').map((r) => r.piece)).toEqual([0, 0]);
    p.pieceVerified(1);
    expect(p.hasPiece(1)).toBe(true);
    expect(p.blockReceived(1, 0, 'a').accepted).toBe(false);
    p.checkInvariants();
  });

  it('requestLost and peerChoked return blocks for others to pick', () => {
    const p = new PiecePicker({ pieceCount: 1, pieceLength: 48 * KiB, totalLength: 48 * KiB, random: seededRandom(4) });
    p.peerHaveAll('a');
    p.peerHaveAll('b');
    const a = p.pickBlocks('a', 2);
    expect(a.map((r) => r.begin)).toEqual([0, 16 * KiB]);
    const r = a[0]!;
    expect(p.requestLost(r.piece, r.begin, 'a')).toBe(true);
    expect(p.requestLost(r.piece, r.begin, 'a')).toBe(false);
    expect(p.requestLost(r.piece, r.begin, 'never-seen')).toBe(false);
    const b = p.pickBlocks('b', 3, { endgame: false });
    expect(b.map((x) => x.begin)).toEqual([0, 32 * KiB]); // the freed block comes back first
    expect(p.peerChoked('b')).toEqual(b);
    expect(p.outstandingRequests('b')).toEqual([]);
    expect(p.peerLeft('a')).toEqual([a[1]]);
    expect(p.peerCount).toBe(1);
    expect(p.pickBlocks('b', 10).length).toBe(3);
    p.checkInvariants();
  });

  it('a choke in endgame leaves the block with the other requester', () => {
    const p = twoBlockPicker();
    p.peerHaveAll('a');
    p.peerHaveAll('b');
    p.pickBlocks('a', 3);
    p.pickBlocks('b', 3);
    p.peerChoked('b');
    expect(p.isEndgame).toBe(true);
    expect(p.outstandingRequests('a').length).toBe(3);
    p.peerChoked('a');
    expect(p.isEndgame).toBe(false);
    expect(p.pickBlocks('b', 3, { endgame: false }).length).toBe(3);
  });

  it('pieceFailed frees every block and reports outstanding requests', () => {
    const p = new PiecePicker({ pieceCount: 1, pieceLength: 64 * KiB, totalLength: 64 * KiB, random: seededRandom(2) });
    p.peerHaveAll('a');
    const blocks = p.pickBlocks('a', 4);
    for (const b of blocks.slice(0, 3)) expect(p.blockReceived(b.piece, b.begin, 'a').pieceComplete).toBe(false);
    const dropped = p.pieceFailed(0);
    expect(dropped).toEqual([{ peer: 'a', ...blocks[3]! }]);
    expect(p.outstandingRequests('a')).toEqual([]);
    expect(p.pickBlocks('a', 10)).toEqual(blocks);
    for (const b of blocks) p.blockReceived(b.piece, b.begin, 'a');
    p.pieceVerified(0);
    expect(p.isComplete).toBe(true);
    expect(p.isEndgame).toBe(false);
    expect(p.pickBlocks('a', 10)).toEqual([]);
    p.checkInvariants();
  });

  it('accepts an unrequested block that is still missing', () => {
    const p = new PiecePicker({ pieceCount: 1, pieceLength: 48 * KiB, totalLength: 48 * KiB, random: seededRandom(4) });
    p.peerHaveAll('a');
    p.pickBlocks('a', 1);
    const res = p.blockReceived(0, 16 * KiB, 'b');
    expect(res).toEqual({ accepted: true, pieceComplete: false, duplicateRequestsToCancel: [] });
    expect(p.pickBlocks('a', 5).map((r) => r.begin)).toEqual([32 * KiB]);
    p.checkInvariants();
  });
});

describe('bulk bitfields', () => {
  it('re-sorts lazily after large bitfields and stays rarest-first', () => {
    const n = 2003; // not a multiple of 8: the last byte's spare bits must not count
    const rnd = seededRandom(11);
    const p = picker(n, { random: seededRandom(12) });
    const fields: Bitfield[] = [];
    for (let k = 0; k < 20; k++) {
      const f = new Bitfield(n);
      for (let i = 0; i < n; i++) if (rnd() < 0.5) f.set(i);
      fields.push(f);
      p.peerBitfield(`p${k}`, f);
    }
    p.peerLeft('p3');
    p.checkInvariants();
    const peer = fields[0]!;
    const picked = p.pickBlocks('p0', 1)[0]!.piece;
    let min = Infinity;
    for (const i of peer.setIndices()) min = Math.min(min, p.availability(i));
    expect(p.availability(picked)).toBe(min);
    p.checkInvariants();
    // HAVEs after the rebuild keep the order exact.
    for (let i = 0; i < 500; i++) p.peerHave(`p${i % 20}`, Math.floor(rnd() * n));
    p.checkInvariants();
  });
});
