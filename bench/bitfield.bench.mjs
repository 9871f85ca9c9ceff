// @mainline/bitfield against npm `bitfield` (fb55, used by webtorrent) on a 1,000,000-piece field.
// Ratios are of times: below 1 means ours is faster.
import NpmBitfield from 'bitfield';
import { Bitfield } from '@mainline/bitfield';
import { compareOps, ratio } from './timing.mjs';

const PIECES = 1_000_000;
const OPS = 100_000;

// npm `bitfield` has no count: the best a caller can do is a popcount table over `.buffer`.
const POP = new Uint8Array(256);
for (let i = 1; i < 256; i++) POP[i] = (i & 1) + POP[i >> 1];
function npmCount(field) {
  const buf = field.buffer;
  let total = 0;
  for (let i = 0; i < buf.length; i++) total += POP[buf[i]];
  return total;
}

function report(name, ours, theirs) {
  const r = compareOps(ours, theirs);
  console.log(`  ${name}: ours ${r.ours.toFixed(0)}/s, npm-bitfield ${r.theirs.toFixed(0)}/s`);
  ratio(`ours/npm-bitfield ${name} time`, 1 / r.ours, 1 / r.theirs);
}

export async function run() {
  const indices = new Uint32Array(OPS);
  for (let i = 0; i < OPS; i++) indices[i] = Math.floor(Math.random() * PIECES);
  const ours = new Bitfield(PIECES);
  const theirs = new NpmBitfield(PIECES);
  let sink = 0;

  console.log(`${PIECES} bits; get/set figures are per batch of ${OPS} random indices`);
  report(
    'get',
    () => {
      for (let i = 0; i < OPS; i++) if (ours.get(indices[i])) sink++;
    },
    () => {
      for (let i = 0; i < OPS; i++) if (theirs.get(indices[i])) sink++;
    },
  );
  report(
    'get+set',
    () => {
      for (let i = 0; i < OPS; i++) {
        const j = indices[i];
        ours.set(j, !ours.get(j));
      }
    },
    () => {
      for (let i = 0; i < OPS; i++) {
        const j = indices[i];
        theirs.set(j, !theirs.get(j));
      }
    },
  );
  // O(1) against O(n): the ratio is tiny, so print it with more digits than ratio() does.
  const c = compareOps(
    () => {
      sink += ours.count();
    },
    () => {
      sink += npmCount(theirs);
    },
  );
  console.log(`  count: ours ${c.ours.toFixed(0)}/s, npm-bitfield (popcount table) ${c.theirs.toFixed(0)}/s`);
  console.log(`ours/npm-bitfield count time = ${(c.theirs / c.ours).toPrecision(2)}`);

  // Half-full field, as sent by a peer: parse the wire bytes and count them.
  const half = new Bitfield(PIECES);
  for (let i = 0; i < PIECES; i += 2) half.set(i);
  const wire = half.toBytes();
  report(
    'parse+count',
    () => {
      sink += Bitfield.fromBytes(wire, PIECES).count();
    },
    () => {
      sink += npmCount(new NpmBitfield(wire.slice()));
    },
  );

  // Sparse field: walk the set indices (ours skips zero words, npm visits every bit).
  const sparseOurs = new Bitfield(PIECES);
  const sparseTheirs = new NpmBitfield(PIECES);
  for (let i = 0; i < PIECES; i += 997) {
    sparseOurs.set(i);
    sparseTheirs.set(i);
  }
  report(
    'iterate set bits (sparse)',
    () => {
      for (const i of sparseOurs.setIndices()) sink += i;
    },
    () => {
      sparseTheirs.forEach((bit, i) => {
        if (bit) sink += i;
      });
    },
  );
  if (sink === -1) console.log('');
}
