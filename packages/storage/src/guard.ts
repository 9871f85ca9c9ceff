import { join, sep } from 'node:path';
import type { StorageFs, StorageStat } from './fs.js';
import { StorageError, toStorageError } from './errors.js';

/**
 * Keeps every file operation inside the download root: no directory between the root and a file,
 * nor the file itself, may be a symbolic link (a link planted in the download directory would
 * otherwise send writes, truncations or deletions outside it). The root itself may be a link
 * (a download directory on another disk). Directories found safe are remembered.
 */
export class PathGuard {
  /** Made at the first directory below the root (a single-file torrent has none). */
  private safeDirs: Set<string> | undefined;

  constructor(
    private readonly fs: Pick<StorageFs, 'lstat'>,
    readonly root: string,
  ) {}

  /**
   * lstat of `path` (a resolved path under the root), or null when it does not exist.
   * @throws StorageError PATH_ESCAPE when `path` or one of its directories below the root is a
   *   symbolic link, ENOTDIR when one of those directories is something else than a directory.
   */
  async check(path: string): Promise<StorageStat | null> {
    const base = this.root.endsWith(sep) ? this.root : this.root + sep;
    const components = path.slice(base.length).split(sep);
    let dir = this.root;
    for (const c of components.slice(0, -1)) {
      dir = join(dir, c);
      if (this.safeDirs?.has(dir)) continue;
      const st = await this.lstatOrNull(dir);
      if (st === null) break; // the rest does not exist either: we create it
      if (st.isSymbolicLink()) throw this.escape(dir, path);
      if (!st.isDirectory()) throw new StorageError('ENOTDIR', `${dir} is not a directory (needed for ${path})`, { path: dir, operation: 'open' });
      (this.safeDirs ??= new Set()).add(dir);
    }
    const st = await this.lstatOrNull(path);
    if (st?.isSymbolicLink()) throw this.escape(path, path);
    return st;
  }

  private escape(link: string, path: string): StorageError {
    const what = link === path ? '' : ` (a directory of ${path})`;
    return new StorageError('PATH_ESCAPE', `${link}${what} is a symbolic link; refusing to follow it out of ${this.root}`, { path: link, operation: 'open' });
  }

  private async lstatOrNull(path: string): Promise<StorageStat | null> {
    try {
      return await this.fs.lstat(path);
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') return null;
      throw toStorageError(err, 'stat', path);
    }
  }
}
