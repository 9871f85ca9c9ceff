import { existsSync, openSync, readFileSync, statSync, truncateSync, utimesSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { PieceStore, type WriteResult } from './piecestore.js';
import { decodeResume, encodeResume } from './resume.js';
import { Storage, type FilePriority } from './storage.js';
import type { StorageError } from './errors.js';
import type { StorageFs } from './fs.js';
import { blocksOf, cleanTempDirs, FaultyFs, fixture, tempDir, tryTmpfs, unmount, writePayload, type Fixture } from './test-helpers.js';

afterAll(cleanTempDirs);

async function openStore(root: string, fx: Fixture, extra: { priorities?: FilePriority[]; fs?: StorageFs; workers?: number; checkFreeSpace?: boolean } = {}) {
  const storage = new Storage({ root, files: fx.files, pieceLength: fx.pieceLength, priorities: extra.priorities, fs: extra.fs, maxOpenFiles: 16, checkFreeSpace: extra.checkFreeSpace });
  await storage.open();
  return new PieceStore(storage, { pieceHashes: fx.hashes, hashWorkers: extra.workers ?? 0 });
}

async function downloadAll(store: PieceStore, fx: Fixture, pieces?: number[]): Promise<WriteResult[]> {
  const results: WriteResult[] = [];
  const list = pieces ?? Array.from({ length: store.pieceCount }, (_, i) => i);
  await Promise.all(
    list.map(async (p) => {
      // Blocks of a piece arrive in reverse, pieces concurrently.
      const blocks = blocksOf(fx, p).reverse();
      for (const [begin, data] of blocks) results.push(await store.writeBlock(p, begin, data));
    }),
  );
  return results;
}

// 3 pieces of 64 KiB (4 blocks each) over files with zero-length ones, then a short last piece.
const LENGTHS = [0, 70000, 0, 1, 50000, 0, 82000];

describe('PieceStore', () => {
  it('is an ordinary EventEmitter (its listener table is a light object of its own)', async () => {
    const store = await openStore(tempDir(), fixture([1000], 16384));
    const seen: string[] = [];
    const verified = (p: number): void => void seen.push(`v${p}`);
    store.on('verified', verified);
    store.once('complete', () => seen.push('complete'));
    store.prependListener('verified', (p) => seen.push(`first${p}`));
    expect(store.listenerCount('verified')).toBe(2);
    expect(store.eventNames()).toEqual(['verified', 'complete']);
    store.emit('verified', 4);
    store.emit('complete');
    store.emit('complete');
    store.off('verified', verified);
    store.emit('verified', 5);
    expect(seen).toEqual(['first4', 'v4', 'complete', 'first5']);
    expect(store.listenerCount('complete')).toBe(0);
    // Names that an object literal would inherit are plain event names here.
    expect(store.listenerCount('toString' as 'error')).toBe(0);
    store.removeAllListeners();
    expect(store.eventNames()).toEqual([]);
    await store.close();
  });

  it('verifies pieces as their blocks land, reports completion and serves verified data', async () => {
    const root = tempDir();
    const fx = fixture(LENGTHS, 65536);
    const store = await openStore(root, fx);
    const events: string[] = [];
    store.on('verified', (p) => events.push(`v${p}`));
    store.on('complete', () => events.push('complete'));
    expect(await store.start()).toEqual({ resumed: false, reason: 'no resume record' });
    expect(store.amountLeft).toBe(202001);
    expect(store.pieceCount).toBe(4);
    expect(store.blockCount(3)).toBe(1);
    expect(store.blockSize(3, 0)).toBe(202001 - 3 * 65536);
    await expect(store.readBlock(0, 0, 16384)).rejects.toMatchObject({ code: 'NOT_HAD' });

    const first = await store.writeBlock(1, 16384, fx.payload.subarray(65536 + 16384, 65536 + 32768));
    expect(first).toEqual({ status: 'written', piece: 1, blocksLeft: 3 });
    expect([...store.writtenBlocks(1)]).toEqual([false, true, false, false]);
    expect(await store.writeBlock(1, 16384, fx.payload.subarray(65536 + 16384, 65536 + 32768))).toEqual({ status: 'duplicate', piece: 1 });
    expect(store.partialPieces()).toEqual([1]);

    const results = await downloadAll(store, fx);
    expect(results.filter((r) => r.status === 'verified').map((r) => r.piece).sort()).toEqual([0, 1, 2, 3]);
    expect(events.filter((e) => e.startsWith('v')).sort()).toEqual(['v0', 'v1', 'v2', 'v3']);
    expect(events.at(-1)).toBe('complete');
    expect(store.amountLeft).toBe(0);
    expect(store.isComplete()).toBe(true);
    expect(store.haveBitfield().isComplete()).toBe(true);
    expect(store.partialPieces()).toEqual([]);
    expect(await store.writeBlock(2, 0, fx.payload.subarray(131072, 131072 + 16384))).toEqual({ status: 'duplicate', piece: 2 });

    // Serving: any range inside a verified piece, checked against the end of the piece.
    expect(Buffer.compare(await store.readBlock(1, 100, 30000), fx.payload.subarray(65636, 95636))).toBe(0);
    expect(Buffer.compare(await store.readBlock(3, 0, 5393), fx.payload.subarray(196608))).toBe(0);
    await expect(store.readBlock(3, 1, 5393)).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
    await expect(store.readBlock(4, 0, 1)).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
    await expect(store.writeBlock(0, 100, Buffer.alloc(16384))).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
    await expect(store.writeBlock(3, 0, Buffer.alloc(16384))).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
    expect(store.state).toBe('ready'); // argument errors do not stop the store
    await store.close();
    let pos = 0;
    for (const f of fx.files) {
      expect(Buffer.compare(readFileSync(join(root, ...f.path)), fx.payload.subarray(pos, pos + f.length))).toBe(0);
      pos += f.length;
    }
  });

  it('discards a piece that fails its hash and reports it, then accepts good data', async () => {
    const root = tempDir();
    const fx = fixture([100000], 32768);
    const store = await openStore(root, fx);
    await store.start();
    const failed: number[] = [];
    store.on('hashfail', (p) => failed.push(p));
    const bad = Buffer.from(fx.payload.subarray(32768, 49152));
    bad[5] = (bad[5] as number) ^ 0xff;
    await store.writeBlock(1, 16384, fx.payload.subarray(49152, 65536));
    expect(await store.writeBlock(1, 0, bad)).toEqual({ status: 'hashfail', piece: 1 });
    expect(failed).toEqual([1]);
    expect(store.hasPiece(1)).toBe(false);
    expect(store.writtenBlocks(1).isEmpty()).toBe(true);
    expect(store.amountLeft).toBe(100000);
    await downloadAll(store, fx, [1]);
    expect(store.hasPiece(1)).toBe(true);
    expect(store.amountLeft).toBe(100000 - 32768);
    await store.close();
  });

  it('completes at once for an empty torrent', async () => {
    const root = tempDir();
    const fx = fixture([0, 0], 16384);
    const store = await openStore(root, fx);
    const complete = jest.fn();
    store.on('complete', complete);
    await store.start();
    expect(complete).toHaveBeenCalledTimes(1);
    expect(existsSync(join(root, 't', 'f000.bin')) && existsSync(join(root, 't', 'f001.bin'))).toBe(true);
    await store.close();
  });

  it('rechecks existing data: finds good pieces, a corrupted one and missing ones', async () => {
    const root = tempDir();
    const fx = fixture([30000, 0, 45000, 20000, 9000], 16384);
    await writePayload(root, fx);
    // Corrupt one byte of piece 2 ([32768, 49152) lies in f002 at 2768..19152).
    const fd = openSync(join(root, 't', 'f002.bin'), 'r+');
    writeSync(fd, Buffer.from([fx.payload[40000]! ^ 1]), 0, 1, 40000 - 30000);
    closeSync(fd);
    truncateSync(join(root, 't', 'f004.bin'), 100); // the last piece cannot be complete
    const store = await openStore(root, fx);
    const progress: number[] = [];
    const res = await store.start({ onProgress: (p) => progress.push(p.checkedPieces) });
    expect(res.resumed).toBe(false);
    // f004 now ends at 95100: piece 5 ([81920, 98304)) and 6 lack data and are not even read.
    expect([...store.haveBitfield().unsetIndices()]).toEqual([2, 5, 6]);
    expect(progress.at(-1)).toBe(5);
    expect(store.amountLeft).toBe(2 * 16384 + (104000 - 6 * 16384));
    await store.close();
  });

  it('rechecks a larger payload on worker threads', async () => {
    const root = tempDir();
    const fx = fixture([5_000_000, 0, 4_000_000, 3_000_001], 262144);
    await writePayload(root, fx);
    const fd = openSync(join(root, 't', 'f002.bin'), 'r+');
    writeSync(fd, Buffer.from('x'), 0, 1, 1_000_000);
    closeSync(fd);
    const store = await openStore(root, fx, { workers: 2 });
    const events: number[] = [];
    store.on('progress', (p) => events.push(p.checkedBytes));
    await store.start();
    expect([...store.haveBitfield().unsetIndices()]).toEqual([Math.floor(6_000_000 / 262144)]);
    expect(events.at(-1)).toBe(fx.payload.length);
    expect(events.length).toBeGreaterThan(2);
    await store.close();
  });

  it('resumes without hashing when the record matches, rechecks when a file changed', async () => {
    const root = tempDir();
    const fx = fixture([40000, 60000], 32768);
    const first = await openStore(root, fx);
    await first.start();
    await downloadAll(first, fx, [0, 2]); // piece 3 (1696 bytes) stays missing
    await first.writeBlock(1, 0, fx.payload.subarray(32768, 49152)); // a partial piece
    const record = await first.resumeRecord();
    await first.close();
    // Through plain data and back, with Map dicts and bigint integers like a bencode decoder gives.
    const plain = encodeResume(record);
    const asMap = new Map<string, unknown>(Object.entries(plain).map(([k, v]) => [k, typeof v === 'number' ? BigInt(v) : v]));
    const decoded = decodeResume(asMap);
    expect(decoded).toEqual(record);

    const fs = new FaultyFs();
    const second = await openStore(root, fx, { fs });
    const progress = jest.fn();
    const opensBefore = fs.opens;
    expect(await second.start({ resume: decoded, onProgress: progress })).toEqual({ resumed: true });
    expect(progress).not.toHaveBeenCalled();
    expect(fs.opens).toBe(opensBefore); // nothing was read
    expect([...second.haveBitfield().setIndices()]).toEqual([0, 2]);
    expect([...second.writtenBlocks(1)]).toEqual([true, false]);
    expect(second.amountLeft).toBe(100000 - 2 * 32768);
    expect(await downloadAll(second, fx, [1])).toContainEqual({ status: 'verified', piece: 1 });
    const record2 = await second.resumeRecord();
    await second.close();

    // A file modified behind our back (same size, other mtime): full recheck.
    const f1 = join(root, 't', 'f001.bin');
    const st = statSync(f1);
    utimesSync(f1, st.atime, new Date(st.mtimeMs + 5000));
    const third = await openStore(root, fx);
    const res = await third.start({ resume: record2 });
    expect(res.resumed).toBe(false);
    expect(res.reason).toMatch(/changed since the resume record/);
    expect([...third.haveBitfield().setIndices()]).toEqual([0, 1, 2]);
    await third.close();

    // A malformed record falls back to a recheck too.
    const fourth = await openStore(root, fx);
    expect((await fourth.start({ resume: { version: 9 } })).reason).toMatch(/unsupported version/);
    await fourth.close();
  });

  it('detects a truncated file: the read fails, the store stops, a restart rechecks', async () => {
    const root = tempDir();
    const fx = fixture([50000, 50000], 16384);
    const store = await openStore(root, fx);
    await store.start();
    await downloadAll(store, fx);
    const record = await store.resumeRecord();
    truncateSync(join(root, 't', 'f001.bin'), 10000);
    const errors: StorageError[] = [];
    store.on('error', (e) => errors.push(e));
    await expect(store.readBlock(5, 0, 100)).rejects.toMatchObject({ code: 'TRUNCATED', path: join(root, 't', 'f001.bin') });
    expect(store.state).toBe('failed');
    expect(errors.map((e) => e.code)).toEqual(['TRUNCATED']);
    await expect(store.readBlock(0, 0, 100)).rejects.toMatchObject({ code: 'FAILED' });
    await expect(store.resumeRecord()).rejects.toMatchObject({ code: 'FAILED' });
    await store.close();
    const again = await openStore(root, fx);
    expect((await again.start({ resume: record })).resumed).toBe(false);
    expect([...again.haveBitfield().setIndices()]).toEqual([0, 1, 2]); // [0, 60000) is intact
    await again.close();
  });

  it('a failed write sets no bit; the store stops until clearError()', async () => {
    const root = tempDir();
    const fx = fixture([40000], 32768);
    const fs = new FaultyFs();
    const store = await openStore(root, fx, { fs });
    await store.start();
    const [[b0, d0], [b1, d1]] = blocksOf(fx, 0) as [[number, Buffer], [number, Buffer]];
    await store.writeBlock(0, b0, d0);
    fs.failWrite = 'EIO';
    const errors: string[] = [];
    store.on('error', (e) => errors.push(`${e.code}:${e.operation}`));
    await expect(store.writeBlock(0, b1, d1)).rejects.toMatchObject({ code: 'EIO', operation: 'write' });
    expect(errors).toEqual(['EIO:write']);
    expect(store.state).toBe('failed');
    expect(store.hasPiece(0)).toBe(false);
    expect([...store.writtenBlocks(0)]).toEqual([true, false]);
    await expect(store.writeBlock(0, b1, d1)).rejects.toMatchObject({ code: 'FAILED' });
    fs.failWrite = null;
    store.clearError();
    expect(await store.writeBlock(0, b1, d1)).toEqual({ status: 'verified', piece: 0 });
    await store.close();
  });

  it('surfaces ENOSPC from a full disk as a typed error, keeping verified pieces', async () => {
    const root = tempDir();
    const mounted = tryTmpfs(root);
    // Without mount rights, an injected file system reports ENOSPC instead.
    const fs = mounted ? undefined : new FaultyFs();
    try {
      const fx = fixture([600_000, 600_000], 65536); // 1.2 MB onto a 1 MiB tmpfs
      // Told to go ahead although it does not fit (the open-time check would refuse).
      const store = await openStore(root, fx, { fs, checkFreeSpace: false });
      await store.start();
      const errors: StorageError[] = [];
      store.on('error', (e) => errors.push(e));
      let failure: unknown = null;
      for (let p = 0; p < store.pieceCount && failure === null; p++) {
        if (fs !== undefined && p === 10) fs.failWrite = 'ENOSPC';
        for (const [begin, data] of blocksOf(fx, p)) {
          failure = await store.writeBlock(p, begin, data).then(() => null, (e: unknown) => e);
          if (failure !== null) break;
        }
      }
      expect(failure).toMatchObject({ code: 'ENOSPC', operation: 'write' });
      expect(errors.map((e) => e.code)).toEqual(['ENOSPC']);
      const had = [...store.haveBitfield().setIndices()];
      expect(had.length).toBeGreaterThan(5);
      expect(had).toEqual(Array.from({ length: had.length }, (_, i) => i));
      store.clearError();
      for (const p of had) expect(Buffer.compare(await store.readBlock(p, 0, 1000), fx.payload.subarray(p * 65536, p * 65536 + 1000))).toBe(0);
      await store.close();
    } finally {
      if (mounted) unmount(root);
    }
  });

  it('downloads around skipped files without creating them', async () => {
    const root = tempDir();
    const fx = fixture([20000, 30000, 1000, 25000], 16384);
    const priorities: FilePriority[] = ['normal', 'skip', 'skip', 'normal'];
    const store = await openStore(root, fx, { priorities });
    await store.start();
    // Pieces touching wanted files: 0, 1 (f000+f001), 3 (f001+f002+f003), 4.
    await downloadAll(store, fx, [0, 1, 3, 4]);
    expect([...store.haveBitfield().setIndices()]).toEqual([0, 1, 3, 4]);
    expect(existsSync(join(root, 't', 'f001.bin')) || existsSync(join(root, 't', 'f002.bin'))).toBe(false);
    expect(Buffer.compare(await store.readBlock(3, 0, 16384), fx.payload.subarray(49152, 65536))).toBe(0);
    const record = await store.resumeRecord();
    await store.close();
    // A recheck finds the straddling pieces again through the parts file.
    const again = await openStore(root, fx, { priorities });
    await again.start();
    expect([...again.haveBitfield().setIndices()]).toEqual([0, 1, 3, 4]);
    await again.close();
    const resumed = await openStore(root, fx, { priorities });
    expect(await resumed.start({ resume: record })).toEqual({ resumed: true });
    await resumed.close();
  });

  it('rejects bad hashes and calls in the wrong state', async () => {
    const root = tempDir();
    const fx = fixture([1000], 512);
    const storage = new Storage({ root, files: fx.files, pieceLength: fx.pieceLength });
    await storage.open();
    expect(() => new PieceStore(storage, { pieceHashes: new Uint8Array(21) })).toThrow(/multiple of 20/);
    expect(() => new PieceStore(storage, { pieceHashes: new Uint8Array(60) })).toThrow(/3 piece hashes for 2 pieces/);
    const store = new PieceStore(storage, { pieceHashes: [fx.hashes.subarray(0, 20), fx.hashes.subarray(20, 40)] });
    await expect(store.writeBlock(0, 0, fx.payload.subarray(0, 512))).rejects.toMatchObject({ code: 'BAD_INPUT' });
    await store.start();
    await expect(store.start()).rejects.toMatchObject({ code: 'BAD_INPUT' });
    expect(() => decodeResume({ version: 1, 'piece length': 512, 'total length': 1000, have: new Uint8Array([0xff]), files: [], parts: [], partial: [] })).toThrow(
      expect.objectContaining({ code: 'BAD_RESUME' }),
    );
    await store.close();
    await expect(store.readBlock(0, 0, 1)).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('ignores a second copy of a block while the first is in flight (endgame), and never rewrites a verified piece', async () => {
    const root = tempDir();
    const fx = fixture([65536], 65536);
    const store = await openStore(root, fx);
    await store.start();
    const blocks = blocksOf(fx, 0);
    for (const [begin, data] of blocks.slice(0, 3)) await store.writeBlock(0, begin, data);
    const [begin, good] = blocks[3] as [number, Buffer];
    const evil = Buffer.alloc(good.length, 0xee);
    const [a, b] = await Promise.all([store.writeBlock(0, begin, good), store.writeBlock(0, begin, evil)]);
    expect(a).toEqual({ status: 'verified', piece: 0 });
    expect(b).toEqual({ status: 'duplicate', piece: 0 });
    expect(await store.writeBlock(0, begin, evil)).toEqual({ status: 'duplicate', piece: 0 });
    expect(Buffer.compare(await store.readBlock(0, begin, good.length), good)).toBe(0);
    await store.close();
  });

  it('a read error during the recheck fails start() with a typed error', async () => {
    const root = tempDir();
    const fx = fixture([40000, 40000], 16384);
    await writePayload(root, fx);
    const fs = new FaultyFs();
    fs.failRead = 'EIO';
    fs.failPath = 'f001';
    const store = await openStore(root, fx, { fs });
    const errors: string[] = [];
    store.on('error', (e) => errors.push(e.code));
    await expect(store.start()).rejects.toMatchObject({ code: 'EIO', operation: 'read', path: join(root, 't', 'f001.bin') });
    expect(store.state).toBe('failed');
    expect(errors).toEqual(['EIO']);
    expect(store.haveCount).toBe(0);
    await store.close();
  });
});
