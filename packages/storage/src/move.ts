import { copyFile, lstat, mkdir, rename, rmdir, unlink, utimes } from 'node:fs/promises';
import { dirname, sep } from 'node:path';
import { StorageError, toStorageError } from './errors.js';
import { nodeFs } from './fs.js';
import { PathGuard } from './guard.js';
import { FileLayout, type FileEntry } from './layout.js';
import { partsPathOf } from './storage.js';

export interface MoveDataOptions {
  /** The download root the data is in now, and the one it goes to. */
  readonly from: string;
  readonly to: string;
  /** The torrent's files under the root (as given to the Storage). */
  readonly files: readonly FileEntry[];
  /** The Storage's `name` (its parts file is `<root>/.<name>.parts`). Default 'torrent'. */
  readonly name?: string;
}

export interface MoveDataResult {
  /** Files moved, by their new paths. */
  readonly moved: string[];
  /** Directories under `from` that became empty and were removed. */
  readonly removedDirs: string[];
}

/**
 * Moves a torrent's data to another download root, as Transmission's "set location" with move:
 * exactly its own files and its parts file, each to the same relative path under `to`, then the
 * directories under `from` that became empty. Safe by construction:
 * - nothing is overwritten: a file already at a destination path stops the move before any file
 *   moves (a StorageError IO naming the path);
 * - a symbolic link is never followed, at a file's path or on the way to it, on either side
 *   (PATH_ESCAPE), and only regular files move;
 * - a file is renamed where it can be; across file systems it is copied to a temporary name,
 *   given its times back (so a resume record still matches it), renamed into place, and the
 *   original is removed only once every file has arrived;
 * - on a failure half-way, what was moved goes back, so the data stays whole in one place.
 * Files that do not exist (not created yet) are skipped. The storage must be closed.
 */
export async function moveTorrentData(options: MoveDataOptions): Promise<MoveDataResult> {
  const src = new FileLayout(options.from, options.files, 1);
  const dst = new FileLayout(options.to, options.files, 1);
  if (src.root === dst.root) return { moved: [], removedDirs: [] };
  const srcGuard = new PathGuard(nodeFs, src.root);
  const dstGuard = new PathGuard(nodeFs, dst.root);
  const from = [...src.paths, partsPathOf(src, options.name)];
  const to = [...dst.paths, partsPathOf(dst, options.name)];
  const plan: { from: string; to: string }[] = [];
  for (let i = 0; i < from.length; i++) {
    const st = await srcGuard.check(from[i]!);
    if (st === null) continue;
    if (!st.isFile()) throw new StorageError('IO', `${from[i]} is not a regular file; nothing was moved`, { path: from[i]!, operation: 'open' });
    if ((await dstGuard.check(to[i]!)) !== null) throw new StorageError('IO', `${to[i]} already exists; nothing was moved`, { path: to[i]!, operation: 'open' });
    plan.push({ from: from[i]!, to: to[i]! });
  }
  const done: { from: string; to: string; copied: boolean }[] = [];
  try {
    for (const step of plan) {
      await mkdir(dirname(step.to), { recursive: true });
      // A directory made just now must not be a link planted meanwhile.
      await dstGuard.check(step.to);
      done.push({ ...step, copied: await moveOne(step.from, step.to) });
    }
  } catch (err) {
    for (const step of done.reverse()) {
      if (step.copied) await unlink(step.to).catch(() => undefined);
      else await rename(step.to, step.from).catch(() => undefined);
    }
    throw err instanceof StorageError ? err : toStorageError(err, 'write', options.to);
  }
  for (const step of done) if (step.copied) await unlink(step.from).catch(() => undefined);
  const removedDirs = await removeEmptyDirs(src.root, plan.map((s) => s.from));
  return { moved: done.map((s) => s.to), removedDirs };
}

/** Renames, or copies across file systems; true when copied (the original is still there). */
async function moveOne(from: string, to: string): Promise<boolean> {
  try {
    await rename(from, to);
    return false;
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'EXDEV') throw err;
  }
  const tmp = `${to}.moving`;
  try {
    await copyFile(from, tmp);
    const st = await lstat(from);
    await utimes(tmp, st.atime, st.mtime);
    await rename(tmp, to);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  return true;
}

/** The directories between `root` (excluded) and each path that are now empty, deepest first. */
async function removeEmptyDirs(root: string, paths: readonly string[]): Promise<string[]> {
  const dirs = new Set<string>();
  for (const p of paths) for (let d = dirname(p); d.startsWith(root + sep); d = dirname(d)) dirs.add(d);
  const removed: string[] = [];
  for (const dir of [...dirs].sort((a, b) => b.length - a.length)) {
    try {
      if (!(await lstat(dir)).isDirectory()) continue;
      await rmdir(dir);
      removed.push(dir);
    } catch {
      // not empty (or gone): it stays
    }
  }
  return removed;
}
