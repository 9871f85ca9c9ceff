import fc from 'fast-check';

/** One edit of a byte string: overwrite a byte, delete a run, insert random bytes or a token. */
export type ByteMutation =
  | { kind: 'flip'; at: number; value: number }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'token'; at: number; token: string };

/** Bencode fragments that hit the parsers' edge cases (empty strings, path tricks, huge integers). */
export const BENCODE_TOKENS: readonly string[] = ['0:', '1:.', '2:..', '1:/', 'i-1e', 'i0e', 'le', 'de', 'l1:ae', '4:name', '4:path', 'i99999999999999999999e'];

/** A random edit; `at` is taken modulo the length of what it edits. */
export function byteMutation(tokens: readonly string[] = BENCODE_TOKENS): fc.Arbitrary<ByteMutation> {
  return fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant('token' as const), at: fc.nat(), token: fc.constantFrom(...tokens) }),
  );
}

/** `src` with the edits applied in order (a new buffer; `src` is untouched). */
export function applyMutations(src: Uint8Array, mutations: readonly ByteMutation[]): Buffer {
  let b = Buffer.from(src);
  for (const m of mutations) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.kind === 'flip') {
      if (b.length > 0) b[at] = m.value;
    } else if (m.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
    else {
      const ins = m.kind === 'insert' ? Buffer.from(m.bytes) : Buffer.from(m.token);
      b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
    }
  }
  return b;
}

/** One of `seeds` (or of what `seeds` generates) with 1..`max` edits: near-valid input, the kind that reaches deep. */
export function mutatedFrom(seeds: readonly Uint8Array[] | fc.Arbitrary<Uint8Array>, options: { max?: number; tokens?: readonly string[] } = {}): fc.Arbitrary<Buffer> {
  const seed = Array.isArray(seeds) ? fc.constantFrom(...(seeds as readonly Uint8Array[])) : (seeds as fc.Arbitrary<Uint8Array>);
  return fc
    .tuple(seed, fc.array(byteMutation(options.tokens), { minLength: 1, maxLength: options.max ?? 4 }))
    .map(([s, muts]) => applyMutations(s, muts));
}

/** Random bytes, half of the time drawn from `alphabet` (so that they look like the format). */
export function bytesLike(alphabet: string, maxLength = 64): fc.Arbitrary<Uint8Array> {
  const letters = fc.constantFrom(...Buffer.from(alphabet));
  return fc.oneof(fc.uint8Array({ maxLength }), fc.array(letters, { maxLength }).map((a) => Uint8Array.from(a)));
}

/** Cut points for chunking a stream (see splitAt). */
export const cuts: fc.Arbitrary<number[]> = fc.array(fc.nat(), { maxLength: 40 });

/** `buf` split at the given points (each taken modulo length + 1; repeats and order do not matter). */
export function splitAt(buf: Uint8Array, points: readonly number[]): Uint8Array[] {
  const sorted = [...new Set(points.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of sorted) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}
