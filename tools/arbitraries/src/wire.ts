import { Bitfield } from '@mainline/bitfield';
import fc from 'fast-check';

/** A bitfield of `pieces` bits with `indices` set. */
export function bitfieldOf(pieces: number, indices: readonly number[]): Bitfield {
  const bf = new Bitfield(pieces);
  for (const i of indices) bf.set(i);
  return bf;
}

const tagged = <T extends string>(type: T): { type: T } => ({ type });

/**
 * Valid peer-wire messages (BEP 3, 5, 6, 10 but the handshake) for a torrent of `pieces` pieces
 * (at least 2), in any order a peer may send them after its first; shaped as
 * `@mainline/connecter`'s `Message`, so it can encode them and its reader's output compares equal.
 */
export function wireMessage(pieces: number) {
  const index = fc.integer({ min: 0, max: pieces - 2 });
  const range = fc.record({ index, begin: fc.integer({ min: 0, max: 16384 }), length: fc.integer({ min: 1, max: 16384 }) });
  return fc.oneof(
    fc.constantFrom(tagged('keep-alive'), tagged('choke'), tagged('unchoke'), tagged('interested'), tagged('not-interested')),
    index.map((i) => ({ type: 'have' as const, index: i })),
    range.chain((r) => fc.constantFrom({ type: 'request' as const, ...r }, { type: 'cancel' as const, ...r }, { type: 'reject' as const, ...r })),
    fc
      .record({ index, begin: fc.integer({ min: 0, max: 16384 }), block: fc.uint8Array({ minLength: 1, maxLength: 3000 }) })
      .map((r) => ({ type: 'piece' as const, ...r })),
    fc.integer({ min: 0, max: 65535 }).map((port) => ({ type: 'port' as const, port })),
    index.map((i) => ({ type: 'suggest' as const, index: i })),
    index.map((i) => ({ type: 'allowed-fast' as const, index: i })),
    fc.record({ id: fc.integer({ min: 1, max: 255 }), payload: fc.uint8Array({ maxLength: 200 }) }).map((r) => ({ type: 'extended' as const, ...r })),
  );
}

/** A message wireMessage or wireStream makes. */
export type WireMessage = WireOpening | (ReturnType<typeof wireMessage> extends fc.Arbitrary<infer T> ? T : never);
type WireOpening = { type: 'bitfield'; bitfield: Bitfield } | { type: 'have-all' } | { type: 'have-none' };

/** A valid stream's messages: an optional opening bitfield / have-all / have-none, then up to 30 others. */
export function wireStream(pieces: number): fc.Arbitrary<{ first: WireMessage | undefined; rest: WireMessage[] }> {
  const opening: fc.Arbitrary<WireOpening> = fc.oneof(
    fc.array(fc.integer({ min: 0, max: pieces - 1 })).map((ix) => ({ type: 'bitfield' as const, bitfield: bitfieldOf(pieces, ix) })),
    fc.constantFrom(tagged('have-all'), tagged('have-none')),
  );
  return fc.record({ first: fc.option(opening, { nil: undefined }), rest: fc.array(wireMessage(pieces), { maxLength: 30 }) });
}

/** A length-prefixed frame: 4-byte length (1 + body unless given), id, body. */
export function frame(id: number, body: number[] | Uint8Array = [], lengthOverride?: number): Buffer {
  const b = Buffer.alloc(5 + body.length);
  b.writeUInt32BE(lengthOverride ?? 1 + body.length, 0);
  b[4] = id;
  Buffer.from(body).copy(b, 5);
  return b;
}

/** Frames of plausible length and any id (known ones more often), with random bodies. */
export const wireFrame: fc.Arbitrary<Buffer> = fc
  .record({ id: fc.oneof(fc.integer({ min: 0, max: 21 }), fc.integer({ min: 0, max: 255 })), body: fc.uint8Array({ maxLength: 40 }) })
  .map(({ id, body }) => frame(id, body));

/** Random chunks of bytes, as a hostile socket delivers them. */
export const wireChunks: fc.Arbitrary<Uint8Array[]> = fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 10 });
