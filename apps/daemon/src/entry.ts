import type { MagnetLink, Metainfo } from '@mainline/metainfo';
import type { MagnetDownload, Torrent, TorrentState } from '@mainline/session';
import type { TorrentRecord } from './state.js';

/** One torrent as the daemon knows it: a small id stable for the daemon's lifetime, its record. */
export interface Entry {
  readonly kind: 'torrent';
  readonly id: number;
  readonly torrent: Torrent;
  readonly meta: Metainfo;
  record: TorrentRecord;
  /** The torrent's state when its last state event came (what a change comes from). */
  lastState: TorrentState;
  /** Unix seconds of the last start and of the last data moved. */
  startDate: number;
  activityDate: number;
  /** Set when the seed ratio was reached and the torrent stopped itself. */
  finished: boolean;
  /** A verify was asked for and has not begun hashing yet (Transmission's "Will Verify"). */
  verifyQueued: boolean;
  /** Started, but waiting for a slot of the download or seed queue (status 3 / 5). */
  queued: boolean;
  /** Being started: waiting for a slot of the daemon's start gate (status 1), or opening its data. */
  starting: boolean;
  /** Its data is being moved from the incomplete dir to the download dir. */
  moving: boolean;
  /** Unix seconds of the next scrape of its trackers, and whether one is in flight. */
  nextScrapeAt: number;
  scraping: boolean;
}

/** Entry's yes/no fields, kept as the bits of one number (bit i: FLAGS[i]). */
const FLAGS = ['finished', 'verifyQueued', 'queued', 'starting', 'moving', 'scraping'] as const;

/**
 * An Entry as the daemon keeps one per torrent for its whole life: `kind` and `meta` (the
 * torrent's own) on the prototype and the six flags in one number, so that an idle torrent's
 * entry is 8 fields instead of 15.
 */
export class TorrentEntry implements Entry {
  readonly id: number;
  readonly torrent: Torrent;
  record: TorrentRecord;
  lastState: TorrentState;
  startDate = 0;
  activityDate = 0;
  nextScrapeAt = 0;
  #flags = 0;
  // Accessors on the prototype (defined below), one bit of #flags each.
  declare finished: boolean;
  declare verifyQueued: boolean;
  declare queued: boolean;
  declare starting: boolean;
  declare moving: boolean;
  declare scraping: boolean;

  static {
    FLAGS.forEach((name, i) => {
      Object.defineProperty(TorrentEntry.prototype, name, {
        get(this: TorrentEntry): boolean {
          return (this.#flags & (1 << i)) !== 0;
        },
        set(this: TorrentEntry, on: boolean): void {
          this.#flags = on ? this.#flags | (1 << i) : this.#flags & ~(1 << i);
        },
      });
    });
  }

  constructor(id: number, torrent: Torrent, record: TorrentRecord) {
    this.id = id;
    this.torrent = torrent;
    this.record = record;
    this.lastState = torrent.state;
  }

  get kind(): 'torrent' {
    return 'torrent';
  }

  get meta(): Metainfo {
    return this.torrent.meta;
  }
}

/**
 * A magnet link whose metadata is not here yet (Transmission shows these with their id and
 * `metadataPercentComplete` < 1). When the metadata arrives an Entry with the same id replaces it.
 */
export interface MagnetEntry {
  readonly kind: 'magnet';
  readonly id: number;
  readonly link: MagnetLink;
  /** The fetch; undefined while stopped. */
  download: MagnetDownload | undefined;
  /** Why the last fetch failed (cleared by a start). */
  error: string | undefined;
  record: TorrentRecord;
  startDate: number;
  activityDate: number;
  /** Waiting for a download slot of the queue (status 3): the fetch starts when one is free. */
  queued: boolean;
}

/** What an RPC id names: a torrent, or a magnet link still fetching its metadata. */
export type AnyEntry = Entry | MagnetEntry;

/** A magnet whose fetch runs (or whose torrent is being added). */
export function magnetFetching(e: MagnetEntry): boolean {
  const state = e.download?.state;
  return state === 'fetching-metadata' || state === 'adding';
}

/** Saves the verified counts in the record (when the data is open): a stopped torrent shows them after a restart. */
export function noteHave(entry: Entry): void {
  if (!entry.torrent.store) return;
  const s = entry.torrent.stats();
  entry.record.haveBytes = s.haveBytes;
  entry.record.leftUntilDone = s.wantedLeft;
}

/** Every wanted piece is verified (or was, when last saved): it takes a seed slot in the queue. */
export function isDone(e: Entry): boolean {
  if (e.torrent.store) return e.torrent.activity().wantedLeft === 0;
  return e.record.leftUntilDone === 0 || e.record.haveBytes >= e.meta.totalLength;
}
