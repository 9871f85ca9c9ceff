import type { SessionRecord } from './state.js';

export interface TrafficStats {
  uploadedBytes: number;
  downloadedBytes: number;
  filesAdded: number;
  secondsActive: number;
  sessionCount: number;
}

/** What accounting reads of a torrent: its totals, which include earlier sessions (resume record). */
export interface Totals {
  readonly uploaded: number;
  readonly downloaded: number;
}

export type SavedTotals = Pick<SessionRecord, 'uploadedBytes' | 'downloadedBytes' | 'filesAdded' | 'secondsActive' | 'sessionCount'>;

/**
 * Transmission's session-stats: this session's uploaded/downloaded bytes, files added and seconds
 * active, and the same over every session (the saved totals plus this one). A torrent's totals
 * include earlier sessions, so each torrent counts from a baseline taken when its data opened,
 * and a removed torrent's last totals stay counted. Nothing is kept per torrent but one bit (is
 * it counted): this session's traffic is what the counted torrents' totals are now, plus the
 * removed ones' last totals, minus every baseline taken (the totals only grow within a daemon:
 * a recheck keeps them).
 */
export class Accounting {
  readonly #startedMs: number;
  #saved: SavedTotals = { uploadedBytes: 0, downloadedBytes: 0, filesAdded: 0, secondsActive: 0, sessionCount: 0 };
  #added = 0;
  /** Bit `id`: torrent `id` has its baseline (ids are small and dense). */
  #counted = new Uint8Array(128);
  /** Sums of every baseline taken, and of the last totals of the torrents no longer followed. */
  readonly #base = { up: 0, down: 0 };
  readonly #gone = { up: 0, down: 0 };

  constructor(startedMs: number) {
    this.#startedMs = startedMs;
  }

  /** The totals of earlier sessions; this start counts as one more session. */
  load(saved: SavedTotals): void {
    this.#saved = { ...saved, sessionCount: saved.sessionCount + 1 };
  }

  /** Starts counting torrent `id` from its totals now (once: a later call keeps the first baseline). */
  baseline(id: number, t: Totals): void {
    if (this.isCounted(id)) return;
    if (id >> 3 >= this.#counted.length) {
      const grown = new Uint8Array(Math.max(this.#counted.length * 2, (id >> 3) + 1));
      grown.set(this.#counted);
      this.#counted = grown;
    }
    this.#counted[id >> 3]! |= 1 << (id & 7);
    this.#base.up += t.uploaded;
    this.#base.down += t.downloaded;
  }

  /** Whether torrent `id` is counted (has its baseline). */
  isCounted(id: number): boolean {
    return ((this.#counted[id >> 3] ?? 0) & (1 << (id & 7))) !== 0;
  }

  /** Counts a removed torrent one last time (its totals now) and stops following it. */
  forget(id: number, t: Totals): void {
    if (!this.isCounted(id)) return;
    this.#counted[id >> 3]! &= ~(1 << (id & 7));
    this.#gone.up += t.uploaded;
    this.#gone.down += t.downloaded;
  }

  fileAdded(): void {
    this.#added++;
  }

  /** This session's traffic and the totals over every session, at `nowMs`, from the torrents listed now. */
  traffic(nowMs: number, torrents: Iterable<{ readonly id: number; readonly torrent: Totals }>): { current: TrafficStats; cumulative: TrafficStats } {
    let up = this.#gone.up - this.#base.up;
    let down = this.#gone.down - this.#base.down;
    for (const { id, torrent } of torrents) {
      if (!this.isCounted(id)) continue;
      up += torrent.uploaded;
      down += torrent.downloaded;
    }
    up = Math.max(0, up);
    down = Math.max(0, down);
    const secondsActive = Math.max(0, Math.floor((nowMs - this.#startedMs) / 1000));
    const current = { uploadedBytes: up, downloadedBytes: down, filesAdded: this.#added, secondsActive, sessionCount: 1 };
    const s = this.#saved;
    return {
      current,
      cumulative: {
        uploadedBytes: s.uploadedBytes + up,
        downloadedBytes: s.downloadedBytes + down,
        filesAdded: s.filesAdded + this.#added,
        secondsActive: s.secondsActive + secondsActive,
        sessionCount: s.sessionCount,
      },
    };
  }
}
