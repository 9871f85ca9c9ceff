import { MAX_SUGGESTIONS_PER_PEER, PiecePicker, type PiecePickerOptions } from './index.js';
import { bits, seededRandom } from './test-helpers.js';

const KiB = 1024;

/** `n` pieces of two blocks; rarest first from the start unless told otherwise. */
function picker(n: number, extra: Partial<PiecePickerOptions> = {}): PiecePicker {
  return new PiecePicker({ pieceCount: n, pieceLength: 32 * KiB, totalLength: n * 32 * KiB, rarestFirstCutoff: 0, random: seededRandom(7), ...extra });
}

const pieces = (blocks: { piece: number }[]): number[] => [...new Set(blocks.map((b) => b.piece))];

describe('pickBlocks({ only }): BEP 6 allowed-fast pieces while choked', () => {
  it('picks only from the given pieces, in their order, that the peer has and we want', () => {
    const p = picker(20);
    p.peerBitfield('a', bits(20, [1, 3, 5, 7, 9]));
    p.pieceVerified(5);
    p.setPriority(7, 'skip');
    const got = p.pickBlocks('a', 100, { only: [9, 2, 5, 7, 3, 99] });
    expect(pieces(got)).toEqual([9, 3]);
    expect(got).toHaveLength(4);
    // Nothing else was started: the others stay free for other peers.
    expect(pieces(p.pickBlocks('b', 100))).toEqual([]);
    p.peerHaveAll('b');
    // The 16 free pieces (32 blocks) go to B; 9 and 3 are A's already, 5 is had, 7 skipped.
    const rest = pieces(p.pickBlocks('b', 32));
    expect(rest).toHaveLength(16);
    for (const taken of [9, 3, 5, 7]) expect(rest).not.toContain(taken);
    p.checkInvariants();
  });

  it('continues a started piece among them and stops at the count', () => {
    const p = picker(10);
    p.peerHaveAll('a');
    p.peerHaveAll('b');
    const first = p.pickBlocks('b', 1, { only: [4] });
    expect(first).toEqual([{ piece: 4, begin: 0, length: 16 * KiB }]);
    expect(p.pickBlocks('a', 1, { only: [4, 6] })).toEqual([{ piece: 4, begin: 16 * KiB, length: 16 * KiB }]);
    expect(p.pickBlocks('a', 5, { only: [4, 6] })).toEqual([
      { piece: 6, begin: 0, length: 16 * KiB },
      { piece: 6, begin: 16 * KiB, length: 16 * KiB },
    ]);
    p.checkInvariants();
  });

  it('endgame duplicates only among them', () => {
    const p = picker(2);
    p.peerHaveAll('a');
    p.peerHaveAll('b');
    expect(p.pickBlocks('a', 10)).toHaveLength(4);
    expect(p.isEndgame).toBe(true);
    expect(pieces(p.pickBlocks('b', 10, { only: [1] }))).toEqual([1]);
    expect(p.pickBlocks('b', 10, { only: [] })).toEqual([]);
  });
});

describe('peerSuggested: BEP 6 suggest piece', () => {
  it('a suggested piece is started first among equally rare ones, not over a rarer one', () => {
    const p = picker(10);
    p.peerHaveAll('s');
    // Pieces 0-7 are had by one peer each; 8 and 9 by none but the seed (rarer).
    p.peerBitfield('x', bits(10, [0, 1, 2, 3, 4, 5, 6, 7]));
    p.peerSuggested('s', 6);
    const first = p.pickBlocks('s', 2);
    // 8 and 9 are rarer than 6: the suggestion does not beat them.
    expect([8, 9]).toContain(first[0]!.piece);
    p.pickBlocks('s', 2); // the other rare one
    expect(pieces(p.pickBlocks('s', 2))).toEqual([6]);
    p.checkInvariants();
  });

  it('without a suggestion the choice among equals is the picker\'s; with one it is the suggested piece', () => {
    const runs = new Set<number>();
    for (let seed = 1; seed <= 5; seed++) {
      const p = picker(50, { random: seededRandom(seed) });
      p.peerHaveAll('s');
      p.peerSuggested('s', 37);
      runs.add(p.pickBlocks('s', 1)[0]!.piece);
    }
    expect([...runs]).toEqual([37]);
    // While picking at random (fewer than rarestFirstCutoff pieces had) too.
    const r = picker(50, { rarestFirstCutoff: 4 });
    r.peerBitfield('s', bits(50, [3, 11, 12, 40]));
    r.peerBitfield('t', bits(50, [40]));
    r.peerSuggested('s', 40);
    expect(r.pickBlocks('s', 1)[0]!.piece).toBe(40);
  });

  it('priority still comes first; pieces the peer lacks or we have are not taken; sequential ignores suggestions', () => {
    const p = picker(10);
    p.peerBitfield('s', bits(10, [2, 5, 8]));
    p.setPriority(8, 'high');
    p.peerSuggested('s', 5);
    p.peerSuggested('s', 9); // it does not have 9
    expect(pieces(p.pickBlocks('s', 2))).toEqual([8]);
    expect(pieces(p.pickBlocks('s', 2))).toEqual([5]);
    p.pieceVerified(5);
    expect(p.suggestions('s')).toEqual([9]);
    const q = picker(10);
    q.peerHaveAll('s');
    q.setSequential(true);
    q.peerSuggested('s', 6);
    expect(pieces(q.pickBlocks('s', 2))).toEqual([0]);
  });

  it('keeps at most MAX_SUGGESTIONS_PER_PEER per peer, the newest', () => {
    const p = picker(100);
    p.peerHaveAll('s');
    for (let i = 0; i < 3 * MAX_SUGGESTIONS_PER_PEER; i++) p.peerSuggested('s', i);
    p.peerSuggested('s', 3 * MAX_SUGGESTIONS_PER_PEER - 1); // a repeat is not kept twice
    const kept = p.suggestions('s');
    expect(kept).toHaveLength(MAX_SUGGESTIONS_PER_PEER);
    expect(kept[0]).toBe(2 * MAX_SUGGESTIONS_PER_PEER);
    p.peerLeft('s');
    expect(p.suggestions('s')).toEqual([]);
  });
});
