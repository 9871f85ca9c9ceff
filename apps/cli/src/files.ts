// Files the user names: errors say which file and what is wrong, in words.
import { readFile } from 'node:fs/promises';
import { parseTorrent, type Metainfo } from '@mainline/metainfo';

/** A file-system error in words, with the path it concerns: `cannot read x.torrent: no such file`. */
export function fileError(verb: string, path: string, err: unknown): Error {
  const e = err as NodeJS.ErrnoException;
  const words: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EISDIR: 'it is a directory',
    ENOTDIR: 'a part of the path is not a directory',
    EEXIST: 'it exists already',
  };
  return new Error(`cannot ${verb} ${path}: ${(e?.code && words[e.code]) ?? e?.message ?? String(err)}`);
}

export async function loadTorrent(path: string): Promise<Metainfo> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw fileError('read', path, err);
  }
  try {
    return parseTorrent(bytes);
  } catch (err) {
    throw new Error(`${path} is not a valid torrent: ${(err as Error).message}`);
  }
}

