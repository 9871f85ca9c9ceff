import { Bitfield } from '@mainline/bitfield';
import { HashPool } from './hashpool.js';
import type { Storage } from './storage.js';

/** Recheck progress, reported after each chunk. Bytes count only pieces whose data is present. */
export interface RecheckProgress {
  readonly checkedBytes: number;
  readonly totalBytes: number;
  readonly checkedPieces: number;
  readonly totalPieces: number;
  /** Pieces found good so far. */
  readonly goodPieces: number;
}

export interface RecheckOptions {
  /** Hash worker threads (default 2; 0 hashes on the main thread). Small payloads (< 8 MiB) always use the main thread. */
  readonly workers?: number;
  /** Bytes per sequential read, rounded down to whole pieces (at least one). Default 4 MiB. */
  readonly chunkBytes?: number;
  readonly onProgress?: (progress: RecheckProgress) => void;
}

const DEFAULT_CHUNK = 4 << 20;
const SMALL_PAYLOAD = 8 << 20;

/** Which pieces have all their bytes on disk: inside each file's data extent, or in a parts slot. */
async function presentPieces(storage: Storage): Promise<Bitfield> {
  const { layout } = storage;
  const extents = await storage.dataExtents();
  const present = new Bitfield(layout.pieceCount);
  for (let p = 0; p < layout.pieceCount; p++) {
    let ok = true;
    for (const s of layout.spans(p * layout.pieceLength, layout.pieceSize(p))) {
      const extent = extents[s.file] as number;
      if (storage.isMaterialised(s.file) ? s.fileOffset + s.length > extent : !storage.hasPartsSlot(p)) {
        ok = false;
        break;
      }
    }
    if (ok) present.set(p);
  }
  return present;
}

/**
 * Full recheck: reads every present piece once, in large sequential reads on the main thread
 * (the reads themselves run on libuv's pool), and hashes them on worker threads, buffers
 * transferred not copied, so reading and hashing overlap and both cores work. Returns the pieces
 * whose SHA-1 matches. Disk errors reject (typed StorageError from the storage).
 */
export async function recheckStorage(storage: Storage, hashes: Uint8Array, options: RecheckOptions = {}): Promise<Bitfield> {
  const { layout } = storage;
  const pl = layout.pieceLength;
  const good = new Bitfield(layout.pieceCount);
  const present = await presentPieces(storage);
  let totalBytes = 0;
  for (const p of present.setIndices()) totalBytes += layout.pieceSize(p);
  const totalPieces = present.count();
  const piecesPerChunk = Math.max(1, Math.floor((options.chunkBytes ?? DEFAULT_CHUNK) / pl));
  const wantedWorkers = options.workers ?? 2;
  const pool = new HashPool(totalBytes < SMALL_PAYLOAD ? 0 : wantedWorkers);
  const buffers: ArrayBuffer[] = [];
  const waiting: ((b: ArrayBuffer) => void)[] = [];
  const inFlight = new Set<Promise<void>>();
  const maxBuffers = Math.max(2, wantedWorkers + 2);
  let made = 0;
  let checkedBytes = 0;
  let checkedPieces = 0;
  let failure: unknown = null;

  const takeBuffer = (): Promise<ArrayBuffer> => {
    const b = buffers.pop();
    if (b !== undefined) return Promise.resolve(b);
    if (made < maxBuffers) {
      made++;
      return Promise.resolve(new ArrayBuffer(piecesPerChunk * pl));
    }
    return new Promise((r) => waiting.push(r));
  };
  const giveBuffer = (b: ArrayBuffer): void => {
    const w = waiting.shift();
    if (w !== undefined) w(b);
    else buffers.push(b);
  };

  try {
    let p = present.nextSet(0);
    while (p !== -1 && failure === null) {
      // A chunk: consecutive present pieces starting at p.
      const first = p;
      let last = p;
      while (last + 1 < layout.pieceCount && last + 1 - first < piecesPerChunk && present.get(last + 1)) last++;
      p = last + 1 < layout.pieceCount ? present.nextSet(last + 1) : -1;
      const position = first * pl;
      const length = (last === layout.pieceCount - 1 ? layout.totalLength : (last + 1) * pl) - position;
      const buffer = await takeBuffer();
      if (failure !== null) break;
      try {
        await storage.readInto(position, new Uint8Array(buffer, 0, length));
      } catch (err) {
        giveBuffer(buffer);
        throw err;
      }
      const job: Promise<void> = pool.hash(buffer, length, pl).then(
        ({ buffer: back, digests }) => {
          for (let i = 0; i <= last - first; i++) {
            const piece = first + i;
            if (Buffer.compare(digests.subarray(i * 20, i * 20 + 20), hashes.subarray(piece * 20, piece * 20 + 20)) === 0) good.set(piece);
          }
          checkedBytes += length;
          checkedPieces += last - first + 1;
          giveBuffer(back);
          options.onProgress?.({ checkedBytes, totalBytes, checkedPieces, totalPieces, goodPieces: good.count() });
        },
        (err: unknown) => {
          failure ??= err;
          for (const w of waiting.splice(0)) w(new ArrayBuffer(0));
        },
      );
      inFlight.add(job);
      void job.then(() => inFlight.delete(job));
    }
    await Promise.all(inFlight);
    if (failure !== null) throw failure;
  } finally {
    await Promise.all(inFlight);
    await pool.close();
  }
  if (totalPieces === 0) options.onProgress?.({ checkedBytes: 0, totalBytes: 0, checkedPieces: 0, totalPieces: 0, goodPieces: 0 });
  return good;
}
