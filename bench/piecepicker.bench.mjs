// @mainline/piecepicker at scale: 1,000,000 pieces, 1,000 peers with ~50% random bitfields join,
// send HAVEs, get picked from, and leave. Then the same pick+HAVE workload against a naive
// picker that scans every piece per pick (what webtorrent's RarityMap-style pickers do).
import { randomBytes } from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Bitfield } from '@mainline/bitfield';
import { PiecePicker } from '@mainline/piecepicker';

const PIECES = 1_000_000;
const PIECE_LENGTH = 256 * 1024; // 16 blocks of 16 KiB
const PEERS = 1000;
const SEEDS = 10;
const HAVES = 1_000_000;
const PICKS = 100_000;
const BLOCKS_PER_PICK = 5;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');

function mem() {
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.arrayBuffers, rss: m.rss };
}
const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

function timed(fn) {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

function randomField() {
  return Bitfield.fromBytes(randomBytes(PIECES / 8), PIECES);
}

/** Seeded xorshift so both pickers see the same workload. */
function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/** The baseline: availability counts plus a full scan per pick (started pieces first, then rarest). */
class NaiveScanPicker {
  constructor(pieces, blocksPerPiece) {
    this.n = pieces;
    this.blocksPerPiece = blocksPerPiece;
    this.counts = new Uint32Array(pieces);
    this.requested = new Uint8Array(pieces); // blocks handed out
    this.received = new Uint8Array(pieces);
    this.have = new Uint8Array(pieces);
    this.peers = new Map();
  }
  peerBitfield(peer, field) {
    this.peers.set(peer, field);
    for (const i of field.setIndices()) this.counts[i]++;
  }
  peerHave(peer, piece) {
    if (this.peers.get(peer).set(piece)) this.counts[piece]++;
  }
  pickBlocks(peer, count) {
    const field = this.peers.get(peer);
    const out = [];
    while (out.length < count) {
      let best = -1;
      let bestKey = Infinity;
      for (let i = 0; i < this.n; i++) {
        if (this.have[i] || this.requested[i] === this.blocksPerPiece || !field.get(i)) continue;
        const key = this.requested[i] > 0 ? -1 : this.counts[i];
        if (key < bestKey) {
          best = i;
          bestKey = key;
        }
      }
      if (best < 0) break;
      while (out.length < count && this.requested[best] < this.blocksPerPiece) {
        out.push({ piece: best, begin: this.requested[best]++ * 16384, length: 16384 });
      }
    }
    return out;
  }
  blockReceived(piece) {
    return { pieceComplete: ++this.received[piece] === this.blocksPerPiece };
  }
  pieceVerified(piece) {
    this.have[piece] = 1;
  }
}

/** One unit of the comparison workload: 10 HAVEs, then a 5-block pick whose blocks all arrive. */
function unit(picker, peers, random) {
  for (let h = 0; h < 10; h++) picker.peerHave(peers[Math.floor(random() * peers.length)], Math.floor(random() * PIECES));
  const peer = peers[Math.floor(random() * peers.length)];
  for (const r of picker.pickBlocks(peer, BLOCKS_PER_PICK)) {
    if (picker.blockReceived(r.piece, r.begin, peer).pieceComplete) picker.pieceVerified(r.piece);
  }
}

export async function run() {
  console.log(`${PIECES} pieces of ${PIECE_LENGTH / 1024} KiB, ${PEERS} peers (~50% each) + ${SEEDS} seeds`);
  const fields = [];
  for (let i = 0; i < PEERS; i++) fields.push(randomField());
  const base = mem();

  const picker = new PiecePicker({ pieceCount: PIECES, pieceLength: PIECE_LENGTH, totalLength: PIECES * PIECE_LENGTH });
  const built = mem();
  console.log(`  picker itself: heap+buffers ${mb(built.heap - base.heap)}, rss ${mb(built.rss - base.rss)}`);

  let t = timed(() => {
    for (let i = 0; i < PEERS; i++) picker.peerBitfield(i, fields[i]);
    for (let i = 0; i < SEEDS; i++) picker.peerHaveAll(`seed${i}`);
  });
  console.log(`  join: ${(PEERS / t).toFixed(0)} peers/s (${(t * 1000).toFixed(0)} ms for ${PEERS} bitfields)`);
  t = timed(() => picker.pickBlocks(0, 1));
  console.log(`  first pick after the joins (lazy re-sort of ${PIECES} pieces): ${(t * 1000).toFixed(0)} ms`);

  const random = rng(7);
  t = timed(() => {
    for (let i = 0; i < HAVES; i++) picker.peerHave(Math.floor(random() * PEERS), Math.floor(random() * PIECES));
  });
  console.log(`  HAVE: ${(HAVES / t / 1e6).toFixed(2)} M/s`);

  let blocks = 0;
  t = timed(() => {
    for (let i = 0; i < PICKS; i++) {
      const peer = i % PEERS;
      for (const r of picker.pickBlocks(peer, BLOCKS_PER_PICK)) {
        blocks++;
        if (picker.blockReceived(r.piece, r.begin, peer).pieceComplete) picker.pieceVerified(r.piece);
      }
    }
  });
  console.log(`  pick ${BLOCKS_PER_PICK} blocks + receive: ${(PICKS / t).toFixed(0)} picks/s (${blocks} blocks, ${picker.haveCount} pieces done)`);
  const joined = mem();
  console.log(`  after joins/HAVEs/picks: heap+buffers ${mb(joined.heap - base.heap)}, rss ${mb(joined.rss - base.rss)} (peer bitfields are adopted, not copied)`);

  t = timed(() => {
    for (let i = 0; i < PEERS; i++) picker.peerLeft(i);
    for (let i = 0; i < SEEDS; i++) picker.peerLeft(`seed${i}`);
  });
  console.log(`  leave: ${(PEERS / t).toFixed(0)} peers/s`);
  fields.length = 0;

  // Comparison on fresh pickers: 100 peers, the same seeded workload.
  const COMPARE_PEERS = 100;
  const ids = Array.from({ length: COMPARE_PEERS }, (_, i) => i);
  const shared = ids.map(() => randomField());
  const ours = new PiecePicker({ pieceCount: PIECES, pieceLength: PIECE_LENGTH, totalLength: PIECES * PIECE_LENGTH });
  const naive = new NaiveScanPicker(PIECES, PIECE_LENGTH / 16384);
  for (const i of ids) {
    ours.peerBitfield(i, shared[i].clone());
    naive.peerBitfield(i, shared[i].clone());
  }
  ours.pickBlocks(0, 0);
  unit(ours, ids, rng(1)); // warm-up incl. the lazy re-sort
  unit(naive, ids, rng(1));
  const OUR_UNITS = 20_000;
  const NAIVE_UNITS = 100;
  const tOurs = timed(() => {
    const r = rng(2);
    for (let i = 0; i < OUR_UNITS; i++) unit(ours, ids, r);
  });
  const tNaive = timed(() => {
    const r = rng(2);
    for (let i = 0; i < NAIVE_UNITS; i++) unit(naive, ids, r);
  });
  const perOurs = tOurs / OUR_UNITS;
  const perNaive = tNaive / NAIVE_UNITS;
  console.log(`  pick+have unit (10 HAVEs + 5-block pick): ours ${(perOurs * 1e6).toFixed(1)} µs, naive-scan ${(perNaive * 1e6).toFixed(0)} µs`);
  console.log(`ours/naive-scan pick+have time = ${(perOurs / perNaive).toPrecision(2)}`);
}
