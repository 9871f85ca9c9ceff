/**
 * Why a storage operation failed. Disk errors keep their errno name (ENOSPC, EACCES, EROFS, EIO,
 * ENOENT, EMFILE, ENOTDIR, EISDIR); any other errno is reported as IO. The rest are ours:
 * - TRUNCATED: a file is shorter than data we wrote or verified there (changed behind our back);
 * - MISSING: bytes of a skipped file that should sit in the parts file are not there;
 * - PATH_ESCAPE: a file path would resolve outside the download root, or passes through a
 *   symbolic link below it (a link is never followed, so no write lands outside the root);
 * - READ_ONLY: a write asked of a storage opened read-only;
 * - NO_SPACE: the wanted files need more space than the file system has free (checked at open,
 *   before anything is created; see StorageOptions.checkFreeSpace);
 * - BAD_INPUT: invalid constructor or call arguments;
 * - OUT_OF_RANGE: a byte range or piece/block index outside the torrent;
 * - NOT_HAD: a block of a piece that is not verified was asked for (uploads serve verified data only);
 * - BAD_RESUME: a resume record that does not decode or does not fit this torrent;
 * - FAILED: the store stopped after an earlier disk error (see `cause`);
 * - CLOSED: the storage was closed.
 */
export type StorageErrorCode =
  | 'ENOSPC'
  | 'EACCES'
  | 'EROFS'
  | 'EIO'
  | 'ENOENT'
  | 'EMFILE'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'IO'
  | 'TRUNCATED'
  | 'MISSING'
  | 'PATH_ESCAPE'
  | 'READ_ONLY'
  | 'NO_SPACE'
  | 'BAD_INPUT'
  | 'OUT_OF_RANGE'
  | 'NOT_HAD'
  | 'BAD_RESUME'
  | 'FAILED'
  | 'CLOSED';

/** What was being done when the error happened. */
export type StorageOperation =
  | 'open'
  | 'read'
  | 'write'
  | 'truncate'
  | 'allocate'
  | 'mkdir'
  | 'stat'
  | 'close'
  | 'sync'
  | 'hash'
  | 'resume'
  | 'check'
  | 'delete';

export interface StorageErrorDetails {
  /** The file concerned, when there is one (absolute path). */
  readonly path?: string;
  readonly operation?: StorageOperation;
  /** The original error (a Node system error for disk failures). */
  readonly cause?: unknown;
  /** The raw errno name of the underlying system error, e.g. 'ENOSPC' or 'EDQUOT'. */
  readonly errno?: string;
}

const ERRNO_CODES: ReadonlySet<string> = new Set(['ENOSPC', 'EACCES', 'EROFS', 'EIO', 'ENOENT', 'EMFILE', 'ENOTDIR', 'EISDIR']);

/** Every failure of this package: a stable code, the file and the operation, plus a message for people. */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  readonly code: StorageErrorCode;
  readonly path: string | undefined;
  readonly operation: StorageOperation | undefined;
  readonly errno: string | undefined;

  constructor(code: StorageErrorCode, message: string, details: StorageErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.path = details.path;
    this.operation = details.operation;
    this.errno = details.errno;
  }

  /** Whether this error means the disk (or the files on it) failed, as opposed to bad arguments. */
  get isDiskError(): boolean {
    return !(this.code === 'BAD_INPUT' || this.code === 'OUT_OF_RANGE' || this.code === 'NOT_HAD' || this.code === 'BAD_RESUME');
  }
}

/** Wraps anything thrown by the file system layer into a StorageError (StorageErrors pass through). */
export function toStorageError(err: unknown, operation: StorageOperation, path?: string): StorageError {
  if (err instanceof StorageError) return err;
  if ((err as { code?: unknown } | null)?.code === 'ELOOP' && path !== undefined) {
    // Only O_NOFOLLOW makes open(2) fail so on a path we checked: the last component is a link.
    return new StorageError('PATH_ESCAPE', `${path} is a symbolic link; refusing to follow it`, { path, operation, cause: err, errno: 'ELOOP' });
  }
  const errno = typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : undefined;
  const code: StorageErrorCode = errno !== undefined && ERRNO_CODES.has(errno) ? (errno as StorageErrorCode) : 'IO';
  const reason = err instanceof Error ? err.message : String(err);
  return new StorageError(code, `${operation} failed${path === undefined ? '' : ` on ${path}`}: ${reason}`, {
    path,
    operation,
    cause: err,
    errno,
  });
}
