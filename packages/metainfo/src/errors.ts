/** Why metainfo, a tracker reply or a magnet link was rejected; stable strings callers may switch on. */
export type MetainfoErrorCode =
  /** A value that must be a dictionary is not one (or the input is not a dictionary). */
  | 'NOT_A_DICT'
  /** A required key is absent. */
  | 'MISSING_FIELD'
  /** A value has the wrong bencode type (e.g. a string where an integer is required). */
  | 'WRONG_TYPE'
  /** An integer is out of its allowed range (negative length, piece length 0, port 70000...). */
  | 'BAD_INTEGER'
  /** An integer or a sum of lengths is beyond what this implementation can address (2^53 − 1). */
  | 'TOO_LARGE'
  /** Both or neither of `info.length` and `info.files`. */
  | 'LENGTH_AND_FILES'
  /** A name or path component that could escape the download directory or is not a file name. */
  | 'UNSAFE_PATH'
  /** A multi-file `path` list that is empty. */
  | 'EMPTY_PATH'
  /** Two files with the same path. */
  | 'DUPLICATE_PATH'
  /** A file's path is also used as a directory by another file (`a` and `a/b`). */
  | 'PATH_CONFLICT'
  /** `pieces` is not a multiple of 20 bytes long. */
  | 'BAD_PIECES'
  /** The number of piece hashes does not fit the total length and piece length. */
  | 'PIECE_COUNT_MISMATCH'
  /** A byte string has the wrong length (peer id, compact peers, info-hash keys...). */
  | 'BAD_LENGTH'
  /** A malformed magnet link or info-hash. */
  | 'BAD_MAGNET'
  /** A malformed URL or address. */
  | 'BAD_VALUE';

/**
 * Every validation failure of this package: a code, the location of the offending value as a
 * path into the document (`info.files[3].path[1]`, `peers[2].port`, `xt`), and a message.
 */
export class MetainfoError extends Error {
  override readonly name = 'MetainfoError';
  constructor(
    readonly code: MetainfoErrorCode,
    /** Where the bad value is, e.g. `info.files[3].path[1]`; empty for the document itself. */
    readonly path: string,
    message: string,
  ) {
    super(path ? `${path}: ${message}` : message);
  }
}
