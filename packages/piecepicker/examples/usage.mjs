import { Bitfield } from '@mainline/bitfield';
import { PiecePicker } from '@mainline/piecepicker';

// 6 pieces of 32 KiB (two 16 KiB blocks each; the last piece is 1000 bytes short).
// We already verified pieces 0-3, so new pieces are picked rarest first (below 4, at random).
const pieceCount = 6;
const have = new Bitfield(pieceCount);
for (const p of [0, 1, 2, 3]) have.set(p);
const picker = new PiecePicker({ pieceCount, pieceLength: 32_768, totalLength: 6 * 32_768 - 1000, have });

// Peers are any Map key: here their names. A seed costs O(1); a bitfield is adopted, not copied.
picker.peerHaveAll('seed');
const fromA = new Bitfield(pieceCount);
fromA.set(0);
fromA.set(1);
picker.peerBitfield('peerA', fromA);
picker.peerHave('peerA', 4); // a HAVE message
console.log(picker.availability(4), picker.availability(5), picker.isInteresting('peerA'));

const show = (requests) => requests.map(({ piece, begin, length }) => `${piece}:${begin}+${length}`).join(' ') || 'nothing';
console.log('seed  ->', show(picker.pickBlocks('seed', 2))); // the rarest piece, 5, only the seed has it
console.log('peerA ->', show(picker.pickBlocks('peerA', 4))); // all it has that we lack: piece 4
console.log('seed  ->', show(picker.pickBlocks('seed', 2))); // nothing free: endgame duplicates

// Blocks arrive from peerA: each cancels the seed's duplicate; the second completes piece 4.
for (const begin of [0, 16_384]) {
  const { accepted, pieceComplete, duplicateRequestsToCancel } = picker.blockReceived(4, begin, 'peerA');
  for (const c of duplicateRequestsToCancel) console.log(`cancel ${c.piece}:${c.begin}+${c.length} to ${c.peer}`);
  if (accepted && pieceComplete) picker.pieceVerified(4); // its SHA-1 matched (else pieceFailed(4))
}

// The seed chokes us: its outstanding requests go back, for any peer to take.
console.log(show(picker.peerChoked('seed')), picker.haveCount, picker.isInteresting('peerA'));
