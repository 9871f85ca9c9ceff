import type { StorageFileHandle } from './fs.js';
import { StorageError, toStorageError } from './errors.js';

/** Positional read of exactly `length` bytes; end of file before that is TRUNCATED. */
export async function readFully(h: StorageFileHandle, buf: Uint8Array, offset: number, length: number, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = (await h.read(buf, offset + done, length - done, position + done)).bytesRead;
    } catch (err) {
      throw toStorageError(err, 'read', path);
    }
    if (n === 0) {
      throw new StorageError('TRUNCATED', `${path} ends at ${position + done}, expected data up to ${position + length}`, { path, operation: 'read' });
    }
    done += n;
  }
}

/** Positional write of exactly `length` bytes. */
export async function writeFully(h: StorageFileHandle, buf: Uint8Array, offset: number, length: number, position: number, path: string): Promise<void> {
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = (await h.write(buf, offset + done, length - done, position + done)).bytesWritten;
    } catch (err) {
      throw toStorageError(err, 'write', path);
    }
    if (n <= 0) throw new StorageError('IO', `write to ${path} made no progress`, { path, operation: 'write' });
    done += n;
  }
}
