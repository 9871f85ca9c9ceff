import { resolve, sep } from 'node:path';
import { StorageError } from './errors.js';

/** One file of the torrent, as listed in the metainfo: path components under the root, and its length. */
export interface FileEntry {
  readonly path: readonly string[];
  readonly length: number;
}

/** A piece of a byte range that falls in one file. */
export interface FileSpan {
  /** Index into the file list. */
  readonly file: number;
  /** Offset inside that file. */
  readonly fileOffset: number;
  /** Offset inside the torrent's byte space. */
  readonly position: number;
  readonly length: number;
  /** Offset inside the caller's buffer (range start = 0). */
  readonly bufferOffset: number;
}

const BAD_COMPONENT = /[/\\\0]/;

function badInput(message: string): StorageError {
  return new StorageError('BAD_INPUT', message);
}

/** Resolves `components` under `root`, refusing anything that would land outside it. */
export function resolveUnder(root: string, components: readonly string[]): string {
  if (components.length === 0) throw new StorageError('PATH_ESCAPE', 'empty file path');
  for (const c of components) {
    if (typeof c !== 'string' || c === '' || c === '.' || c === '..' || BAD_COMPONENT.test(c)) {
      throw new StorageError('PATH_ESCAPE', `unsafe path component ${JSON.stringify(c)} in ${JSON.stringify(components)}`);
    }
  }
  const base = resolve(root);
  const full = resolve(base, ...components);
  if (!full.startsWith(base.endsWith(sep) ? base : base + sep)) {
    throw new StorageError('PATH_ESCAPE', `path ${JSON.stringify(components)} resolves outside ${base}`, { path: full });
  }
  return full;
}

/**
 * The torrent's byte space: the files concatenated in order (zero-length files take no room), cut
 * into pieces of `pieceLength` (the last one may be short).
 *
 * The file list is kept as given, not copied (a session holds thousands of layouts, most of them
 * never read): do not change it afterwards. The absolute paths and start offsets are checked at
 * construction and kept from their first use on (a seed nobody asks for never needs them).
 */
export class FileLayout {
  readonly files: readonly FileEntry[];
  readonly totalLength: number;
  readonly pieceLength: number;
  readonly pieceCount: number;
  readonly root: string;
  private pathList: readonly string[] | undefined;
  private startList: readonly number[] | undefined;

  constructor(root: string, files: readonly FileEntry[], pieceLength: number) {
    if (typeof root !== 'string' || root === '') throw badInput('root must be a non-empty path');
    if (!Array.isArray(files)) throw badInput('files must be an array');
    if (!Number.isSafeInteger(pieceLength) || pieceLength <= 0) throw badInput(`piece length must be a positive integer, got ${pieceLength}`);
    // The caller's string when it is already absolute and normal (often one for every torrent).
    const resolved = resolve(root);
    this.root = resolved === root ? root : resolved;
    const paths: string[] = [];
    const seen = new Set<string>();
    let total = 0;
    for (const [i, f] of files.entries()) {
      if (typeof f !== 'object' || f === null || !Array.isArray(f.path)) throw badInput(`file ${i} has no path list`);
      if (!Number.isSafeInteger(f.length) || f.length < 0) throw badInput(`file ${i} has a bad length ${String(f.length)}`);
      const p = resolveUnder(this.root, f.path);
      if (seen.has(p)) throw badInput(`file ${i} repeats the path ${p}`);
      seen.add(p);
      paths.push(p);
      total += f.length;
      if (!Number.isSafeInteger(total)) throw badInput('total length overflows');
    }
    // A file may not also be a directory of another file (a/b and a/b/c).
    for (const p of paths) {
      let dir = p;
      for (;;) {
        const cut = dir.lastIndexOf(sep);
        if (cut <= this.root.length) break;
        dir = dir.slice(0, cut);
        if (seen.has(dir)) throw badInput(`${dir} is both a file and a directory`);
      }
    }
    this.files = files;
    this.totalLength = total;
    this.pieceLength = pieceLength;
    this.pieceCount = Math.ceil(total / pieceLength);
  }

  /** Absolute path of each file (made at first use, then kept). */
  get paths(): readonly string[] {
    // Exact-size arrays: push-grown ones keep spare slots (17 for one file, ~130 bytes each).
    return (this.pathList ??= this.files.map((f) => resolveUnder(this.root, f.path)));
  }

  /** Absolute path of file `i`, without keeping the list if it was not made yet (opening, stamps). */
  path(i: number): string {
    const f = this.files[i];
    if (f === undefined) throw new StorageError('OUT_OF_RANGE', `file ${i} does not exist`);
    return this.pathList?.[i] ?? resolveUnder(this.root, f.path);
  }

  /** Start of each file in the byte space (made at first use, then kept). */
  get starts(): readonly number[] {
    if (this.startList === undefined) {
      const starts = new Array<number>(this.files.length);
      let at = 0;
      this.files.forEach((f, i) => {
        starts[i] = at;
        at += f.length;
      });
      this.startList = starts;
    }
    return this.startList;
  }

  /** Length of piece `index` (the last may be short). */
  pieceSize(index: number): number {
    this.checkPiece(index);
    return index === this.pieceCount - 1 ? this.totalLength - index * this.pieceLength : this.pieceLength;
  }

  checkPiece(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.pieceCount) {
      throw new StorageError('OUT_OF_RANGE', `piece ${index} is not in [0, ${this.pieceCount})`);
    }
  }

  checkRange(position: number, length: number): void {
    if (!Number.isSafeInteger(position) || !Number.isSafeInteger(length) || position < 0 || length < 0 || position + length > this.totalLength) {
      throw new StorageError('OUT_OF_RANGE', `range [${position}, +${length}) is outside the torrent (${this.totalLength} bytes)`);
    }
  }

  /** Index of the file holding byte `position` (binary search over the start offsets). */
  fileAt(position: number): number {
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length - 1;
    // Largest i with starts[i] <= position: always a non-empty file when position < totalLength.
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((starts[mid] as number) <= position) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Splits [position, position+length) into per-file spans, in order. */
  spans(position: number, length: number): FileSpan[] {
    this.checkRange(position, length);
    const out: FileSpan[] = [];
    if (length === 0) return out;
    const starts = this.starts;
    let file = this.fileAt(position);
    let pos = position;
    const end = position + length;
    while (pos < end) {
      const start = starts[file] as number;
      const fileLen = (this.files[file] as FileEntry).length;
      const take = Math.min(end, start + fileLen) - pos;
      if (take > 0) out.push({ file, fileOffset: pos - start, position: pos, length: take, bufferOffset: pos - position });
      pos += Math.max(take, 0);
      file++;
    }
    return out;
  }

  /** Pieces overlapping file `index` as [first, last] (inclusive), or null for a zero-length file. */
  piecesOfFile(index: number): [number, number] | null {
    const f = this.files[index];
    if (f === undefined) throw new StorageError('OUT_OF_RANGE', `file ${index} does not exist`);
    if (f.length === 0) return null;
    const start = this.starts[index] as number;
    return [Math.floor(start / this.pieceLength), Math.floor((start + f.length - 1) / this.pieceLength)];
  }
}
