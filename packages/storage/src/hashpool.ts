import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import type { DirectWrite } from './storage.js';

// The worker is inline source (eval) so it works the same from the ESM and CJS builds and under
// jest, with no separate file to locate. It hashes consecutive pieces of a chunk and hands the
// chunk's ArrayBuffer back (transferred, not copied) together with the digests. It loads its
// modules with import(), which works both when eval runs it as CommonJS (the default) and as an
// ES module (a parent started with --input-type=module); messages wait until it listens.
const WORKER_SOURCE = `
Promise.all([import('node:worker_threads'), import('node:crypto'), import('node:fs')]).then(([{ parentPort }, { createHash }, fs]) => {
function writeAll(bytes, w) {
  // O_NOFOLLOW: a symbolic link put in place of a file is refused (ELOOP), never written through.
  const fd = fs.openSync(w.path, fs.constants.O_RDWR | (fs.constants.O_NOFOLLOW || 0));
  try {
    for (let done = 0; done < w.length; ) {
      const n = fs.writeSync(fd, bytes, w.bufferOffset + done, w.length - done, w.fileOffset + done);
      if (n <= 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
      done += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}
parentPort.on('message', (m) => {
  const bytes = new Uint8Array(m.buffer, 0, m.length);
  const n = Math.ceil(m.length / m.pieceLength);
  const digests = new Uint8Array(n * 20);
  for (let i = 0; i < n; i++) {
    const start = i * m.pieceLength;
    digests.set(createHash('sha1').update(bytes.subarray(start, Math.min(m.length, start + m.pieceLength))).digest(), i * 20);
  }
  let written = false;
  let error;
  if (m.writes && Buffer.compare(digests, m.expected) === 0) {
    let w;
    try {
      for (w of m.writes) writeAll(bytes, w);
      written = true;
    } catch (e) {
      error = { code: e.code, message: e.message, path: w && w.path };
    }
  }
  parentPort.postMessage({ id: m.id, buffer: m.buffer, digests: digests.buffer, written, error }, [m.buffer, digests.buffer]);
});
});
`;

/** SHA-1 of each `pieceLength` slice of bytes[0, length) (the last may be short), 20 bytes each. */
export function hashPieces(bytes: Uint8Array, length: number, pieceLength: number): Uint8Array {
  const n = Math.ceil(length / pieceLength);
  const digests = new Uint8Array(n * 20);
  for (let i = 0; i < n; i++) {
    const start = i * pieceLength;
    digests.set(createHash('sha1').update(bytes.subarray(start, Math.min(length, start + pieceLength))).digest(), i * 20);
  }
  return digests;
}

export interface HashResult {
  /** The chunk's buffer, returned for reuse. */
  readonly buffer: ArrayBuffer;
  readonly digests: Uint8Array;
  /** The writes asked for were done (the digests matched `expected`). */
  readonly written: boolean;
}

/** Writes for the worker to make once the chunk hashed to `expected` (all its pieces' digests). */
export interface WriteAfterHash {
  readonly writes: readonly DirectWrite[];
  readonly expected: Uint8Array;
}

/** A write by a worker failed: errno `code` and the file, as fs errors carry them. */
class WorkerWriteError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly path: string | undefined,
  ) {
    super(message);
  }
}

interface Job {
  readonly bytes: number;
  resolve(r: HashResult): void;
  reject(e: unknown): void;
}

interface WorkerReply {
  id: number;
  buffer: ArrayBuffer;
  digests: ArrayBuffer;
  written: boolean;
  error?: { code?: string; message: string; path?: string };
}

/** Jobs a thread answers before its backlog counts as load (see HashPool.pick). */
const WARM_UP_JOBS = 32;

interface Slot {
  readonly worker: Worker;
  readonly jobs: Map<number, Job>;
  /** Bytes posted to this thread and not answered yet. */
  pendingBytes: number;
  /** Jobs answered: a thread that is still booting or warming up is slow for a while. */
  answered: number;
}

export interface HashPoolOptions {
  /**
   * Threads are started on demand: another one only once every running thread has at least this
   * many bytes waiting (default 0: whenever all are busy). One thread hashes and writes ~1 GB/s,
   * and each extra one costs its own JS engine (compiling, wake-ups): on a small machine a second
   * thread that is not needed slows the whole download down.
   */
  readonly growAtBytes?: number;
}

/**
 * A small pool of worker threads that SHA-1 whole chunks of pieces. Buffers are transferred both
 * ways, so a chunk is never copied. With `size` 0 it hashes on the calling thread; otherwise up to
 * `size` threads run, started as the load needs them (see HashPoolOptions).
 */
export class HashPool {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private failure: unknown = null;
  private closed = false;
  private readonly growAtBytes: number;

  constructor(
    private readonly size: number,
    options: HashPoolOptions = {},
  ) {
    this.growAtBytes = options.growAtBytes ?? 0;
  }

  /** The most threads it will run (0: it hashes on the calling thread). */
  get maxThreads(): number {
    return this.size;
  }

  /** Threads started so far. */
  get threads(): number {
    return this.slots.length;
  }

  /**
   * Starts the first thread now if none runs yet, so that its boot (a JS engine of its own: tens of
   * milliseconds, more on a busy machine) overlaps whatever comes before the first piece (connecting
   * to peers) instead of holding up the first pieces. An idle thread never keeps the process alive.
   */
  prestart(): void {
    if (this.size > 0 && this.slots.length === 0 && !this.closed && this.failure === null) this.spawn();
  }

  private spawn(): Slot {
    // node:worker_threads loads with the first thread: a seeding daemon that never hashes does not
    // keep its code resident. (A plain require: a dynamic import fails in CommonJS hosts such as jest.)
    const { Worker } = createRequire(process.execPath)('node:worker_threads') as typeof import('node:worker_threads');
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    const slot: Slot = { worker, jobs: new Map(), pendingBytes: 0, answered: 0 };
    worker.on('message', (m: WorkerReply) => {
      const job = slot.jobs.get(m.id);
      slot.jobs.delete(m.id);
      if (slot.jobs.size === 0) worker.unref();
      slot.answered++;
      if (job) slot.pendingBytes -= job.bytes;
      if (m.error) job?.reject(new WorkerWriteError(m.error.message, m.error.code, m.error.path));
      else job?.resolve({ buffer: m.buffer, digests: new Uint8Array(m.digests), written: m.written });
    });
    const fail = (err: unknown): void => {
      this.failure ??= err;
      for (const job of slot.jobs.values()) job.reject(err);
      slot.jobs.clear();
      slot.pendingBytes = 0;
      worker.unref();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (slot.jobs.size > 0) fail(new Error(`hash worker exited with code ${code}`));
    });
    // Referenced only while it has work: an idle pool does not keep the process alive. Unreferenced
    // after its listeners are on: adding a 'message' listener references the worker's port again.
    worker.unref();
    this.slots.push(slot);
    return slot;
  }

  /**
   * The least loaded thread, or a new one when all running ones are loaded past growAtBytes and
   * size allows. With growAtBytes set, a thread that has not answered WARM_UP_JOBS yet is still
   * booting or running cold code: its backlog is no sign of load.
   */
  private pick(): Slot {
    let slot: Slot | undefined;
    for (const s of this.slots) if (!slot || s.pendingBytes < slot.pendingBytes) slot = s;
    if (!slot) return this.spawn();
    const loaded = slot.pendingBytes > 0 && slot.pendingBytes >= this.growAtBytes && (slot.answered >= WARM_UP_JOBS || this.growAtBytes === 0);
    return loaded && this.slots.length < this.size ? this.spawn() : slot;
  }

  /**
   * Hashes the pieces in buffer[0, length); the buffer is detached until the promise resolves.
   * With `then`, the worker also makes those writes (synchronously, off this thread) if and only
   * if the digests equal `then.expected`; a failed write rejects with the fs error's code and path.
   */
  hash(buffer: ArrayBuffer, length: number, pieceLength: number, then?: WriteAfterHash): Promise<HashResult> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new Error('HashPool is closed'));
    if (this.size === 0) {
      if (then) return Promise.reject(new Error('HashPool: writes need a worker'));
      return Promise.resolve({ buffer, digests: hashPieces(new Uint8Array(buffer, 0, length), length, pieceLength), written: false });
    }
    const slot = this.pick();
    const id = this.nextId++;
    return new Promise<HashResult>((resolve, reject) => {
      if (slot.jobs.size === 0) slot.worker.ref();
      slot.jobs.set(id, { bytes: length, resolve, reject });
      slot.pendingBytes += length;
      slot.worker.postMessage({ id, buffer, length, pieceLength, writes: then?.writes, expected: then?.expected }, [buffer]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}
