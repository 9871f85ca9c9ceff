// Shared fixtures for this package's tests (not exported from index.ts).
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { FileEntry } from './layout.js';
import type { StorageFileHandle, StorageFs } from './fs.js';
import { nodeFs } from './fs.js';

export interface Fixture {
  files: FileEntry[];
  pieceLength: number;
  payload: Buffer;
  hashes: Uint8Array;
}

export function fixture(lengths: number[], pieceLength: number, names?: string[][]): Fixture {
  const files = lengths.map((length, i) => ({ path: names?.[i] ?? ['t', `f${String(i).padStart(3, '0')}.bin`], length }));
  const total = lengths.reduce((a, b) => a + b, 0);
  const payload = randomBytes(total);
  const n = Math.ceil(total / pieceLength);
  const hashes = new Uint8Array(n * 20);
  for (let i = 0; i < n; i++) {
    hashes.set(createHash('sha1').update(payload.subarray(i * pieceLength, Math.min(total, (i + 1) * pieceLength))).digest(), i * 20);
  }
  return { files, pieceLength, payload, hashes };
}

/** Writes the whole payload as the files would hold it (a finished download). */
export async function writePayload(root: string, fx: Fixture): Promise<void> {
  let pos = 0;
  for (const f of fx.files) {
    const p = join(root, ...f.path);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, fx.payload.subarray(pos, pos + f.length));
    pos += f.length;
  }
}

const dirs: string[] = [];
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'mainline-storage-'));
  dirs.push(d);
  return d;
}
export function cleanTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

function errno(code: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}: simulated`);
  e.code = code;
  return e;
}

/** node fs wrapped: counts open descriptors, and can fail chosen operations with an errno. */
export class FaultyFs implements StorageFs {
  openNow = 0;
  peak = 0;
  opens = 0;
  failWrite: string | null = null;
  failOpenWrite: string | null = null;
  failRead: string | null = null;
  /** Only paths containing this fail (all when null). */
  failPath: string | null = null;

  private hit(path: string): boolean {
    return this.failPath === null || path.includes(this.failPath);
  }

  async open(path: string, flags: string): Promise<StorageFileHandle> {
    if (flags !== 'r' && this.failOpenWrite !== null && this.hit(path)) throw errno(this.failOpenWrite);
    const h = await nodeFs.open(path, flags);
    this.openNow++;
    this.opens++;
    this.peak = Math.max(this.peak, this.openNow);
    let closed = false;
    return {
      read: (b, o, l, p) => (this.failRead !== null && this.hit(path) ? Promise.reject(errno(this.failRead)) : h.read(b, o, l, p)),
      write: (b, o, l, p) => (this.failWrite !== null && this.hit(path) ? Promise.reject(errno(this.failWrite)) : h.write(b, o, l, p)),
      truncate: (l) => h.truncate(l),
      stat: () => h.stat(),
      datasync: () => h.datasync(),
      close: async () => {
        if (closed) throw new Error('double close');
        closed = true;
        this.openNow--;
        await h.close();
      },
    };
  }

  mkdir(path: string, options: { recursive: true }): Promise<unknown> {
    return nodeFs.mkdir(path, options);
  }

  stat(path: string): ReturnType<StorageFs['stat']> {
    return nodeFs.stat(path);
  }

  lstat(path: string): ReturnType<StorageFs['lstat']> {
    return nodeFs.lstat(path);
  }

  /** The disk's free space as statfs tells it, unless `freeBytes` says otherwise (a small disk). */
  freeBytes: number | null = null;
  statfs(path: string): ReturnType<StorageFs['statfs']> {
    return this.freeBytes === null ? nodeFs.statfs(path) : Promise.resolve({ bavail: this.freeBytes, bsize: 1 });
  }
}

/** Mounts a 1 MiB tmpfs on `dir` when allowed (root in a container usually is); false otherwise. */
export function tryTmpfs(dir: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function unmount(dir: string): void {
  execFileSync('umount', [dir], { stdio: 'ignore' });
}

/** Splits a piece of the fixture into (begin, bytes) blocks of 16 KiB. */
export function blocksOf(fx: Fixture, piece: number, blockSize = 16384): [number, Buffer][] {
  const start = piece * fx.pieceLength;
  const end = Math.min(fx.payload.length, start + fx.pieceLength);
  const out: [number, Buffer][] = [];
  for (let b = start; b < end; b += blockSize) out.push([b - start, fx.payload.subarray(b, Math.min(end, b + blockSize))]);
  return out;
}
