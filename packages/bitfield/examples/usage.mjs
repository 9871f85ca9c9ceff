import { Bitfield, BitfieldError } from '@mainline/bitfield';

const ours = new Bitfield(20); // 20 pieces, all clear
ours.set(0);
ours.set(3);
console.log(ours.count(), ours.isComplete(), ours.get(3)); // O(1) count

// A peer's BITFIELD message: exactly ceil(20 / 8) = 3 bytes, MSB first, spare bits clear.
const theirs = Bitfield.fromBytes(Uint8Array.of(0b1111_0000, 0b0000_0001, 0b0000_0000), 20);
console.log(theirs.hasAnyNotIn(ours)); // are they interesting?
console.log([...theirs.andNot(ours).setIndices()]); // pieces they have and we lack

// Hostile input is refused with a typed error: the last byte's 4 spare bits must be zero.
try {
  Bitfield.fromBytes(Uint8Array.of(0, 0, 0b0000_0001), 20);
} catch (e) {
  if (!(e instanceof BitfieldError)) throw e;
  console.log(e.code);
}
console.log(Buffer.from(ours.toBytes()).toString('hex')); // our BITFIELD payload
