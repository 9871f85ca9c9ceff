import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PieceStore } from './piecestore.js';
import { Storage } from './storage.js';
import { cleanTempDirs, fixture, tempDir } from './test-helpers.js';

afterAll(cleanTempDirs);

// 4 pieces of 64 KiB over several files, the last one short.
const LENGTHS = [70000, 0, 50000, 82000];

async function openStore(root: string) {
  const fx = fixture(LENGTHS, 65536);
  const storage = new Storage({ root, files: fx.files, pieceLength: fx.pieceLength });
  await storage.open();
  const store = new PieceStore(storage, { pieceHashes: fx.hashes, hashWorkers: 0 });
  await store.start();
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
});
