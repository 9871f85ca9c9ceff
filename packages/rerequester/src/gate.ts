import { SlotGate, type Clock } from '@mainline/rate';
import { TrackerError } from './errors.js';

/** Most tracker requests in flight at once by default (Transmission starts at most 20 announces per upkeep). */
export const DEFAULT_TRACKER_REQUESTS = 20;
/** How long a request keeps its slot by default before it stops counting (see {@link RequestGateOptions.maxHoldMs}). */
export const DEFAULT_MAX_HOLD_MS = 5_000;

export interface RequestGateOptions {
  /** Most requests holding a slot at once (default {@link DEFAULT_TRACKER_REQUESTS}). */
  limit?: number;
  /**
   * Longest a request keeps its slot (default 5 s). One that takes longer (a dead tracker that
   * lets HTTP run to its 60 s deadline, a UDP tracker being asked again) goes on but no longer
   * counts, so one dead tracker cannot hold every other torrent's announce up for a minute.
   */
  maxHoldMs?: number;
  clock?: Clock;
}

export type { ReleaseSlot } from '@mainline/rate';

/**
 * A session-wide limit on tracker requests in flight: the rest wait their turn, first come first
 * served. 900 torrents starting together then open ~20 sockets to their tracker at a time, not 900
 * (each with an HTTP parser node keeps afterwards, and a start-up memory peak that leaves the heap
 * fragmented). Every announcer of a session is given the same gate (`AnnouncerOptions.gate`).
 * A `SlotGate` (@mainline/rate) with the tracker defaults: `urgent` is for a `stopped` announce,
 * sent once as a torrent goes (its own short deadline; it must not be lost behind a queue), and a
 * request whose signal aborts while waiting is refused with TrackerError `ABORTED`.
 */
export class RequestGate extends SlotGate {
  constructor(options: RequestGateOptions = {}) {
    const limit = options.limit ?? DEFAULT_TRACKER_REQUESTS;
    if (!Number.isInteger(limit) || limit < 1) throw new TrackerError('BAD_ARGUMENT', `the tracker request limit must be an integer ≥ 1, got ${String(limit)}`);
    const hold = options.maxHoldMs ?? DEFAULT_MAX_HOLD_MS;
    if (typeof hold !== 'number' || Number.isNaN(hold) || hold <= 0) throw new TrackerError('BAD_ARGUMENT', `maxHoldMs must be a number > 0, got ${String(hold)}`);
    super({ limit, maxHoldMs: hold, ...(options.clock ? { clock: options.clock } : {}), aborted });
  }
}

function aborted(): TrackerError {
  return new TrackerError('ABORTED', 'request cancelled while waiting for a tracker slot');
}
