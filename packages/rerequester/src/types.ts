import type { ScrapeEntry, TrackerSuccess } from '@mainline/metainfo';
import { TrackerError } from './errors.js';

/** The `event` of an announce; `none` (or absent) is a regular re-announce. */
export type AnnounceEvent = 'started' | 'completed' | 'stopped' | 'none';

/** One announce as sent to a tracker (HTTP or UDP). Counts are bytes. */
export interface AnnounceRequest {
  /** 20-byte SHA-1 info-hash. */
  infoHash: Uint8Array;
  /** Our 20-byte peer id. */
  peerId: Uint8Array;
  /** Port we accept peer connections on. */
  port: number;
  uploaded: number;
  downloaded: number;
  left: number;
  event?: AnnounceEvent;
  /** Peers wanted; absent = the tracker's default (HTTP) / -1 (UDP). */
  numwant?: number;
  /** Per-session random key (uint32): HTTP sends it as 8 hex digits. */
  key: number;
  /** The tracker's `tracker id` from an earlier reply, echoed back as `trackerid` (HTTP only). */
  trackerId?: Uint8Array;
  /** Address to report (HTTP `ip`; UDP only when it is dotted IPv4). */
  ip?: string;
}

/** A successful announce reply (HTTP replies as checked by `@mainline/metainfo`; UDP replies mapped to it). */
export type AnnounceResponse = TrackerSuccess;

/** One try of a request, as it goes out (UDP resends on silence; HTTP makes one try). */
export interface RequestAttempt {
  /** 1 for the first try. */
  attempt: number;
  /** Tries before the request fails with `TIMEOUT`. */
  maxAttempts: number;
  /** How long this try waits for an answer before the next try (or the failure). */
  timeoutMs: number;
}

/** Per-call options of a tracker request. */
export interface RequestOptions {
  /** Abort the request: it rejects with a TrackerError `ABORTED`. */
  signal?: AbortSignal;
  /** Told as each try goes out, so a UI can say "no answer yet, retrying in 12 s". Must not throw. */
  onAttempt?: (attempt: RequestAttempt) => void;
}

/** One tracker (one URL) speaking one protocol. */
export interface Tracker {
  readonly url: string;
  /** Announces; resolves with the reply or rejects with a TrackerError (never anything else). */
  announce(request: AnnounceRequest, options?: RequestOptions): Promise<AnnounceResponse>;
  /**
   * Scrapes (BEP 48 / BEP 15): counts keyed by lower-case hex info-hash. Hashes the tracker does
   * not know are absent from the map. Rejects with a TrackerError.
   */
  scrape(infoHashes: readonly Uint8Array[], options?: RequestOptions): Promise<Map<string, ScrapeEntry>>;
  /** Releases sockets; later calls fail. Harmless to call twice. */
  close(): void;
}

const U64_MAX = Number.MAX_SAFE_INTEGER;

function checkCount(name: string, v: unknown, max = U64_MAX): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) {
    throw new TrackerError('BAD_ARGUMENT', `${name} must be an integer in 0..${max}, got ${String(v)}`);
  }
}

export function checkHash(name: string, v: unknown): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== 20) {
    const got = v instanceof Uint8Array ? `${v.length} bytes` : typeof v;
    throw new TrackerError('BAD_ARGUMENT', `${name} must be 20 bytes, got ${got}`);
  }
}

const EVENTS: ReadonlySet<string> = new Set(['started', 'completed', 'stopped', 'none']);

/** Throws a TrackerError `BAD_ARGUMENT` describing the first bad field of `r`. */
export function checkAnnounceRequest(r: AnnounceRequest): void {
  if (r === null || typeof r !== 'object') throw new TrackerError('BAD_ARGUMENT', 'announce request must be an object');
  checkHash('infoHash', r.infoHash);
  checkHash('peerId', r.peerId);
  checkCount('port', r.port, 65535);
  checkCount('uploaded', r.uploaded);
  checkCount('downloaded', r.downloaded);
  checkCount('left', r.left);
  checkCount('key', r.key, 0xffffffff);
  if (r.numwant !== undefined) checkCount('numwant', r.numwant, 0x7fffffff);
  if (r.event !== undefined && !EVENTS.has(r.event)) {
    throw new TrackerError('BAD_ARGUMENT', `event must be started, completed, stopped or none, got ${String(r.event)}`);
  }
  if (r.trackerId !== undefined && !(r.trackerId instanceof Uint8Array)) {
    throw new TrackerError('BAD_ARGUMENT', 'trackerId must be bytes');
  }
  if (r.ip !== undefined && (typeof r.ip !== 'string' || r.ip.length === 0)) {
    throw new TrackerError('BAD_ARGUMENT', 'ip must be a non-empty string');
  }
}

export function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

/** Calls a request's `onAttempt` listener; a listener that throws is the caller's bug, not the request's. */
export function tellAttempt(listener: RequestOptions['onAttempt'], attempt: RequestAttempt): void {
  try {
    listener?.(attempt);
  } catch {
    // ignored: the request goes on
  }
}
