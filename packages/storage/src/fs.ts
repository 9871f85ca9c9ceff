import { constants } from 'node:fs';
import { lstat, mkdir, open, stat, statfs } from 'node:fs/promises';

/** The part of a fs/promises FileHandle that storage uses: positional I/O only, no seek state. */
export interface StorageFileHandle {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  truncate(length: number): Promise<void>;
  stat(): Promise<{ size: number }>;
  datasync(): Promise<void>;
  close(): Promise<void>;
}

export interface StorageStat {
  size: number;
  mtimeMs: number;
  /** 512-byte blocks allocated on disk (less than size/512 for a sparse file), when the file system tells. */
  blocks?: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
}

/** Free space of a file system, as statfs(2) reports it. */
export interface StorageStatFs {
  /** Blocks available to an unprivileged user. */
  bavail: number;
  bsize: number;
}

/**
 * The file system under a Storage. The default is node:fs/promises; tests and embedders may inject
 * another (to simulate ENOSPC/EACCES/EIO or a small disk, count descriptors, or store elsewhere).
 * Errors must carry Node's errno `code` ('ENOENT', 'ENOSPC', 'ELOOP', ...).
 */
export interface StorageFs {
  /**
   * Opens with a Node flag string: 'r' (read), 'r+' (read/write, must exist), 'wx' (create, must
   * not exist), 'a' (create if missing). Must not follow a symbolic link in the last component
   * (nodeFs opens with O_NOFOLLOW: ELOOP).
   */
  open(path: string, flags: string): Promise<StorageFileHandle>;
  mkdir(path: string, options: { recursive: true }): Promise<unknown>;
  stat(path: string): Promise<StorageStat>;
  /** As stat, but a symbolic link is described itself, not followed. */
  lstat(path: string): Promise<StorageStat>;
  statfs(path: string): Promise<StorageStatFs>;
}

// O_NOFOLLOW is 0 where the platform has none (Windows): the lstat checks of Storage still apply.
const NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const FLAGS: Record<string, number> = {
  r: constants.O_RDONLY | NOFOLLOW,
  'r+': constants.O_RDWR | NOFOLLOW,
  wx: constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | NOFOLLOW,
  a: constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | NOFOLLOW,
};

/** The numeric open(2) flags for a Node flag string, with O_NOFOLLOW (also used by the piece threads). */
export function noFollowFlags(flags: string): number {
  const n = FLAGS[flags];
  if (n === undefined) throw new TypeError(`unsupported open flags ${JSON.stringify(flags)}`);
  return n;
}

/** node:fs/promises, opening with O_NOFOLLOW. */
export const nodeFs: StorageFs = {
  open: (path, flags) => open(path, noFollowFlags(flags), 0o666),
  mkdir: (path, options) => mkdir(path, options),
  stat: (path) => stat(path),
  lstat: (path) => lstat(path),
  statfs: (path) => statfs(path),
};
