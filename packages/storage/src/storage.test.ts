import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { StorageError } from './errors.js';
import { Storage } from './storage.js';
import { cleanTempDirs, FaultyFs, fixture, tempDir, writePayload } from './test-helpers.js';

afterAll(cleanTempDirs);

describe('Storage', () => {
  it('writes and reads ranges spanning many files, zero-length files created', async () => {
    const root = tempDir();
    const fx = fixture([0, 100, 1, 0, 7000, 0, 3, 20000, 0], 1024);
    const s = new Storage({ root, files: fx.files, pieceLength: fx.pieceLength });
    await s.open();
    for (const f of fx.files) expect(statSync(join(root, ...f.path)).size).toBe(0); // sparse: created empty
    // Write in odd-sized chunks that straddle file boundaries, out of order.
    const cuts = [0, 50, 101, 5000, 7104, 9000, 27104];
    const order = [3, 0, 5, 1, 4, 2];
    await Promise.all(order.map((i) => s.write(cuts[i] as number, fx.payload.subarray(cuts[i], cuts[i + 1]))));
    expect(Buffer.compare(await s.read(0, fx.payload.length), fx.payload)).toBe(0);
    expect(Buffer.compare(await s.read(99, 10), fx.payload.subarray(99, 109))).toBe(0);
    let pos = 0;
    for (const f of fx.files) {
      expect(Buffer.compare(readFileSync(join(root, ...f.path)), fx.payload.subarray(pos, pos + f.length))).toBe(0);
      pos += f.length;
    }
    await expect(s.read(27100, 5)).rejects.toMatchObject({ code: 'OUT_OF_RANGE' });
    await s.close();
    await expect(s.read(0, 1)).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('truncates files that are too long and fixes allocation per mode', async () => {
    const root = tempDir();
    const fx = fixture([10, 5000, 300], 256);
    mkdirSync(join(root, 't'), { recursive: true });
    writeFileSync(join(root, 't', 'f000.bin'), Buffer.alloc(50, 1));
    const s = new Storage({ root, files: fx.files, pieceLength: fx.pieceLength, allocation: 'truncate' });
    await s.open();
    expect(fx.files.map((f) => statSync(join(root, ...f.path)).size)).toEqual([10, 5000, 300]);
    expect(await s.dataExtents()).toEqual([10, 0, 0]); // grown by allocation: no data yet
    await s.write(10, Buffer.alloc(4, 7));
    expect(await s.dataExtents()).toEqual([10, 5000, 0]);
    await s.close();

    const root2 = tempDir();
    const z = new Storage({ root: root2, files: fx.files, pieceLength: fx.pieceLength, allocation: 'zero' });
    await z.open();
    expect(readFileSync(join(root2, 't', 'f001.bin'))).toEqual(Buffer.alloc(5000));
    await z.close();
  });

  it('never creates skipped files; their bytes go to the parts file and move out when wanted', async () => {
    const root = tempDir();
    const fx = fixture([3000, 5000, 100, 4000], 2048);
    const priorities = ['normal', 'skip', 'skip', 'normal'] as const;
    const s = new Storage({ root, files: fx.files, pieceLength: fx.pieceLength, priorities, name: 'abc' });
    await s.open();
    expect(existsSync(join(root, 't', 'f001.bin'))).toBe(false);
    expect(existsSync(join(root, 't', 'f002.bin'))).toBe(false);
    expect(existsSync(s.partsPath)).toBe(false);
    // Piece 1 = [2048, 4096) straddles f000 and f001; piece 3 = [6144, 8192) straddles f001, f002, f003.
    await s.write(2048, fx.payload.subarray(2048, 4096));
    await s.write(6144, fx.payload.subarray(6144, 8192));
    expect(existsSync(join(root, 't', 'f001.bin'))).toBe(false);
    expect(s.partsPath).toBe(join(root, '.abc.parts'));
    expect(existsSync(s.partsPath)).toBe(true);
    expect(Buffer.compare(await s.read(2048, 2048), fx.payload.subarray(2048, 4096))).toBe(0);
    expect(Buffer.compare(await s.read(6144, 2048), fx.payload.subarray(6144, 8192))).toBe(0);
    await expect(s.read(4096, 10)).rejects.toMatchObject({ code: 'MISSING' });
    await s.close();

    // Restart: the parts file's slots are found again.
    const again = new Storage({ root, files: fx.files, pieceLength: fx.pieceLength, priorities, name: 'abc' });
    await again.open();
    expect(again.hasPartsSlot(1) && again.hasPartsSlot(3) && !again.hasPartsSlot(2)).toBe(true);
    expect(Buffer.compare(await again.read(6144, 2048), fx.payload.subarray(6144, 8192))).toBe(0);
    // Raising f001's priority creates it and moves its bytes out of the parts file.
    await again.setPriorities(['normal', 'normal', 'skip', 'normal']);
    expect(again.isMaterialised(1)).toBe(true);
    const f1 = readFileSync(join(root, 't', 'f001.bin'));
    expect(Buffer.compare(f1.subarray(0, 1096), fx.payload.subarray(3000, 4096))).toBe(0);
    expect(Buffer.compare(f1.subarray(3144, 5000), fx.payload.subarray(6144, 8000))).toBe(0);
    expect(existsSync(join(root, 't', 'f002.bin'))).toBe(false);
    expect(Buffer.compare(await again.read(2048, 6144), Buffer.concat([fx.payload.subarray(2048, 4096), f1.subarray(1096, 3144), fx.payload.subarray(6144, 8192)]))).toBe(0);
    await again.close();
  });

  it('keeps at most maxOpenFiles descriptors open (200 files, pool of 8)', async () => {
    const root = tempDir();
    const fx = fixture(new Array<number>(200).fill(1000), 4096);
    const fs = new FaultyFs();
    const s = new Storage({ root, files: fx.files, pieceLength: fx.pieceLength, maxOpenFiles: 8, fs });
    await s.open();
    // Many concurrent writes and reads, each spanning several files.
    await Promise.all(Array.from({ length: 50 }, (_, i) => s.write(i * 4000, fx.payload.subarray(i * 4000, (i + 1) * 4000))));
    const back = await Promise.all(Array.from({ length: 50 }, (_, i) => s.read(i * 4000, 4000)));
    expect(Buffer.compare(Buffer.concat(back), fx.payload)).toBe(0);
    expect(fs.peak).toBeLessThanOrEqual(8);
    expect(fs.peak).toBeGreaterThan(1);
    expect(s.peakOpenFiles).toBeLessThanOrEqual(8);
    await s.close();
    expect(fs.openNow).toBe(0);
  });

  it('reports a file cut behind our back as TRUNCATED', async () => {
    const root = tempDir();
    const fx = fixture([4000, 4000], 1024);
    await writePayload(root, fx);
    const s = new Storage({ root, files: fx.files, pieceLength: fx.pieceLength });
    await s.open();
    writeFileSync(join(root, 't', 'f001.bin'), fx.payload.subarray(4000, 5000));
    const err = await s.read(3000, 3000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect(err).toMatchObject({ code: 'TRUNCATED', operation: 'read', path: join(root, 't', 'f001.bin') });
    await s.close();
  });

  it('turns EACCES and EIO from the file system into typed errors', async () => {
    const root = tempDir();
    const fx = fixture([4000, 4000], 1024);
    const fs = new FaultyFs();
    const s = new Storage({ root, files: fx.files, pieceLength: fx.pieceLength, fs });
    await s.open();
    fs.failOpenWrite = 'EACCES';
    fs.failPath = 'f001';
    await expect(s.write(3000, fx.payload.subarray(3000, 5000))).rejects.toMatchObject({
      code: 'EACCES',
      operation: 'open',
      path: join(root, 't', 'f001.bin'),
    });
    fs.failOpenWrite = null;
    fs.failRead = 'EIO';
    await s.write(0, fx.payload);
    await expect(s.read(4000, 10)).rejects.toMatchObject({ code: 'EIO', operation: 'read' });
    fs.failRead = 'EBADMSG';
    await expect(s.read(4000, 10)).rejects.toMatchObject({ code: 'IO', errno: 'EBADMSG' });
    await s.close();
  });

  it('rejects bad options and use before open', async () => {
    expect(() => new Storage({ root: '/x', files: [{ path: ['a'], length: 1 }], pieceLength: 1, priorities: [] })).toThrow(/priorities/);
    expect(() => new Storage({ root: '/x', files: [{ path: ['a'], length: 1 }], pieceLength: 1, maxOpenFiles: 0 })).toThrow(/maxOpenFiles/);
    expect(() => new Storage({ root: '/x', files: [{ path: ['.t.parts'], length: 1 }], pieceLength: 1, name: 't' })).toThrow(/collides/);
    const s = new Storage({ root: tempDir(), files: [{ path: ['a'], length: 1 }], pieceLength: 1 });
    await expect(s.read(0, 1)).rejects.toMatchObject({ code: 'BAD_INPUT' });
  });

  it('behaves like one flat buffer under random concurrent writes and reads (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat(3000), { minLength: 1, maxLength: 10 }),
        fc.array(fc.tuple(fc.nat(100000), fc.nat(5000)), { minLength: 1, maxLength: 12 }),
        async (lengths, ops) => {
          const fx = fixture(lengths, 997);
          const total = fx.payload.length;
          if (total === 0) return;
          const root = tempDir();
          const s = new Storage({ root, files: fx.files, pieceLength: fx.pieceLength, maxOpenFiles: 2, allocation: 'truncate' });
          await s.open();
          const model = Buffer.alloc(total);
          const ranges = ops.map(([a, b]) => {
            const pos = a % total;
            return [pos, Math.min(total - pos, b)] as const;
          });
          // Disjoint writes can run concurrently: give each its own region of the payload.
          const done = new Uint8Array(total);
          const writes = ranges.filter(([pos, len]) => {
            if (done.subarray(pos, pos + len).some((x) => x === 1)) return false;
            done.fill(1, pos, pos + len);
            fx.payload.copy(model, pos, pos, pos + len);
            return true;
          });
          await Promise.all(writes.map(([pos, len]) => s.write(pos, fx.payload.subarray(pos, pos + len))));
          const reads = await Promise.all(ranges.map(([pos, len]) => s.read(pos, len)));
          ranges.forEach(([pos, len], i) => expect(Buffer.compare(reads[i] as Buffer, model.subarray(pos, pos + len))).toBe(0));
          expect(s.peakOpenFiles).toBeLessThanOrEqual(2);
          await s.close();
        },
      ),
      { numRuns: 40 },
    );
  });
});
