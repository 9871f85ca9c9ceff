import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createPieceHasher, PieceStore } from './piecestore.js';
import { Storage, type FilePriority } from './storage.js';
import { cleanTempDirs, fixture, tempDir } from './test-helpers.js';

const opened: PieceStore[] = [];
afterEach(async () => {
  // Closing twice is harmless; this closes the stores a test left open (their file handles).
  await Promise.all(opened.splice(0).map((s) => s.close().catch(() => undefined)));
});
afterAll(cleanTempDirs);

// 4 pieces of 64 KiB over several files, the last one short.
const LENGTHS = [70000, 0, 50000, 82000];

async function openStore(root: string, priorities?: FilePriority[], pieceWorkers?: number) {
  const fx = fixture(LENGTHS, 65536);
  const storage = new Storage({ root, files: fx.files, pieceLength: fx.pieceLength, ...(priorities ? { priorities } : {}) });
  await storage.open();
  const store = new PieceStore(storage, { pieceHashes: fx.hashes, hashWorkers: 0, ...(pieceWorkers !== undefined ? { pieceWorkers } : {}) });
  await store.start();
  opened.push(store);
  return { fx, store };
}

describe('PieceStore.writePiece', () => {
  it('hashes in memory, writes once, marks the piece had and serves it', async () => {
    const { fx, store } = await openStore(tempDir());
    const events: string[] = [];
    store.on('verified', (p) => events.push(`v${p}`));
    store.on('complete', () => events.push('complete'));
    for (let p = 0; p < store.pieceCount; p++) {
      const data = fx.payload.subarray(p * 65536, p * 65536 + store.pieceSize(p));
      expect(await store.writePiece(p, data)).toEqual({ status: 'verified', piece: p });
    }
    expect(events).toEqual(['v0', 'v1', 'v2', 'v3', 'complete']);
    expect(store.amountLeft).toBe(0);
    expect(Buffer.from(await store.readBlock(2, 100, 5000)).equals(fx.payload.subarray(2 * 65536 + 100, 2 * 65536 + 5100))).toBe(true);
    expect(await store.writePiece(1, fx.payload.subarray(65536, 131072))).toEqual({ status: 'duplicate', piece: 1 });
  });

  it('a corrupt piece is reported and never reaches the disk', async () => {
    const root = tempDir();
    const { fx, store } = await openStore(root);
    const bad = Buffer.from(fx.payload.subarray(0, 65536));
    bad[1234] = bad[1234]! ^ 0xff;
    const failed: number[] = [];
    store.on('hashfail', (p) => failed.push(p));
    expect(await store.writePiece(0, bad)).toEqual({ status: 'hashfail', piece: 0 });
    expect(failed).toEqual([0]);
    expect(store.hasPiece(0)).toBe(false);
    await expect(store.readBlock(0, 0, 16)).rejects.toMatchObject({ code: 'NOT_HAD' });
    // The first file holds piece 0's bytes: nothing was written there (still a sparse zero file).
    const onDisk = readFileSync(join(root, ...fx.files[0]!.path));
    expect(onDisk.subarray(0, 65536).every((b) => b === 0)).toBe(true);
    // The good data afterwards is accepted.
    expect(await store.writePiece(0, fx.payload.subarray(0, 65536))).toEqual({ status: 'verified', piece: 0 });
  });

  it('rejects a wrong length with a typed error', async () => {
    const { store } = await openStore(tempDir());
    await expect(store.writePiece(3, Buffer.alloc(10))).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
  });

  it('with transfer, hashes on a worker thread and hands the same memory back', async () => {
    const root = tempDir();
    const { fx, store } = await openStore(root);
    try {
      const copyOf = (p: number): Buffer => {
        const own = Buffer.from(new ArrayBuffer(store.pieceSize(p)));
        own.set(fx.payload.subarray(p * 65536, p * 65536 + store.pieceSize(p)));
        return own;
      };
      // A corrupt piece through the worker: reported, not written, and its memory comes back.
      const bad = copyOf(0);
      bad[77] = bad[77]! ^ 1;
      const failed = await store.writePiece(0, bad, { transfer: true });
      expect(failed.status).toBe('hashfail');
      expect(bad.byteLength).toBe(0); // moved to the worker: the caller's view is detached
      expect(failed.data?.length).toBe(65536);
      expect(failed.data?.[77]).toBe(fx.payload[77]! ^ 1);
      expect(readFileSync(join(root, ...fx.files[0]!.path)).subarray(0, 65536).every((b) => b === 0)).toBe(true);
      // Good pieces, two at once through the one worker; the short last piece is hashed here.
      const results = await Promise.all([0, 1, 2, 3].map((p) => store.writePiece(p, copyOf(p), { transfer: true })));
      expect(results.map((r) => r.status)).toEqual(['verified', 'verified', 'verified', 'verified']);
      results.forEach((r, p) => expect(Buffer.from(r.data!).equals(fx.payload.subarray(p * 65536, p * 65536 + store.pieceSize(p)))).toBe(true));
      expect(store.amountLeft).toBe(0);
      const onDisk = Buffer.concat(fx.files.map((f) => readFileSync(join(root, ...f.path))));
      expect(onDisk.equals(fx.payload)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('a piece being hashed on the worker makes a second write of it a duplicate', async () => {
    const { fx, store } = await openStore(tempDir());
    try {
      const piece = (): Buffer => Buffer.from(new Uint8Array(fx.payload.subarray(65536, 131072)).buffer);
      const [first, second] = await Promise.all([store.writePiece(1, piece(), { transfer: true }), store.writePiece(1, piece(), { transfer: true })]);
      expect(first.status).toBe('verified');
      expect(second).toEqual({ status: 'duplicate', piece: 1 });
    } finally {
      await store.close();
    }
  });

  // Piece-sized buffers of their own (movable to the worker), filled with piece p's bytes.
  const own = (fx: ReturnType<typeof fixture>, p: number, size: number): Buffer => {
    const b = Buffer.from(new ArrayBuffer(size));
    b.set(fx.payload.subarray(p * 65536, p * 65536 + size));
    return b;
  };

  it('with transfer, pieces touching a skipped file go through the parts file', async () => {
    const root = tempDir();
    const { fx, store } = await openStore(root, ['skip', 'normal', 'normal', 'normal']);
    try {
      // Piece 0 lies in the skipped file 0; piece 1 straddles it and file 2; piece 2 is all file 2/3.
      const results = await Promise.all([0, 1, 2].map((p) => store.writePiece(p, own(fx, p, 65536), { transfer: true })));
      expect(results.map((r) => r.status)).toEqual(['verified', 'verified', 'verified']);
      expect(existsSync(join(root, ...fx.files[0]!.path))).toBe(false);
      for (const p of [0, 1, 2]) {
        expect(Buffer.from(await store.readBlock(p, 0, 16384)).equals(fx.payload.subarray(p * 65536, p * 65536 + 16384))).toBe(true);
      }
      expect(readFileSync(join(root, ...fx.files[2]!.path)).equals(fx.payload.subarray(70000, 120000))).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('a write that fails on the worker thread fails the store with the errno and the file', async () => {
    const root = tempDir();
    const { fx, store } = await openStore(root);
    // File 2 (bytes 70000..120000, inside piece 1) becomes a directory: the worker's open fails.
    const path = join(root, ...fx.files[2]!.path);
    rmSync(path);
    mkdirSync(path);
    await expect(store.writePiece(1, own(fx, 1, 65536), { transfer: true })).rejects.toMatchObject({ code: 'EISDIR', path });
    expect(store.state).toBe('failed');
    expect(store.hasPiece(1)).toBe(false);
    await store.close();
  });

  it('with pieceWorkers 0, transfer hashes on this thread and the buffer stays the caller\'s', async () => {
    const root = tempDir();
    const { fx, store } = await openStore(root, undefined, 0);
    try {
      const data = own(fx, 1, 65536);
      const r = await store.writePiece(1, data, { transfer: true });
      expect(r.status).toBe('verified');
      expect(data.byteLength).toBe(65536); // never moved
      expect(r.data).toBe(data);
      expect(Buffer.from(await store.readBlock(1, 0, 65536)).equals(fx.payload.subarray(65536, 131072))).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('stores given one shared pool use its threads, and closing a store leaves the pool to the others', async () => {
    const pool = createPieceHasher(1);
    try {
      const fx = fixture(LENGTHS, 65536);
      const stores: PieceStore[] = [];
      for (const root of [tempDir(), tempDir()]) {
        const storage = new Storage({ root, files: fx.files, pieceLength: fx.pieceLength });
        await storage.open();
        const store = new PieceStore(storage, { pieceHashes: fx.hashes, hashWorkers: 0, pieceHasher: pool });
        await store.start();
        opened.push(store);
        stores.push(store);
      }
      const [a, b] = stores as [PieceStore, PieceStore];
      expect((await a.writePiece(0, own(fx, 0, 65536), { transfer: true })).status).toBe('verified');
      expect(pool.threads).toBe(1);
      await a.close();
      expect((await b.writePiece(1, own(fx, 1, 65536), { transfer: true })).status).toBe('verified');
      expect(pool.threads).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it('refuses a bad pieceWorkers count', async () => {
    const fx = fixture(LENGTHS, 65536);
    const storage = new Storage({ root: tempDir(), files: fx.files, pieceLength: fx.pieceLength });
    expect(() => new PieceStore(storage, { pieceHashes: fx.hashes, pieceWorkers: -1 })).toThrow(/pieceWorkers/);
    expect(() => new PieceStore(storage, { pieceHashes: fx.hashes, pieceWorkers: 1.5 })).toThrow(/pieceWorkers/);
  });
});
