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
 * include earlier sessions, so each torrent counts from a baseline taken when its data opened;
 * deltas are folded in as they grow, and a removed torrent's last delta stays counted.
 */
export class Accounting {
  readonly #startedMs: number;
  #saved: SavedTotals = { uploadedBytes: 0, downloadedBytes: 0, filesAdded: 0, secondsActive: 0, sessionCount: 0 };
  readonly #current = { up: 0, down: 0, added: 0 };
  readonly #baseline = new Map<number, { up: number; down: number }>();

  constructor(startedMs: number) {
    this.#startedMs = startedMs;
  }

  /** The totals of earlier sessions; this start counts as one more session. */
  load(saved: SavedTotals): void {
    this.#saved = { ...saved, sessionCount: saved.sessionCount + 1 };
  }

  /** Starts counting torrent `id` from its totals now (once: a later call keeps the first baseline). */
  baseline(id: number, t: Totals): void {
    if (!this.#baseline.has(id)) this.#baseline.set(id, { up: t.uploaded, down: t.downloaded });
  }

  /** Folds what torrent `id` moved since the last count into this session's totals. */
  count(id: number, t: Totals): void {
    const b = this.#baseline.get(id);
    if (!b) return;
    // The torrent's totals only grow within this daemon (a recheck keeps them), so deltas add up.
    this.#current.up += Math.max(0, t.uploaded - b.up);
    this.#current.down += Math.max(0, t.downloaded - b.down);
    b.up = t.uploaded;
    b.down = t.downloaded;
  }

  /** Counts a removed torrent one last time and stops following it. */
  forget(id: number, t: Totals): void {
    this.count(id, t);
    this.#baseline.delete(id);
  }

  fileAdded(): void {
    this.#current.added++;
  }

  /** This session's traffic and the totals over every session, at `nowMs`. */
  traffic(nowMs: number): { current: TrafficStats; cumulative: TrafficStats } {
    const secondsActive = Math.max(0, Math.floor((nowMs - this.#startedMs) / 1000));
    const c = this.#current;
    const current = { uploadedBytes: c.up, downloadedBytes: c.down, filesAdded: c.added, secondsActive, sessionCount: 1 };
    const s = this.#saved;
    return {
      current,
      cumulative: {
        uploadedBytes: s.uploadedBytes + c.up,
        downloadedBytes: s.downloadedBytes + c.down,
        filesAdded: s.filesAdded + c.added,
        secondsActive: s.secondsActive + secondsActive,
        sessionCount: s.sessionCount,
      },
    };
  }
}
