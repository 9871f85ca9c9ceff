/** Why an announce was refused or an argument rejected; stable strings callers may switch on. */
export type LsdErrorCode =
  /** An argument is out of range or malformed (port 0, an info-hash that is not 20 bytes...). */
  | 'BAD_ARGUMENT'
  /** A datagram longer than {@link MAX_RECEIVE_BYTES}. */
  | 'TOO_LARGE'
  /** A byte in the header that is not printable ASCII, a tab, or CR before LF. */
  | 'NOT_TEXT'
  /** The first line is not `BT-SEARCH * HTTP/1.x`. */
  | 'BAD_REQUEST_LINE'
  /** A header line that is not `Name: value`. */
  | 'BAD_HEADER'
  /** More header lines than {@link MAX_HEADER_LINES}. */
  | 'TOO_MANY_HEADERS'
  /** The header is not ended by an empty line. */
  | 'UNTERMINATED'
  /** `Port`, `cookie` or `Host` given twice. */
  | 'DUPLICATE_HEADER'
  /** No `Port` header. */
  | 'NO_PORT'
  /** A `Port` that is not a decimal number in 1..65535. */
  | 'BAD_PORT'
  /** No valid (40 hex digits, not all zero) `Infohash`. */
  | 'NO_INFOHASH'
  /** No usable interface, or the multicast sockets could not be set up. */
  | 'NO_INTERFACE'
  /** Used after close(). */
  | 'CLOSED';

/** Every failure of this package: a code and a message that says what was wrong. */
export class LsdError extends Error {
  override readonly name = 'LsdError';
  constructor(
    readonly code: LsdErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
