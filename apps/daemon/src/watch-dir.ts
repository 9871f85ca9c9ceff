import { readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '@mainline/rate';
import { DaemonError } from './errors.js';
import { MAX_TORRENT_BYTES, readTorrentFile } from './local-torrent.js';

export interface WatchDirOptions {
  dir: string;
  intervalMs: number;
  clock: Clock;
  /** Adds a torrent; a DaemonError means the file is not a torrent we can add (renamed `.invalid`). */
  add: (bytes: Uint8Array) => Promise<{ id: number; duplicate: boolean }>;
  log: (line: string) => void;
  /** Whether an added file is deleted (Transmission's trash-original-torrent-files) instead of renamed `.added`. */
  trash?: () => boolean;
}

/** A file younger than this may still be being written: it waits for the next scan. */
const SETTLE_MS = 1000;

/**
 * The watch directory: every `.torrent` dropped in it is added and renamed `.added` (or `.invalid`
 * when it is not a torrent), polled every `intervalMs` on the clock. One scan at a time.
 */
export class WatchDir {
  readonly #o: WatchDirOptions;
  #timer: TimerHandle | undefined;
  #scanning: Promise<void> | undefined;
  #closed = false;

  constructor(options: WatchDirOptions) {
    this.#o = options;
  }

  /** Scans once now, then every interval. */
  async start(): Promise<void> {
    await this.scan();
    this.#arm();
  }

  #arm(): void {
    if (this.#closed) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      void this.scan().finally(() => this.#arm());
    }, this.#o.intervalMs);
  }

  /** One pass over the directory (joins the pass already running). */
  scan(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#scanning ??= this.#scan().finally(() => (this.#scanning = undefined));
    return this.#scanning;
  }

  async #scan(): Promise<void> {
    const { dir, log } = this.#o;
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (this.#closed) return;
      if (!name.toLowerCase().endsWith('.torrent')) continue;
      const file = join(dir, name);
      try {
        const st = await stat(file);
        if (!st.isFile() || this.#o.clock.now() - st.mtimeMs < SETTLE_MS) continue;
        try {
          const bytes = await readTorrentFile(file, [dir], MAX_TORRENT_BYTES);
          const { id, duplicate } = await this.#o.add(bytes);
          if (duplicate) log(`watch dir: ${name} is already #${id}`);
          if (this.#o.trash?.() === true) await rm(file, { force: true });
          else await rename(file, `${file}.added`);
        } catch (err) {
          if (!(err instanceof DaemonError)) throw err;
          log(`watch dir: ${name}: ${err.message}; renamed to ${name}.invalid`);
          await rename(file, `${file}.invalid`);
        }
      } catch (err) {
        log(`watch dir: ${name}: ${(err as Error).message}`);
      }
    }
  }

  /** Stops polling; waits for a scan in progress. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) this.#o.clock.clearTimeout(this.#timer);
    await this.#scanning;
  }
}
