import { lstat, rmdir, unlink } from 'node:fs/promises';
import { dirname, sep } from 'node:path';
import { StorageError, toStorageError } from './errors.js';
import { nodeFs } from './fs.js';
import { PathGuard } from './guard.js';
import { FileLayout, type FileEntry } from './layout.js';
import { partsPathOf } from './storage.js';

export interface DeleteDataOptions {
  /** As given to the Storage: the download root and the torrent's files under it. */
  readonly root: string;
  readonly files: readonly FileEntry[];
  /** The Storage's `name` (its parts file is `<root>/.<name>.parts`). Default 'torrent'. */
  readonly name?: string;
}

export interface DeleteDataResult {
  /** Files and directories removed. */
  readonly removed: string[];
  /** Paths of the torrent left in place, and why (a directory, a symbolic link, not empty...). */
  readonly kept: { path: string; reason: string }[];
}

/**
 * Deletes a torrent's data as Transmission does: exactly its own files (zero-length ones too) and
 * the parts file, then the directories they were in that became empty, up to but not including
 * the root. Anything else in those directories stays, and so do they. A symbolic link is never
 * followed: one at a file's path, or on the way to it, is left alone with its target. Absent
 * files are skipped. The storage must be closed.
 */
export async function deleteTorrentData(options: DeleteDataOptions): Promise<DeleteDataResult> {
  const layout = new FileLayout(options.root, options.files, 1);
  const guard = new PathGuard(nodeFs, layout.root);
  const removed: string[] = [];
  const kept: { path: string; reason: string }[] = [];
  const dirs = new Set<string>();
  for (const path of [...layout.paths, partsPathOf(layout, options.name)]) {
    let st;
    try {
      st = await guard.check(path);
    } catch (err) {
      if (!(err instanceof StorageError)) throw err;
      kept.push({ path, reason: err.message });
      // The directories above the link were checked: they may still become empty.
      addDirs(dirs, layout.root, err.path ?? path);
      continue;
    }
    addDirs(dirs, layout.root, path);
    if (st === null) continue;
    if (!st.isFile()) {
      kept.push({ path, reason: 'not a regular file' });
      continue;
    }
    try {
      await unlink(path);
      removed.push(path);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ENOENT') throw toStorageError(err, 'delete', path);
    }
  }
  // Deepest first, so a parent is tried once its children are gone. rmdir removes only empty ones.
  for (const dir of [...dirs].sort((a, b) => b.length - a.length)) {
    try {
      if (!(await lstat(dir)).isDirectory()) continue;
      await rmdir(dir);
      removed.push(dir);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 'ENOENT') continue;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') kept.push({ path: dir, reason: 'not empty' });
      else throw toStorageError(err, 'delete', dir);
    }
  }
  return { removed, kept };
}

/** The directories between `root` (excluded) and `path` (excluded). */
function addDirs(dirs: Set<string>, root: string, path: string): void {
  for (let d = dirname(path); d.startsWith(root + sep); d = dirname(d)) dirs.add(d);
}
