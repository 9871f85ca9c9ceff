import fc from 'fast-check';

/** The dictionary of a BEP 9 message, fields possibly missing or out of range, and how many bytes follow it. */
export interface MetadataMessageCase {
  fields: { msg_type: number; piece?: number; total_size?: number };
  /** Bytes after the dictionary (a data message's piece). */
  tail: number;
  /** The metadata_size the peer announced, if any. */
  known: number | undefined;
}

const field = fc.oneof(fc.integer({ min: -3, max: 40_000 }), fc.constant(undefined));

/** A BEP 9 `ut_metadata` message: a well-formed dictionary with random fields and a random tail. */
export const metadataMessage: fc.Arbitrary<MetadataMessageCase> = fc
  .record({
    type: fc.integer({ min: 0, max: 3 }),
    piece: field,
    total: field,
    tail: fc.integer({ min: 0, max: 40_000 }),
    known: fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
  })
  .map(({ type, piece, total, tail, known }) => {
    const fields: MetadataMessageCase['fields'] = { msg_type: type };
    if (piece !== undefined) fields.piece = piece;
    if (total !== undefined) fields.total_size = total;
    return { fields, tail, known };
  });
