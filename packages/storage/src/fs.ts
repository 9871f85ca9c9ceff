import { mkdir, open, stat } from 'node:fs/promises';

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
  isFile(): boolean;
}

/**
 * The file system under a Storage. The default is node:fs/promises; tests and embedders may inject
 * another (to simulate ENOSPC/EACCES/EIO, count descriptors, or store elsewhere). Errors must carry
 * Node's errno `code` ('ENOENT', 'ENOSPC', ...).
 */
export interface StorageFs {
  /** Opens with a Node flag string: 'r' (read), 'r+' (read/write, must exist), 'wx' (create, must not exist), 'a' (create if missing). */
  open(path: string, flags: string): Promise<StorageFileHandle>;
  mkdir(path: string, options: { recursive: true }): Promise<unknown>;
  stat(path: string): Promise<StorageStat>;
}

/** node:fs/promises. */
export const nodeFs: StorageFs = {
  open: (path, flags) => open(path, flags),
  mkdir: (path, options) => mkdir(path, options),
  stat: (path) => stat(path),
};
