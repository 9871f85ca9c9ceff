import fc from 'fast-check';
import { Bitfield } from '@mainline/bitfield';
import { PiecePicker, type PiecePriority } from './index.js';
import { seededRandom } from './test-helpers.js';

const KiB = 1024;
const PEERS = ['p0', 'p1', 'p2', 'p3'];

type Op =
  | { kind: 'bitfield'; peer: number; bits: boolean[] }
  | { kind: 'haveAll'; peer: number }
  | { kind: 'have'; peer: number; piece: number }
  | { kind: 'left'; peer: number }
  | { kind: 'choke'; peer: number }
  | { kind: 'pick'; peer: number; count: number; endgame: boolean }
  | { kind: 'receive'; pick: number; verify: boolean }
  | { kind: 'lost'; pick: number }
  | { kind: 'priority'; piece: number; priority: PiecePriority }
  | { kind: 'priorityRange'; start: number; priority: PiecePriority }
  | { kind: 'sequential'; on: boolean };

function opArb(pieces: number): fc.Arbitrary<Op> {
  const peer = fc.nat(PEERS.length - 1);
  const piece = fc.nat(pieces - 1);
  return fc.oneof(
    {
      arbitrary: fc.record({
        kind: fc.constant('bitfield' as const),
        peer,
        bits: fc.oneof(
          fc.array(fc.boolean(), { minLength: pieces, maxLength: pieces }),
          // Dense fields: over 64 set bits takes the bulk path (counters only, lazy re-sort).
          fc.array(fc.integer({ min: 0, max: 7 }).map((v) => v !== 0), { minLength: pieces, maxLength: pieces }),
        ),
      }),
      weight: 2,
    },
    { arbitrary: fc.record({ kind: fc.constant('haveAll' as const), peer }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('have' as const), peer, piece }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('left' as const), peer }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('choke' as const), peer }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('pick' as const), peer, count: fc.integer({ min: 1, max: 6 }), endgame: fc.boolean() }), weight: 6 },
    { arbitrary: fc.record({ kind: fc.constant('receive' as const), pick: fc.nat(), verify: fc.boolean() }), weight: 5 },
    { arbitrary: fc.record({ kind: fc.constant('lost' as const), pick: fc.nat() }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('priority' as const), piece, priority: fc.constantFrom<PiecePriority>('skip', 'normal', 'high') }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('sequential' as const), on: fc.boolean() }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('priorityRange' as const), start: piece, priority: fc.constantFrom<PiecePriority>('skip', 'normal', 'high') }), weight: 1 },
  );
}

const scenario = fc
  .record({
    // Small torrents, and ones big enough for bulk (lazily re-sorted) bitfield and range updates.
    pieces: fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 66, max: 90 })),
    pieceBlocks: fc.integer({ min: 1, max: 3 }),
    lastShort: fc.integer({ min: 0, max: 16 * KiB * 3 - 1 }),
    cutoff: fc.integer({ min: 0, max: 3 }),
    seed: fc.integer(),
  })
  .chain((cfg) => fc.tuple(fc.constant(cfg), fc.array(opArb(cfg.pieces), { maxLength: 120 })));

describe('PiecePicker properties (model-checked)', () => {
  it('picks only wanted pieces the peer has, never re-requests outside endgame, misses nothing', () => {
    fc.assert(
      fc.property(scenario, ([cfg, ops]) => {
        const pieceLength = 16 * KiB * cfg.pieceBlocks;
        const totalLength = pieceLength * (cfg.pieces - 1) + 1 + (cfg.lastShort % pieceLength);
        const n = cfg.pieces;
        const p = new PiecePicker({ pieceCount: n, pieceLength, totalLength, rarestFirstCutoff: cfg.cutoff, random: seededRandom(cfg.seed) });
        // Model.
        const peerHas = new Map<string, Set<number>>();
        const have = new Set<number>();
        const prio = new Array<PiecePriority>(n).fill('normal');
        const outstanding = new Map<string, Set<string>>(); // "piece:begin" -> peers
        const received = new Set<string>();
        const key = (piece: number, begin: number) => `${piece}:${begin}`;
        const allBlocks = (piece: number) => Array.from({ length: p.blockCount(piece) }, (_, b) => b * 16 * KiB);
        const dropPeerRequests = (peer: string) => {
          for (const set of outstanding.values()) set.delete(peer);
        };
        const outstandingList = () => {
          const list: [number, number, string][] = [];
          for (const [k, peers] of outstanding) {
            const [piece, begin] = k.split(':').map(Number) as [number, number];
            for (const peer of peers) list.push([piece, begin, peer]);
          }
          return list;
        };

        for (const op of ops) {
          switch (op.kind) {
            case 'bitfield': {
              const peer = PEERS[op.peer]!;
              const f = new Bitfield(n);
              op.bits.forEach((b, i) => b && f.set(i));
              p.peerBitfield(peer, f);
              peerHas.set(peer, new Set(f.setIndices()));
              break;
            }
            case 'haveAll':
              p.peerHaveAll(PEERS[op.peer]!);
              peerHas.set(PEERS[op.peer]!, new Set(Array.from({ length: n }, (_, i) => i)));
              break;
            case 'have': {
              const peer = PEERS[op.peer]!;
              const set = peerHas.get(peer) ?? new Set<number>();
              expect(p.peerHave(peer, op.piece)).toBe(!set.has(op.piece));
              set.add(op.piece);
              peerHas.set(peer, set);
              break;
            }
            case 'left':
            case 'choke': {
              const peer = PEERS[op.peer]!;
              const released = op.kind === 'left' ? p.peerLeft(peer) : p.peerChoked(peer);
              const expected = outstandingList().filter(([, , q]) => q === peer).length;
              expect(released.length).toBe(expected);
              dropPeerRequests(peer);
              if (op.kind === 'left') peerHas.delete(peer);
              break;
            }
            case 'pick': {
              const peer = PEERS[op.peer]!;
              const got = p.pickBlocks(peer, op.count, { endgame: op.endgame });
              // Duplicates only once the picker is in endgame (it may enter it during this call).
              const endgame = op.endgame && p.isEndgame;
              expect(got.length).toBeLessThanOrEqual(op.count);
              const seen = new Set<string>();
              for (const r of got) {
                const k = key(r.piece, r.begin);
                expect(peerHas.get(peer)?.has(r.piece)).toBe(true);
                expect(have.has(r.piece)).toBe(false);
                expect(prio[r.piece]).not.toBe('skip');
                expect(received.has(k)).toBe(false);
                expect(seen.has(k)).toBe(false);
                expect(r.length).toBe(p.blockLength(r.piece, r.begin));
                seen.add(k);
                const holders = outstanding.get(k) ?? new Set<string>();
                if (!endgame) expect(holders.size).toBe(0);
                expect(holders.has(peer)).toBe(false);
                holders.add(peer);
                outstanding.set(k, holders);
              }
              if (got.length < op.count) {
                // Nothing free was left behind for this peer.
                for (const piece of peerHas.get(peer) ?? []) {
                  if (have.has(piece) || prio[piece] === 'skip') continue;
                  for (const begin of allBlocks(piece)) {
                    const k = key(piece, begin);
                    const free = !received.has(k) && (outstanding.get(k)?.size ?? 0) === 0;
                    expect(free && !seen.has(k)).toBe(false);
                  }
                }
              }
              break;
            }
            case 'receive': {
              const list = outstandingList();
              if (list.length === 0) break;
              const [piece, begin, peer] = list[op.pick % list.length]!;
              const k = key(piece, begin);
              const res = p.blockReceived(piece, begin, peer);
              expect(res.accepted).toBe(true);
              const others = [...(outstanding.get(k) ?? [])].filter((q) => q !== peer).sort();
              expect(res.duplicateRequestsToCancel.map((r) => r.peer).sort()).toEqual(others);
              outstanding.delete(k);
              received.add(k);
              const complete = allBlocks(piece).every((b) => received.has(key(piece, b)));
              expect(res.pieceComplete).toBe(complete);
              if (complete) {
                if (op.verify) {
                  p.pieceVerified(piece);
                  have.add(piece);
                } else {
                  // Every block arrived, and arrivals cancel duplicates: nothing is outstanding.
                  expect(p.pieceFailed(piece)).toEqual([]);
                  for (const b of allBlocks(piece)) {
                    received.delete(key(piece, b));
                    outstanding.delete(key(piece, b));
                  }
                }
              }
              break;
            }
            case 'lost': {
              const list = outstandingList();
              if (list.length === 0) break;
              const [piece, begin, peer] = list[op.pick % list.length]!;
              expect(p.requestLost(piece, begin, peer)).toBe(true);
              outstanding.get(key(piece, begin))!.delete(peer);
              break;
            }
            case 'priority':
              p.setPriority(op.piece, op.priority);
              prio[op.piece] = op.priority;
              break;
            case 'priorityRange':
              p.setPriority({ start: op.start, end: n }, op.priority);
              for (let i = op.start; i < n; i++) prio[i] = op.priority;
              break;
            case 'sequential':
              p.setSequential(op.on);
              break;
          }
          p.checkInvariants();
          expect(p.haveCount).toBe(have.size);
        }
      }),
      { numRuns: Number(process.env.PICKER_RUNS ?? 300) },
    );
  });
});
