import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import { isAbsolute, resolve, sep } from 'node:path';
import { DaemonError } from './errors.js';

/** The largest .torrent the daemon reads (from a path, a URL or an RPC body). */
export const MAX_TORRENT_BYTES = 10 * 1024 * 1024;

const inside = (path: string, dir: string): boolean => path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/**
 * Reads a .torrent named by a local path (`torrent-add {filename: "/path"}`, the watch
 * directory): only from inside one of `dirs` (after resolving symbolic links, so a link cannot
 * lead out), only a regular file (not /dev/zero, a FIFO, a directory), and at most `maxBytes`
 * (a file that grows while read is cut off there and refused). A path outside `dirs` is refused
 * before the file system is asked anything about it.
 */
export async function readTorrentFile(path: string, dirs: readonly string[], maxBytes: number): Promise<Buffer> {
  if (!isAbsolute(path)) throw new DaemonError(`cannot read ${path}: not an absolute path`);
  const refused = (): DaemonError => new DaemonError(`refusing to read ${path}: not inside the watch directory or a directory of the daemon setting torrentFileDirs`);
  if (!dirs.some((d) => inside(resolve(path), resolve(d)))) throw refused();
  let real: string;
  try {
    real = await realpath(path);
  } catch (err) {
    throw new DaemonError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const realDirs = await Promise.all(dirs.map((d) => realpath(d).catch(() => undefined)));
  if (!realDirs.some((d) => d !== undefined && inside(real, d))) throw refused();
  // O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: the resolved path stays so.
  const handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | (constants.O_NOFOLLOW ?? 0)).catch((err: unknown) => {
    throw new DaemonError(`cannot read ${path}: ${(err as Error).message}`);
  });
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw new DaemonError(`refusing to read ${path}: not a regular file`);
    if (st.size > maxBytes) throw new DaemonError(`refusing to read ${path}: larger than ${maxBytes} bytes`);
    // Room for the size seen plus one byte, grown (up to the cap) if the file grows meanwhile.
    let buf = Buffer.allocUnsafe(st.size + 1);
    let got = 0;
    for (;;) {
      if (got === buf.length) buf = Buffer.concat([buf, Buffer.allocUnsafe(Math.min(buf.length, maxBytes + 1 - buf.length))]);
      const { bytesRead } = await handle.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
      if (got > maxBytes) throw new DaemonError(`refusing to read ${path}: larger than ${maxBytes} bytes`);
    }
    return buf.subarray(0, got);
  } finally {
    await handle.close();
  }
}
