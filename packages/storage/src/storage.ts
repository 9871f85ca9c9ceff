import { dirname } from 'node:path';
import { FdPool } from './fdpool.js';
import { nodeFs, type StorageFs, type StorageStat } from './fs.js';
import { StorageError, toStorageError } from './errors.js';
import { PathGuard } from './guard.js';
import { readFully, writeFully } from './io.js';
import { FileLayout, resolveUnder, type FileEntry, type FileSpan } from './layout.js';
import { PartsFile } from './parts.js';

/** Per-file download priority. Storage only distinguishes 'skip' (never create the file). */
export type FilePriority = 'skip' | 'low' | 'normal' | 'high';

/**
 * How files get their space:
 * - 'sparse' (default, like mainline): files are created empty and grow as blocks land; holes cost nothing.
 * - 'truncate': each file is set to its full length with ftruncate at open (sparse where the file system allows).
 * - 'zero': missing bytes are written as zeros at open (real allocation: no ENOSPC surprises later, less fragmentation).
 */
export type Allocation = 'sparse' | 'truncate' | 'zero';

/** One file's part of a write: `length` bytes from `bufferOffset` of the data go to `fileOffset` of `path`. */
export interface DirectWrite {
  readonly path: string;
  readonly fileOffset: number;
  readonly bufferOffset: number;
  readonly length: number;
}

export interface StorageOptions {
  /** Download root; every file path resolves under it. For a multi-file torrent include the torrent name, in `root` or as each path's first component. */
  readonly root: string;
  readonly files: readonly FileEntry[];
  readonly pieceLength: number;
  /** One per file; default 'normal'. */
  readonly priorities?: readonly FilePriority[];
  /** Name used for the parts file, `<root>/.<name>.parts` (e.g. the hex infohash). Default 'torrent'. */
  readonly name?: string;
  readonly allocation?: Allocation;
  /** Most file descriptors open at once (LRU pool). Default 64. */
  readonly maxOpenFiles?: number;
  /** File system layer (default node:fs/promises). */
  readonly fs?: StorageFs;
  /**
   * Never create, truncate or write a file (for verifying or seeding existing data): the root must
   * exist, missing files stay missing (their pieces are not had), files of the wrong size are left
   * as they are, and write() rejects with READ_ONLY. Default false.
   */
  readonly readOnly?: boolean;
  /**
   * Refuse to open (NO_SPACE, before anything is created) when the wanted files need more bytes
   * than the root's file system has free. Default true; false creates them anyway (sparse files
   * grow as data arrives, so a full disk surfaces later as ENOSPC). Not applied when readOnly.
   */
  readonly checkFreeSpace?: boolean;
}

/** What is on disk for one file, as recorded for fast resume. `null` = the file is not created (skipped). */
export interface FileStamp {
  readonly size: number;
  readonly mtimeMs: number;
}

const ZERO_CHUNK = 1 << 20;

/** Per-file flags (see `Storage.flags`). */
const MATERIALISED = 1;
/** open() grew this file beyond its data (allocation), and nothing was written there since. */
const GROWN = 2;

/**
 * The torrent's byte space on disk (mainline's Storage). Reads and writes take a position in the
 * concatenation of all files and split across files by binary search. Files open lazily through a
 * bounded LRU descriptor pool, with positional I/O only. Files with priority 'skip' are never
 * created; their bytes (from pieces shared with wanted files) live in a parts file.
 *
 * A file is "materialised" (exists and is ours to write) when it is not skipped, or already exists
 * on disk at open. Once materialised it stays so; a skipped file becomes materialised when its
 * priority is raised, and its bytes move from the parts file into it.
 *
 * Memory: most torrents of a big session are seeds nobody asks for, opened and never read. The
 * descriptor pool, the parts file (when none is on disk), the path guard and the per-file tables
 * are made when first needed (the first read or write, a priority change), and the tables only
 * when some file is not simply there (skipped, absent, grown by the allocation).
 */
export class Storage {
  readonly layout: FileLayout;
  readonly allocation: Allocation;
  readonly readOnly: boolean;
  private readonly checkFreeSpace: boolean;
  private readonly fs: StorageFs;
  private readonly maxOpenFiles: number;
  /** The parts file's name part (see partsPathOf). */
  private readonly name: string | undefined;
  private guardMade: PathGuard | undefined;
  private poolMade: FdPool | undefined;
  /** Made when the parts file is found at open or first written. */
  private partsMade: PartsFile | undefined;
  /** undefined: every file 'normal'. */
  private priorities: FilePriority[] | undefined;
  /**
   * MATERIALISED / GROWN per file; undefined once open when every file is materialised and none
   * grown (a complete seed's files), and before open().
   */
  private flags: Uint8Array | undefined;
  /** Bytes of file i that could hold data before open() allocated it (GROWN files only). */
  private dataBefore: Map<number, number> | undefined;
  private state: 'new' | 'opening' | 'open' | 'closed' = 'new';
  private inflight = 0;
  private gate: Promise<void> | null = null;
  private drained: (() => void)[] | undefined;

  constructor(options: StorageOptions) {
    if (typeof options !== 'object' || options === null) throw new StorageError('BAD_INPUT', 'options are required');
    this.layout = new FileLayout(options.root, options.files, options.pieceLength);
    const n = this.layout.files.length;
    this.priorities = options.priorities === undefined ? undefined : unlessAllNormal(checkPriorities(options.priorities, n));
    this.allocation = options.allocation ?? 'sparse';
    if (!['sparse', 'truncate', 'zero'].includes(this.allocation)) throw new StorageError('BAD_INPUT', `unknown allocation ${String(this.allocation)}`);
    const max = options.maxOpenFiles ?? 64;
    if (!Number.isInteger(max) || max < 1) throw new StorageError('BAD_INPUT', `maxOpenFiles must be a positive integer, got ${max}`);
    this.fs = options.fs ?? nodeFs;
    this.readOnly = options.readOnly === true;
    this.checkFreeSpace = options.checkFreeSpace !== false;
    this.maxOpenFiles = max;
    this.name = options.name;
    const partsPath = this.partsPath;
    for (let i = 0; i < n; i++) {
      if (this.layout.path(i) === partsPath) throw new StorageError('BAD_INPUT', `the parts file ${partsPath} collides with a torrent file`);
    }
  }

  /** Path of the parts file (which exists only once a skipped file's bytes were written). */
  get partsPath(): string {
    return this.partsMade?.path ?? partsPathOf(this.layout, this.name);
  }

  /** Descriptors open right now / the most ever open at once. */
  get openFiles(): number {
    return this.poolMade?.openCount ?? 0;
  }
  get peakOpenFiles(): number {
    return this.poolMade?.peakOpenCount ?? 0;
  }

  filePriorities(): readonly FilePriority[] {
    return this.priorities ?? new Array<FilePriority>(this.layout.files.length).fill('normal');
  }

  /** Whether file `i` exists on disk as ours (see the class note). */
  isMaterialised(i: number): boolean {
    if (!Number.isInteger(i) || i < 0 || i >= this.layout.files.length) return false;
    return (this.flagsOf(i) & MATERIALISED) !== 0;
  }

  private flagsOf(i: number): number {
    if (this.flags !== undefined) return this.flags[i] as number;
    return this.state === 'new' ? 0 : MATERIALISED;
  }

  /** Sets and clears flags of file `i` (the table is made now if it was not needed so far). */
  private setFlags(i: number, set: number, clear = 0): void {
    const flags = (this.flags ??= new Uint8Array(this.layout.files.length).fill(this.state === 'new' ? 0 : MATERIALISED));
    flags[i] = ((flags[i] as number) & ~clear) | set;
  }

  /** Marks file i as written: what open() grew of it may hold data now. */
  private written(i: number): void {
    if (this.flags !== undefined && ((this.flags[i] as number) & GROWN) !== 0) {
      this.flags[i] = (this.flags[i] as number) & ~GROWN;
      this.dataBefore?.delete(i);
    }
  }

  private priority(i: number): FilePriority {
    return this.priorities?.[i] ?? 'normal';
  }

  private get guard(): PathGuard {
    return (this.guardMade ??= new PathGuard(this.fs, this.layout.root));
  }

  private get pool(): FdPool {
    return (this.poolMade ??= new FdPool(this.fs, this.maxOpenFiles));
  }

  /** The parts file, made now if it was not on disk (a skipped file's bytes are being written). */
  private get parts(): PartsFile {
    return (this.partsMade ??= new PartsFile(this.fs, this.pool, this.partsPath, this.layout.pieceLength, this.layout.pieceCount));
  }

  /**
   * Creates directories and the files that are wanted (zero-length ones too), truncates files that
   * are too long (as mainline does), applies the allocation mode, and loads the parts file.
   * Skipped files are not created, nor their directories. Read-only: creates and changes nothing,
   * and the root must exist. Either way every path is checked first (no symbolic link below the
   * root), and, unless told otherwise, the free space (NO_SPACE before anything is created).
   */
  async open(): Promise<void> {
    if (this.state !== 'new') throw new StorageError('BAD_INPUT', 'open() may be called once');
    this.state = 'opening';
    const n = this.layout.files.length;
    this.flags = new Uint8Array(n);
    this.dataBefore = undefined;
    try {
      const { files } = this.layout;
      if (this.readOnly) await this.checkRootExists();
      const stats: (StorageStat | null)[] = [];
      for (let i = 0; i < n; i++) {
        const path = this.layout.path(i);
        const stat = await this.guard.check(path);
        if (stat !== null && !stat.isFile()) throw new StorageError('EISDIR', `${path} exists and is not a file`, { path, operation: 'open' });
        stats.push(stat);
      }
      if (!this.readOnly && this.checkFreeSpace) await this.ensureFreeSpace(stats);
      for (let i = 0; i < n; i++) {
        const stat = stats[i] ?? null;
        const length = (files[i] as FileEntry).length;
        if (this.readOnly) {
          if (stat !== null) this.setFlags(i, MATERIALISED);
          continue;
        }
        if (this.priority(i) === 'skip' && stat === null) continue;
        await this.materialise(i, stat === null ? -1 : stat.size, length);
      }
      const partsPath = this.partsPath;
      if ((await this.guard.check(partsPath)) !== null) await this.parts.load();
      // Every file simply there (a seed's): no table needed.
      if (this.flags.every((f) => f === MATERIALISED)) this.flags = undefined;
      this.guardMade = undefined; // rebuilt if a priority change needs it
      this.state = 'open';
    } catch (err) {
      this.state = 'new';
      await this.poolMade?.closeAll().catch(() => undefined);
      throw toStorageError(err, 'open');
    }
  }

  private async checkRootExists(): Promise<void> {
    const root = this.layout.root;
    const st = await this.statOrNull(root, 'stat');
    if (st === null) throw new StorageError('ENOENT', `the directory ${root} does not exist`, { path: root, operation: 'open', errno: 'ENOENT' });
    if (!st.isDirectory()) throw new StorageError('ENOTDIR', `${root} is not a directory`, { path: root, operation: 'open' });
  }

  /**
   * NO_SPACE when the wanted files need more than the free space of the root's file system. What
   * a file still needs is its length less what is allocated of it already (a sparse file's holes
   * count as needed), so a resumed download asks only for the rest.
   */
  private async ensureFreeSpace(stats: readonly (StorageStat | null)[]): Promise<void> {
    let needed = 0;
    this.layout.files.forEach((f, i) => {
      if (this.priority(i) === 'skip') return;
      const st = stats[i] ?? null;
      const allocated = st === null ? 0 : Math.min(st.size, st.blocks === undefined ? st.size : st.blocks * 512);
      needed += Math.max(0, f.length - allocated);
    });
    if (needed === 0) return;
    // The root may not exist yet: the file system is that of its nearest existing ancestor.
    let dir = this.layout.root;
    while ((await this.statOrNull(dir, 'stat')) === null && dirname(dir) !== dir) dir = dirname(dir);
    let free: number;
    try {
      const s = await this.fs.statfs(dir);
      free = s.bavail * s.bsize;
    } catch (err) {
      throw toStorageError(err, 'stat', dir);
    }
    if (needed > free) {
      throw new StorageError('NO_SPACE', `not enough free space in ${this.layout.root}: the wanted files need ${formatSize(needed)} more, ${formatSize(free)} is free; nothing was created`, {
        path: this.layout.root,
        operation: 'open',
      });
    }
  }

  private async statOrNull(path: string, how: 'stat' | 'lstat' = 'lstat'): Promise<StorageStat | null> {
    try {
      return await (how === 'stat' ? this.fs.stat(path) : this.fs.lstat(path));
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') return null;
      throw toStorageError(err, 'stat', path);
    }
  }

  /** Creates file i if needed (size -1 = absent), fixes its length per the allocation mode. */
  private async materialise(i: number, size: number, length: number): Promise<void> {
    const path = this.layout.path(i);
    if (size < 0) {
      try {
        await this.fs.mkdir(dirname(path), { recursive: true });
      } catch (err) {
        throw toStorageError(err, 'mkdir', dirname(path));
      }
      await this.pool.withSlot(async () => {
        try {
          // 'a' creates without truncating; it is only used to create, never to write.
          await (await this.fs.open(path, 'a')).close();
        } catch (err) {
          throw toStorageError(err, 'open', path);
        }
      });
      size = 0;
    }
    if (size > length || (size < length && this.allocation === 'truncate')) {
      await this.pool.use(path, true, async (h) => {
        try {
          await h.truncate(length);
        } catch (err) {
          throw toStorageError(err, 'truncate', path);
        }
      });
    } else if (size < length && this.allocation === 'zero') {
      const zeros = new Uint8Array(Math.min(ZERO_CHUNK, length - size));
      await this.pool.use(path, true, async (h) => {
        for (let pos = size; pos < length; pos += zeros.length) {
          await writeFully(h, zeros, 0, Math.min(zeros.length, length - pos), pos, path).catch((err: unknown) => {
            throw toStorageError(err instanceof StorageError ? err.cause ?? err : err, 'allocate', path);
          });
        }
      });
    }
    if (size < length && this.allocation !== 'sparse') {
      this.setFlags(i, MATERIALISED | GROWN);
      (this.dataBefore ??= new Map()).set(i, Math.min(size, length));
    } else {
      this.setFlags(i, MATERIALISED, GROWN);
    }
  }

  /**
   * How many leading bytes of each file may hold downloaded data: the file size, except for files
   * that open() itself grew (allocation) and that were not written since, where it is the size
   * found before. -1 = the file is absent. A recheck hashes only pieces fully inside these extents
   * (plus pieces with a parts-file slot), so a fresh start hashes nothing (mainline's "holes").
   */
  async dataExtents(): Promise<number[]> {
    this.checkOpen();
    const out: number[] = [];
    for (let i = 0; i < this.layout.files.length; i++) {
      const flags = this.flagsOf(i);
      if ((flags & MATERIALISED) === 0) {
        out.push(-1);
        continue;
      }
      const stat = await this.statOrNull(this.layout.path(i));
      const size = stat === null ? -1 : stat.size;
      out.push((flags & GROWN) !== 0 ? Math.min(size, this.dataBefore?.get(i) ?? 0) : size);
    }
    return out;
  }

  /** Whether piece `p` has a slot in the parts file. */
  hasPartsSlot(p: number): boolean {
    return this.partsMade?.has(p) ?? false;
  }

  /** Reads `length` bytes at `position` of the byte space into a new Buffer. */
  async read(position: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    await this.readInto(position, buf);
    return buf;
  }

  /** Fills `target` with the bytes at `position`. A file shorter than expected is TRUNCATED. */
  async readInto(position: number, target: Uint8Array): Promise<void> {
    this.layout.checkRange(position, target.length);
    await this.guarded(() => Promise.all(this.layout.spans(position, target.length).map((s) => this.readSpan(s, target))));
  }

  /** Writes `data` at `position` of the byte space. */
  async write(position: number, data: Uint8Array): Promise<void> {
    this.checkWritable();
    this.layout.checkRange(position, data.length);
    await this.guarded(() => Promise.all(this.layout.spans(position, data.length).map((s) => this.writeSpan(s, data))));
  }

  /**
   * Writes [position, position + length) through `io` (which may run on another thread, with its
   * own descriptors) when every byte of it lands in a file that exists as ours; returns false,
   * doing nothing, when part of it belongs to the parts file of a skipped file, or when the storage
   * runs on an injected file system (which another thread would not see). The write counts as I/O
   * in flight: close() and file-priority changes wait for it.
   */
  async writeDirect(position: number, length: number, io: (writes: DirectWrite[]) => Promise<void>): Promise<boolean> {
    this.checkWritable();
    this.layout.checkRange(position, length);
    if (this.fs !== nodeFs) return false;
    return this.guarded(async () => {
      const spans = this.layout.spans(position, length);
      if (!spans.every((s) => this.isMaterialised(s.file))) return false;
      const writes = spans.map((s) => {
        this.written(s.file);
        return { path: this.layout.paths[s.file] as string, fileOffset: s.fileOffset, bufferOffset: s.bufferOffset, length: s.length };
      });
      try {
        await io(writes);
      } catch (err) {
        throw toStorageError(err, 'write', (err as { path?: string }).path);
      }
      return true;
    });
  }

  private async readSpan(s: FileSpan, buf: Uint8Array): Promise<void> {
    if (this.isMaterialised(s.file)) {
      const path = this.layout.paths[s.file] as string;
      await this.pool.use(path, false, (h) => readFully(h, buf, s.bufferOffset, s.length, s.fileOffset, path));
      return;
    }
    await Promise.all(this.byPiece(s).map(([piece, inPiece, off, len]) => this.parts.read(piece, inPiece, buf, off, len)));
  }

  private async writeSpan(s: FileSpan, buf: Uint8Array): Promise<void> {
    if (this.isMaterialised(s.file)) {
      const path = this.layout.paths[s.file] as string;
      this.written(s.file);
      await this.pool.use(path, true, (h) => writeFully(h, buf, s.bufferOffset, s.length, s.fileOffset, path));
      return;
    }
    for (const [piece, inPiece, off, len] of this.byPiece(s)) await this.parts.write(piece, inPiece, buf, off, len);
  }

  /** Cuts a span at piece boundaries: [piece, offset in piece, buffer offset, length]. */
  private byPiece(s: FileSpan): [number, number, number, number][] {
    const out: [number, number, number, number][] = [];
    const pl = this.layout.pieceLength;
    for (let pos = s.position; pos < s.position + s.length; ) {
      const piece = Math.floor(pos / pl);
      const len = Math.min(s.position + s.length, (piece + 1) * pl) - pos;
      out.push([piece, pos - piece * pl, s.bufferOffset + (pos - s.position), len]);
      pos += len;
    }
    return out;
  }

  /**
   * Changes file priorities. A skipped file that becomes wanted is created and receives the bytes
   * kept for it in the parts file; a wanted file that becomes skipped stays on disk (its data is
   * kept). Runs as a fence: I/O started before finishes first, I/O started after waits.
   */
  async setPriorities(priorities: readonly FilePriority[]): Promise<void> {
    const next = checkPriorities(priorities, this.layout.files.length);
    this.checkOpen();
    await this.fence(async () => {
      for (let i = 0; i < next.length && !this.readOnly; i++) {
        if (next[i] !== 'skip' && !this.isMaterialised(i)) {
          const length = (this.layout.files[i] as FileEntry).length;
          const stat = await this.guard.check(this.layout.path(i));
          await this.materialise(i, stat === null ? -1 : stat.size, length);
          await this.exportFromParts(i);
        }
      }
      this.priorities = unlessAllNormal(next);
    });
  }

  private async exportFromParts(i: number): Promise<void> {
    const range = this.layout.piecesOfFile(i);
    const parts = this.partsMade;
    if (range === null || parts === undefined) return;
    const start = this.layout.starts[i] as number;
    const end = start + (this.layout.files[i] as FileEntry).length;
    const path = this.layout.paths[i] as string;
    const pl = this.layout.pieceLength;
    for (let p = range[0]; p <= range[1]; p++) {
      if (!parts.has(p)) continue;
      const from = Math.max(start, p * pl);
      const to = Math.min(end, (p + 1) * pl);
      const buf = Buffer.allocUnsafe(to - from);
      await parts.read(p, from - p * pl, buf, 0, buf.length);
      await this.pool.use(path, true, (h) => writeFully(h, buf, 0, buf.length, from - start, path));
    }
  }

  /** Size and mtime of every file (null if not created), and of the parts file, for resume records. */
  async stamps(): Promise<{ files: (FileStamp | null)[]; parts: FileStamp | null }> {
    this.checkOpen();
    return this.fence(async () => {
      const files: (FileStamp | null)[] = [];
      for (let i = 0; i < this.layout.files.length; i++) files.push(stampOf(await this.statOrNull(this.layout.path(i))));
      return { files, parts: stampOf(await this.statOrNull(this.partsPath)) };
    });
  }

  /** fdatasync every file open for writing. */
  async flush(): Promise<void> {
    this.checkOpen();
    await this.fence(async () => this.poolMade?.syncAll());
  }

  /** Closes every descriptor (files reopen on demand; read-only until written), e.g. when the download completes. */
  async releaseFiles(): Promise<void> {
    this.checkOpen();
    await this.fence(async () => this.poolMade?.closeAll());
  }

  /** Waits for I/O in progress, closes every file. Further calls reject with CLOSED. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    if (this.state === 'open') await this.fence(async () => undefined);
    this.state = 'closed';
    await this.poolMade?.closeAll();
  }

  private checkWritable(): void {
    if (this.readOnly) throw new StorageError('READ_ONLY', `the storage of ${this.layout.root} is read-only`, { path: this.layout.root, operation: 'write' });
  }

  private checkOpen(): void {
    if (this.state === 'closed') throw new StorageError('CLOSED', 'storage is closed');
    if (this.state !== 'open') throw new StorageError('BAD_INPUT', 'storage is not open (call open() first)');
  }

  /** Runs ordinary I/O: waits for a fence, counts as in flight. */
  private async guarded<T>(fn: () => Promise<T>): Promise<T> {
    this.checkOpen();
    while (this.gate !== null) await this.gate;
    this.checkOpen();
    this.inflight++;
    try {
      return await fn();
    } finally {
      this.inflight--;
      if (this.inflight === 0 && this.drained !== undefined) {
        const waiting = this.drained;
        this.drained = undefined;
        for (const d of waiting) d();
      }
    }
  }

  /** Runs `fn` alone: after in-flight I/O drains, before any new I/O starts. */
  private async fence<T>(fn: () => Promise<T>): Promise<T> {
    while (this.gate !== null) await this.gate;
    let open!: () => void;
    this.gate = new Promise<void>((r) => (open = r));
    try {
      while (this.inflight > 0) await new Promise<void>((r) => (this.drained ??= []).push(r));
      return await fn();
    } finally {
      this.gate = null;
      open();
    }
  }
}

/** Where a torrent's parts file lives: `<root>/.<name>.parts`. */
export function partsPathOf(layout: FileLayout, name = 'torrent'): string {
  return resolveUnder(layout.root, [`.${name}.parts`]);
}

/** `9.1 TiB`, `52.3 GiB`, `100 B`: sizes in messages. */
function formatSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

function stampOf(stat: { size: number; mtimeMs: number } | null): FileStamp | null {
  return stat === null ? null : { size: stat.size, mtimeMs: Math.floor(stat.mtimeMs) };
}

/** The list, or undefined when every file is 'normal' (what a missing list means). */
function unlessAllNormal(priorities: FilePriority[]): FilePriority[] | undefined {
  return priorities.every((p) => p === 'normal') ? undefined : priorities;
}

function checkPriorities(priorities: readonly FilePriority[], n: number): FilePriority[] {
  if (!Array.isArray(priorities) || priorities.length !== n) throw new StorageError('BAD_INPUT', `priorities must list ${n} entries`);
  for (const p of priorities) {
    if (p !== 'skip' && p !== 'low' && p !== 'normal' && p !== 'high') throw new StorageError('BAD_INPUT', `unknown priority ${String(p)}`);
  }
  return [...priorities];
}

