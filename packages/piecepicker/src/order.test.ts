import fc from 'fast-check';
import { AvailabilityOrder } from './order.js';
import { seededRandom as mulberry32 } from './test-helpers.js';

describe('AvailabilityOrder', () => {
  it('keeps pieces bucketed by count under random inc/dec/insert/remove/dirty', () => {
    const op = fc.tuple(fc.constantFrom('inc', 'dec', 'ins', 'rem', 'dirty', 'sort'), fc.nat(39));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), fc.integer(), (ops, seed) => {
        const n = 40;
        const counts = new Uint32Array(n);
        const pos = new Int32Array(n).fill(-1);
        const order = new AvailabilityOrder(n, counts, pos, mulberry32(seed));
        const member = new Set<number>();
        for (const [kind, p] of ops) {
          if (kind === 'inc') {
            counts[p]!++;
            if (member.has(p)) order.incremented(p);
          } else if (kind === 'dec') {
            if (counts[p] === 0) continue;
            counts[p]!--;
            if (member.has(p)) order.decremented(p);
          } else if (kind === 'ins') {
            if (member.has(p)) continue;
            order.insert(p, p % 2 === 0);
            member.add(p);
          } else if (kind === 'rem') {
            if (!member.has(p)) continue;
            order.remove(p);
            member.delete(p);
          } else if (kind === 'dirty') {
            order.markDirty();
          } else {
            order.ensureSorted();
          }
          order.checkInvariants();
          expect(order.size).toBe(member.size);
        }
        order.ensureSorted();
        order.checkInvariants();
        const listed = [...order.order.subarray(0, order.size)];
        expect(new Set(listed)).toEqual(member);
        // Non-decreasing counts from the front.
        for (let i = 1; i < listed.length; i++) expect(counts[listed[i]!]!).toBeGreaterThanOrEqual(counts[listed[i - 1]!]!);
      }),
    );
  });

  it('bump puts a piece at the end of its bucket', () => {
    const counts = new Uint32Array([1, 1, 1, 2]);
    const pos = new Int32Array(4).fill(-1);
    const order = new AvailabilityOrder(4, counts, pos, () => 0);
    order.insert(3);
    order.insert(0);
    order.insert(1);
    order.insert(2, true);
    expect(order.order[2]).toBe(2);
    expect(order.order[3]).toBe(3);
    expect(order.bucketStart(1)).toBe(0);
    expect(order.bucketStart(2)).toBe(3);
    expect(order.bucketStart(9)).toBe(4);
  });
});
