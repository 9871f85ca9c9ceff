import type { StorageFileHandle, StorageFs } from './fs.js';
import { toStorageError } from './errors.js';

interface Entry {
  readonly path: string;
  readonly writable: boolean;
  readonly handle: Promise<StorageFileHandle>;
  refs: number;
  /** Replaced by a writable handle, or evicted while in use: close when the last user leaves. */
  retired: boolean;
}

/**
 * A bounded pool of open files, least-recently-used first out. At most `max` descriptors are ever
 * open at once (counting ones being opened and ones waiting to close), so a torrent with thousands
 * of files never hits EMFILE. A handle in use is never closed under its user: when every slot is
 * busy, callers queue until one is released. Files open read-only ('r') until first written, then
 * reopen read/write ('r+'), so a read-only seed directory still serves.
 */
export class FdPool {
  private readonly entries = new Map<string, Entry>(); // insertion order = LRU order
  private live = 0;
  private readonly waiters: (() => void)[] = [];
  private peak = 0;
  private readonly idleWaiters: (() => void)[] = [];
  private readonly closeErrors: unknown[] = [];

  constructor(
    private readonly fs: StorageFs,
    readonly max: number,
  ) {}

  /** Descriptors open (or opening / closing) right now. */
  get openCount(): number {
    return this.live;
  }

  /** The most descriptors ever open at once. */
  get peakOpenCount(): number {
    return this.peak;
  }

  /** Runs `fn` with an open handle on `path`; the handle stays pinned until `fn` settles. */
  async use<T>(path: string, writable: boolean, fn: (h: StorageFileHandle) => Promise<T>): Promise<T> {
    const entry = await this.acquire(path, writable);
    try {
      const h = await entry.handle;
      return await fn(h);
    } finally {
      this.release(entry);
    }
  }

  /**
   * Runs `fn` while holding one descriptor slot of the pool, for a file opened outside it (creating
   * files at startup); an idle handle is closed to make room if needed.
   */
  async withSlot<T>(fn: () => Promise<T>): Promise<T> {
    while (this.live >= this.max) await this.makeRoom();
    this.live++;
    this.peak = Math.max(this.peak, this.live);
    try {
      return await fn();
    } finally {
      this.live--;
      this.wake();
    }
  }

  private async acquire(path: string, writable: boolean): Promise<Entry> {
    for (;;) {
      const existing = this.entries.get(path);
      if (existing !== undefined && (existing.writable || !writable)) {
        existing.refs++;
        this.entries.delete(path);
        this.entries.set(path, existing);
        return existing;
      }
      // A read-only handle being upgraded closes once its current users are done.
      if (existing !== undefined) this.retire(existing);
      if (this.live < this.max) return this.openEntry(path, writable);
      await this.makeRoom();
    }
  }

  /** Starts closing the least recently used idle handle, then waits for a slot event. */
  private makeRoom(): Promise<void> {
    this.evictOne();
    return new Promise<void>((wake) => this.waiters.push(wake));
  }

  private openEntry(path: string, writable: boolean): Entry {
    this.live++;
    this.peak = Math.max(this.peak, this.live);
    const handle = this.fs.open(path, writable ? 'r+' : 'r').catch((err: unknown) => Promise.reject(toStorageError(err, 'open', path)));
    const entry: Entry = { path, writable, handle, refs: 1, retired: false };
    this.entries.set(path, entry);
    handle.catch(() => {
      // A failed open holds no descriptor; forget it so the next caller retries.
      if (this.entries.get(path) === entry) this.entries.delete(path);
      entry.retired = true;
      this.live--;
      this.wake();
    });
    return entry;
  }

  /** Closes the least recently used idle handle. */
  private evictOne(): boolean {
    for (const entry of this.entries.values()) {
      if (entry.refs === 0) {
        this.retire(entry);
        return true;
      }
    }
    return false;
  }

  private retire(entry: Entry): void {
    if (this.entries.get(entry.path) === entry) this.entries.delete(entry.path);
    if (entry.retired) return;
    entry.retired = true;
    if (entry.refs === 0) this.closeEntry(entry);
  }

  private closeEntry(entry: Entry): void {
    // The slot counts as used until close() returns.
    void entry.handle
      .then((h) => h.close())
      .then(
        () => undefined,
        (err: unknown) => {
          this.closeErrors.push(toStorageError(err, 'close', entry.path));
        },
      )
      .then(() => {
        this.live--;
        this.wake();
      });
  }

  private release(entry: Entry): void {
    entry.refs--;
    if (entry.refs === 0 && entry.retired) {
      // Retired while in use. A handle whose open failed never held a descriptor (its `live`
      // slot was already returned), so only a successful one gets closed.
      entry.handle.then(
        () => this.closeEntry(entry),
        () => undefined,
      );
      return;
    }
    if (entry.refs === 0) this.wake();
  }

  private wake(): void {
    const w = this.waiters.shift();
    if (w !== undefined) w();
    if (this.live === 0) for (const idle of this.idleWaiters.splice(0)) idle();
  }

  /**
   * Closes every handle: idle ones now, busy ones when their user finishes. Resolves once no
   * descriptor is open; rejects with the first close error seen since the last closeAll.
   */
  async closeAll(): Promise<void> {
    for (const entry of [...this.entries.values()]) this.retire(entry);
    while (this.live > 0) await new Promise<void>((r) => this.idleWaiters.push(r));
    const errors = this.closeErrors.splice(0);
    if (errors.length > 0) throw errors[0];
  }

  /** fdatasync on every open writable handle. */
  async syncAll(): Promise<void> {
    await Promise.all(
      [...this.entries.values()]
        .filter((e) => e.writable)
        .map((e) => this.use(e.path, true, (h) => h.datasync().catch((err: unknown) => Promise.reject(toStorageError(err, 'sync', e.path))))),
    );
  }
}
