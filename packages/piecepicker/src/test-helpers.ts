import { Bitfield } from '@mainline/bitfield';

/** Seeded PRNG (mulberry32) for deterministic tests; not part of the public API. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A bitfield of `length` bits with `set` set. */
export function bits(length: number, set: Iterable<number>): Bitfield {
  const f = new Bitfield(length);
  for (const i of set) f.set(i);
  return f;
}
