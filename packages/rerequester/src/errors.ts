/** Why a tracker request failed; stable strings callers may switch on. */
export type TrackerErrorCode =
  /** An argument is out of range or malformed (info-hash not 20 bytes, port 70000...). */
  | 'BAD_ARGUMENT'
  /** The tracker URL cannot be parsed or lacks a host/port. */
  | 'BAD_URL'
  /** A URL scheme this client does not speak (wss:, ftp:...). */
  | 'UNSUPPORTED_PROTOCOL'
  /** No (complete) answer within the time allowed. */
  | 'TIMEOUT'
  /** DNS, connect or socket failure. */
  | 'NETWORK'
  /** An HTTP status other than 200 with no bencoded failure reason in the body. */
  | 'HTTP_STATUS'
  /** More redirects than allowed, or a redirect loop. */
  | 'TOO_MANY_REDIRECTS'
  /** The body (after decompression) exceeded the size cap. */
  | 'RESPONSE_TOO_LARGE'
  /** An empty body. */
  | 'EMPTY_RESPONSE'
  /** The reply is not a valid tracker reply (bad bencode, wrong types, truncated UDP packet...). */
  | 'BAD_RESPONSE'
  /** The tracker answered with a `failure reason` (HTTP) or an error action (UDP). */
  | 'REJECTED'
  /** The request was cancelled by the caller (stop()). */
  | 'ABORTED'
  /** Every tracker of every tier failed; `cause` holds the last error. */
  | 'ALL_TRACKERS_FAILED';

/**
 * The value kept in `memo` for `key`, made by `make` at its first ask; `memo` keeps the last
 * `limit` distinct keys (the oldest is forgotten first).
 */
export function remembered<V>(memo: Map<string, V>, limit: number, key: string, make: () => V): V {
  const found = memo.get(key);
  if (found !== undefined) return found;
  if (memo.size >= limit) memo.delete(memo.keys().next().value!);
  const made = make();
  memo.set(key, made);
  return made;
}

const SHARED_TEXTS = 64;
const sharedTexts = new Map<string, string>();

/**
 * One flat copy of `text`, shared by every caller with the same text lately (the last
 * {@link SHARED_TEXTS} distinct ones). When a tracker is down, each of a session's torrents fails
 * with the same message, and keeps it: as built (a chain of ~10 concatenated strings, ~270 B)
 * that is paid per torrent.
 */
export function sharedText(text: string): string {
  // A copy made from bytes is flat; the caller's concatenation would keep its pieces.
  return remembered(sharedTexts, SHARED_TEXTS, text, () => Buffer.from(text, 'utf8').toString('utf8'));
}

/** Every failure of this package: a code, the tracker URL it concerns (if any) and a clear message. */
export class TrackerError extends Error {
  override readonly name = 'TrackerError';
  /** The message without the tracker URL in front (for a display that names the tracker already). */
  readonly detail: string;
  constructor(
    readonly code: TrackerErrorCode,
    message: string,
    /** The tracker the failure concerns; empty when not about one tracker. */
    readonly url = '',
    options?: { cause?: unknown },
  ) {
    super(sharedText(url ? `${url}: ${message}` : message), options);
    this.detail = sharedText(message);
  }
}

/** Wraps anything thrown into a TrackerError (TrackerErrors pass through unchanged). */
export function toTrackerError(err: unknown, url: string, fallback: TrackerErrorCode = 'NETWORK'): TrackerError {
  if (err instanceof TrackerError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new TrackerError(fallback, message, url, { cause: err });
}
