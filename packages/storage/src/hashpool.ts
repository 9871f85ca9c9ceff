import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

// The worker is inline source (eval) so it works the same from the ESM and CJS builds and under
// jest, with no separate file to locate. It hashes consecutive pieces of a chunk and hands the
// chunk's ArrayBuffer back (transferred, not copied) together with the digests.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
parentPort.on('message', (m) => {
  const bytes = new Uint8Array(m.buffer, 0, m.length);
  const n = Math.ceil(m.length / m.pieceLength);
  const digests = new Uint8Array(n * 20);
  for (let i = 0; i < n; i++) {
    const start = i * m.pieceLength;
    digests.set(createHash('sha1').update(bytes.subarray(start, Math.min(m.length, start + m.pieceLength))).digest(), i * 20);
  }
  parentPort.postMessage({ id: m.id, buffer: m.buffer, digests: digests.buffer }, [m.buffer, digests.buffer]);
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
}

interface Job {
  resolve(r: HashResult): void;
  reject(e: unknown): void;
}

interface Slot {
  readonly worker: Worker;
  readonly jobs: Map<number, Job>;
}

/**
 * A small pool of worker threads that SHA-1 whole chunks of pieces. Buffers are transferred both
 * ways, so a chunk is never copied. With `size` 0 it hashes on the calling thread.
 */
export class HashPool {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private failure: unknown = null;

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true });
      const slot: Slot = { worker, jobs: new Map() };
      worker.on('message', (m: { id: number; buffer: ArrayBuffer; digests: ArrayBuffer }) => {
        const job = slot.jobs.get(m.id);
        slot.jobs.delete(m.id);
        job?.resolve({ buffer: m.buffer, digests: new Uint8Array(m.digests) });
      });
      const fail = (err: unknown): void => {
        this.failure ??= err;
        for (const job of slot.jobs.values()) job.reject(err);
        slot.jobs.clear();
      };
      worker.on('error', fail);
      worker.on('exit', (code) => {
        if (slot.jobs.size > 0) fail(new Error(`hash worker exited with code ${code}`));
      });
      this.slots.push(slot);
    }
  }

  /** Hashes the pieces in buffer[0, length); the buffer is detached until the promise resolves. */
  hash(buffer: ArrayBuffer, length: number, pieceLength: number): Promise<HashResult> {
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.slots.length === 0) {
      return Promise.resolve({ buffer, digests: hashPieces(new Uint8Array(buffer, 0, length), length, pieceLength) });
    }
    let slot = this.slots[0] as Slot;
    for (const s of this.slots) if (s.jobs.size < slot.jobs.size) slot = s;
    const id = this.nextId++;
    return new Promise<HashResult>((resolve, reject) => {
      slot.jobs.set(id, { resolve, reject });
      slot.worker.postMessage({ id, buffer, length, pieceLength }, [buffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}
