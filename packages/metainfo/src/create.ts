import { createHash, type Hash } from 'node:crypto';
import { open, readdir, stat, lstat, realpath } from 'node:fs/promises';
import * as nodePath from 'node:path';
import { encode, type Encodable } from '@mainline/bencode';
import { MetainfoError } from './errors.js';
import { parseTorrent, type Metainfo } from './metainfo.js';
import { unsafeReason } from './names.js';

export interface CreateTorrentOptions {
  /** Torrent name; default the base name of the path. */
  name?: string;
  /** Piece length in bytes (a power of two ≥ 16 KiB); default chosen by `choosePieceLength`. */
  pieceLength?: number;
  /** Tracker tiers: `[['http://a/announce', 'http://b/announce'], ['udp://c']]`. A flat list means one tracker per tier. */
  trackers?: readonly (string | readonly string[])[];
  /** BEP 19 web seeds (`url-list`). */
  webSeeds?: readonly string[];
  private?: boolean;
  /** `info.source` (changes the info-hash; used for cross-seeding between private trackers). */
  source?: string;
  comment?: string;
  /** `created by`; default none. */
  createdBy?: string;
  /** Seconds since the epoch, or a Date; default none (so output is reproducible). */
  creationDate?: number | Date;
  /**
   * Symlinks: `follow` (default, like mktorrent: the target's data is hashed under the link's
   * name; a link to a directory is walked; a cycle is an error), `skip` (left out and listed
   * in `skipped`) or `error`.
   */
  symlinks?: 'follow' | 'skip' | 'error';
  /** Called after each read chunk is hashed. */
  onProgress?: (hashedBytes: number, totalBytes: number) => void;
  signal?: AbortSignal;
  /** Read size in bytes (default 4 MiB). Two buffers of this size are used. */
  chunkSize?: number;
}

/** Something under the input path that is not in the torrent, and why. */
export interface SkippedEntry {
  /** Path relative to the input directory, `/`-separated. */
  path: string;
  reason: 'empty-directory' | 'symlink';
}

export interface CreatedTorrent {
  /** The .torrent file. */
  torrent: Buffer;
  /** The same, parsed (and validated) with `parseTorrent`. */
  metainfo: Metainfo;
  skipped: SkippedEntry[];
}

interface SourceFile {
  /** Components relative to the input directory (empty for a single-file torrent). */
  components: string[];
  abs: string;
  length: number;
}

const MIN_PIECE = 16 * 1024;
const MAX_PIECE = 16 * 1024 * 1024;
/** mktorrent's default piece length (`-l 18`), the smallest we choose. */
const MKTORRENT_DEFAULT_PIECE = 256 * 1024;

/**
 * Automatic piece length, as the common creators choose it: mktorrent's default 256 KiB for
 * anything up to ~690 MB, and above that libtorrent's rule (create_torrent): the smallest power
 * of two from 16 KiB with `total ≤ round((piece / 10)²)`, i.e. a piece list of about 2·√total
 * bytes of hashes, at most 16 MiB. 22 MB gets 256 KiB pieces (84 of them), 4.4 GB 1 MiB, 200 GiB
 * 8 MiB. Tiny pieces cost a hash, a HAVE and a request round per 16 KiB to every peer.
 */
export function choosePieceLength(totalLength: number): number {
  let p = MIN_PIECE;
  while (p < MAX_PIECE && totalLength > Math.round((p / 10) ** 2)) p *= 2;
  return Math.max(p, MKTORRENT_DEFAULT_PIECE);
}

function createError(message: string, path = ''): MetainfoError {
  return new MetainfoError('BAD_VALUE', path, message);
}

function checkName(name: string, where: string): void {
  const reason = unsafeReason(name);
  if (reason !== undefined) throw new MetainfoError('UNSAFE_PATH', where, `cannot put ${JSON.stringify(name)} in a torrent: ${reason}`);
}

async function walk(
  dir: string,
  rel: string[],
  options: CreateTorrentOptions,
  out: SourceFile[],
  skipped: SkippedEntry[],
  ancestors: Set<string>,
): Promise<void> {
  const real = await realpath(dir);
  if (ancestors.has(real)) throw createError(`symlink cycle: ${dir} leads back to ${real}`, rel.join('/'));
  ancestors.add(real);
  const names = await readdir(dir);
  const before = out.length;
  for (const name of names) {
    const abs = nodePath.join(dir, name);
    const components = [...rel, name];
    const relText = components.join('/');
    checkName(name, relText);
    const l = await lstat(abs);
    let s = l;
    if (l.isSymbolicLink()) {
      const mode = options.symlinks ?? 'follow';
      if (mode === 'skip') {
        skipped.push({ path: relText, reason: 'symlink' });
        continue;
      }
      if (mode === 'error') throw createError(`symlink not allowed: ${abs}`, relText);
      try {
        s = await stat(abs);
      } catch (e) {
        throw createError(`broken symlink ${abs}: ${(e as Error).message}`, relText);
      }
    }
    if (s.isDirectory()) await walk(abs, components, options, out, skipped, ancestors);
    else if (s.isFile()) out.push({ components, abs, length: s.size });
    else throw createError(`not a regular file or directory: ${abs}`, relText);
  }
  ancestors.delete(real);
  if (out.length === before && rel.length > 0) skipped.push({ path: rel.join('/'), reason: 'empty-directory' });
}

/** mktorrent's order: byte-wise comparison of the whole `/`-joined relative path. */
function mktorrentOrder(a: SourceFile, b: SourceFile): number {
  return Buffer.compare(Buffer.from(a.components.join('/')), Buffer.from(b.components.join('/')));
}

/** Hashes the concatenation of `files` in pieces, reading `chunkSize` at a time with read-ahead. */
async function hashPieces(files: SourceFile[], pieceLength: number, total: number, options: CreateTorrentOptions): Promise<Buffer> {
  const pieceCount = Math.ceil(total / pieceLength);
  const pieces = Buffer.alloc(pieceCount * 20);
  const chunk = Math.max(64 * 1024, options.chunkSize ?? 4 * 1024 * 1024);
  const buffers = [Buffer.allocUnsafe(chunk), Buffer.allocUnsafe(chunk)];
  let piece = 0;
  let inPiece = 0;
  let hash: Hash = createHash('sha1');
  let hashed = 0;

  const consume = (data: Buffer): void => {
    let off = 0;
    while (off < data.length) {
      const take = Math.min(pieceLength - inPiece, data.length - off);
      hash.update(data.subarray(off, off + take));
      off += take;
      inPiece += take;
      if (inPiece === pieceLength) {
        hash.digest().copy(pieces, piece * 20);
        piece++;
        inPiece = 0;
        hash = createHash('sha1');
      }
    }
    hashed += data.length;
    options.onProgress?.(hashed, total);
  };

  let which = 0;
  for (const f of files) {
    if (f.length === 0) continue;
    const fh = await open(f.abs, 'r');
    try {
      let pos = 0;
      const readAt = (buf: Buffer) => fh.read(buf, 0, Math.min(chunk, f.length - pos), pos);
      let pending = readAt(buffers[which]!);
      while (pos < f.length) {
        options.signal?.throwIfAborted();
        const { bytesRead, buffer } = await pending;
        if (bytesRead === 0) throw createError(`${f.abs} shrank while hashing (expected ${f.length} bytes)`, f.components.join('/'));
        pos += bytesRead;
        which ^= 1;
        if (pos < f.length) pending = readAt(buffers[which]!);
        consume(buffer.subarray(0, bytesRead));
      }
    } finally {
      await fh.close();
    }
  }
  if (inPiece > 0) hash.digest().copy(pieces, piece * 20);
  return pieces;
}

function tiersOf(trackers: CreateTorrentOptions['trackers']): string[][] {
  return (trackers ?? []).map((t) => (typeof t === 'string' ? [t] : [...t])).filter((t) => t.length > 0);
}

/**
 * Makes a .torrent from a file or a directory. Produces the same info dict as mktorrent 1.1 for the
 * same input, piece length, private flag and source (files ordered by byte-wise path, hidden files
 * included, symlinks followed, empty directories left out), so the info-hashes match.
 * Data is streamed in chunks and hashed with node:crypto; nothing is loaded whole.
 */
export async function createTorrent(path: string, options: CreateTorrentOptions = {}): Promise<CreatedTorrent> {
  const abs = nodePath.resolve(path);
  const name = options.name ?? nodePath.basename(abs);
  checkName(name, 'name');
  const top = await stat(abs);
  const files: SourceFile[] = [];
  const skipped: SkippedEntry[] = [];
  let multi: boolean;
  if (top.isDirectory()) {
    multi = true;
    await walk(abs, [], options, files, skipped, new Set());
    if (files.length === 0) throw createError(`no files under ${abs}`);
    files.sort(mktorrentOrder);
  } else if (top.isFile()) {
    multi = false;
    files.push({ components: [], abs, length: top.size });
  } else {
    throw createError(`not a regular file or directory: ${abs}`);
  }
  const total = files.reduce((n, f) => n + f.length, 0);
  const pieceLength = options.pieceLength ?? choosePieceLength(total);
  if (!Number.isInteger(pieceLength) || pieceLength < MIN_PIECE || (pieceLength & (pieceLength - 1)) !== 0 || pieceLength > 2 ** 30) {
    throw createError(`piece length must be a power of two from 16 KiB to 1 GiB, got ${pieceLength}`, 'pieceLength');
  }
  const pieces = await hashPieces(files, pieceLength, total, options);

  const info: Record<string, Encodable | undefined> = {
    name,
    'piece length': pieceLength,
    pieces,
    private: options.private ? 1 : undefined,
    source: options.source,
  };
  if (multi) info.files = files.map((f) => ({ length: f.length, path: f.components }));
  else info.length = total;

  const tiers = tiersOf(options.trackers);
  const date = options.creationDate instanceof Date ? Math.floor(options.creationDate.getTime() / 1000) : options.creationDate;
  const webSeeds = options.webSeeds ?? [];
  const torrent = encode({
    announce: tiers[0]?.[0],
    'announce-list': tiers.flat().length > 1 ? tiers : undefined,
    comment: options.comment,
    'created by': options.createdBy,
    'creation date': date,
    info,
    'url-list': webSeeds.length === 0 ? undefined : webSeeds.length === 1 ? webSeeds[0] : webSeeds,
  });
  return { torrent, metainfo: parseTorrent(torrent), skipped };
}
