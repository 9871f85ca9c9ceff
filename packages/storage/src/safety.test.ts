// What a download directory prepared by someone else, a huge torrent or "remove and delete data"
// must never do: write outside the root, touch data when only reading, fill a disk silently, or
// delete what is not the torrent's.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deleteTorrentData } from './delete.js';
import { createPieceHasher, PieceStore } from './piecestore.js';
import { Storage } from './storage.js';
import { cleanTempDirs, FaultyFs, fixture, tempDir, writePayload } from './test-helpers.js';

afterAll(cleanTempDirs);

const TB = 10 ** 12;

/** A file outside the download root, with bytes we can recognise. */
function outsideFile(base: string, size = 100_000): { path: string; bytes: Buffer } {
  const bytes = Buffer.alloc(size, 0x5a);
  const path = join(base, 'outside.txt');
  writeFileSync(path, bytes);
  return { path, bytes };
}

describe('symbolic links below the root are never followed', () => {
  it('a link at a file path: open() refuses, naming it, and the target keeps its bytes', async () => {
    const base = tempDir();
    const root = join(base, 'dl');
    mkdirSync(join(root, 't'), { recursive: true });
    const out = outsideFile(base);
    symlinkSync(out.path, join(root, 't', 'f000.bin'));
    const fx = fixture([10, 20], 16384);
    const s = new Storage({ root, files: fx.files, pieceLength: fx.pieceLength });
    await expect(s.open()).rejects.toMatchObject({ code: 'PATH_ESCAPE', path: join(root, 't', 'f000.bin'), message: expect.stringContaining('symbolic link') });
    expect(readFileSync(out.path)).toEqual(out.bytes); // was truncated to 10 bytes before
    expect(existsSync(join(root, 't', 'f001.bin'))).toBe(false); // nothing created either
  });

  it('a link as a directory: nothing is created or written behind it', async () => {
    const base = tempDir();
    const root = join(base, 'dl');
    mkdirSync(root);
    mkdirSync(join(base, 'elsewhere'));
    symlinkSync(join(base, 'elsewhere'), join(root, 't'));
    const fx = fixture([10, 20], 16384);
    const s = new Storage({ root, files: fx.files, pieceLength: fx.pieceLength });
    await expect(s.open()).rejects.toMatchObject({ code: 'PATH_ESCAPE', path: join(root, 't') });
    expect(readdirSync(join(base, 'elsewhere'))).toEqual([]);
    // A link deeper down, and one to a directory inside the root, are refused the same way.
    rmSync(join(root, 't'));
    mkdirSync(join(root, 't', 'a'), { recursive: true });
    symlinkSync(join(root, 't', 'a'), join(root, 't', 'b'));
    const deep = new Storage({ root, files: [{ path: ['t', 'b', 'x'], length: 5 }], pieceLength: 16384 });
    await expect(deep.open()).rejects.toMatchObject({ code: 'PATH_ESCAPE', path: join(root, 't', 'b') });
    expect(readdirSync(join(root, 't', 'a'))).toEqual([]);
  });

  it('a file swapped for a link after open() is refused at the write (O_NOFOLLOW), by this thread and by a piece thread', async () => {
    const base = tempDir();
    const root = join(base, 'dl');
    const out = outsideFile(base);
    const fx = fixture([65536, 65536], 65536);
    const hasher = createPieceHasher(1);
    const storage = new Storage({ root, files: fx.files, pieceLength: fx.pieceLength });
    await storage.open();
    const store = new PieceStore(storage, { pieceHashes: fx.hashes, hashWorkers: 0, pieceHasher: hasher });
    await store.start();
    for (const f of fx.files) {
      rmSync(join(root, ...f.path));
      symlinkSync(out.path, join(root, ...f.path));
    }
    await expect(storage.write(0, fx.payload.subarray(0, 100))).rejects.toMatchObject({ code: 'PATH_ESCAPE', path: join(root, 't', 'f000.bin') });
    const piece = new Uint8Array(65536);
    piece.set(fx.payload.subarray(65536, 131072));
    await expect(store.writePiece(1, piece, { transfer: true })).rejects.toMatchObject({ code: 'PATH_ESCAPE', path: join(root, 't', 'f001.bin') });
    expect(readFileSync(out.path)).toEqual(out.bytes);
    await store.close();
    await hasher.close();
  });

  it('the root itself may be a link (a download directory on another disk)', async () => {
    const base = tempDir();
    mkdirSync(join(base, 'disk2'));
    symlinkSync(join(base, 'disk2'), join(base, 'dl'));
    const fx = fixture([100], 16384);
    const s = new Storage({ root: join(base, 'dl'), files: fx.files, pieceLength: fx.pieceLength });
    await s.open();
    await s.write(0, fx.payload);
    await s.close();
    expect(readFileSync(join(base, 'disk2', 't', 'f000.bin'))).toEqual(fx.payload);
  });
});

describe('read-only storage (verify, seed)', () => {
  it('creates, truncates and writes nothing; missing files stay missing; a missing root is an error', async () => {
    const root = tempDir();
    const fx = fixture([40000, 40000, 0, 30000], 16384);
    await writePayload(root, fx);
    const longer = Buffer.concat([fx.payload.subarray(0, 40000), Buffer.alloc(5000, 1)]);
    writeFileSync(join(root, 't', 'f000.bin'), longer);
    rmSync(join(root, 't', 'f001.bin'));
    rmSync(join(root, 't', 'f002.bin'));
    const before = readdirSync(join(root, 't')).sort();
    const s = new Storage({ root, files: fx.files, pieceLength: fx.pieceLength, readOnly: true, name: 'h' });
    await s.open();
    const store = new PieceStore(s, { pieceHashes: fx.hashes, hashWorkers: 0 });
    await store.start();
    // Pieces 0-1 lie in f000 (its first 40000 bytes are right), piece 2 spans f000/f001, 4-6 f003.
    expect([...store.haveBitfield().setIndices()]).toEqual([0, 1, 5, 6]);
    expect((await s.stamps()).files.map((f) => f?.size ?? null)).toEqual([45000, null, null, 30000]);
    await expect(s.write(0, Buffer.alloc(1))).rejects.toMatchObject({ code: 'READ_ONLY' });
    await s.setPriorities(['normal', 'normal', 'normal', 'skip']);
    await store.close();
    expect(readdirSync(join(root, 't')).sort()).toEqual(before);
    expect(readFileSync(join(root, 't', 'f000.bin'))).toEqual(longer);

    const gone = join(root, 'nope');
    const missing = new Storage({ root: gone, files: fx.files, pieceLength: fx.pieceLength, readOnly: true });
    await expect(missing.open()).rejects.toMatchObject({ code: 'ENOENT', message: `the directory ${gone} does not exist` });
    expect(existsSync(gone)).toBe(false);
  });
});

describe('free space is checked before anything is created', () => {
  it('a torrent claiming 10 TB is refused with NO_SPACE, and nothing is created', async () => {
    const root = join(tempDir(), 'dl');
    const files = [{ path: ['huge', 'a.img'], length: 6 * TB }, { path: ['huge', 'b.img'], length: 4 * TB }];
    const s = new Storage({ root, files, pieceLength: 1 << 24 });
    await expect(s.open()).rejects.toMatchObject({ code: 'NO_SPACE', path: root, message: expect.stringMatching(/not enough free space in .*: the wanted files need 9\.1 TiB more, [\d.]+ [KMGT]iB is free; nothing was created/) });
    expect(existsSync(root)).toBe(false);
    // Skipping the big file makes it fit; told to go ahead, the files are created (sparse, empty).
    const skipped = new Storage({ root, files: [...files, { path: ['huge', 'c.txt'], length: 100 }], pieceLength: 1 << 24, priorities: ['skip', 'skip', 'normal'] });
    await skipped.open();
    await skipped.close();
    expect(readdirSync(join(root, 'huge'))).toEqual(['c.txt']);
    const insisted = new Storage({ root, files, pieceLength: 1 << 24, checkFreeSpace: false });
    await insisted.open();
    await insisted.close();
    expect(statSync(join(root, 'huge', 'a.img')).size).toBe(0);
  });

  it('counts only what is still to be allocated (a resumed download), on the file system the root will be on', async () => {
    const root = join(tempDir(), 'not', 'yet');
    const fx = fixture([300_000, 200_000], 65536);
    const fs = new FaultyFs();
    fs.freeBytes = 250_000;
    await expect(new Storage({ root, files: fx.files, pieceLength: fx.pieceLength, fs }).open()).rejects.toMatchObject({ code: 'NO_SPACE' });
    await writePayload(root, { ...fx, files: [fx.files[0]!], payload: fx.payload.subarray(0, 300_000) });
    const s = new Storage({ root, files: fx.files, pieceLength: fx.pieceLength, fs });
    await s.open(); // 200,000 bytes left to write: fits
    await s.close();
  });
});

describe('deleteTorrentData', () => {
  it('a torrent named `shared`: deletes its own files (empty ones, the parts file) and emptied directories, nothing else', async () => {
    const root = tempDir();
    mkdirSync(join(root, 'shared', 'sub'), { recursive: true });
    writeFileSync(join(root, 'shared', 'unrelated.txt'), 'mine');
    writeFileSync(join(root, 'shared', 'sub', 'keep.me'), 'mine too');
    const files = [
      { path: ['shared', 'a.bin'], length: 5000 },
      { path: ['shared', 'empty'], length: 0 },
      { path: ['shared', 'sub', 'b.bin'], length: 5000 },
      { path: ['shared', 'deep', 'er', 'c.bin'], length: 5000 },
      { path: ['shared', 'skipped.bin'], length: 5000 },
    ];
    const s = new Storage({ root, files, pieceLength: 16384, name: 'abc', priorities: ['normal', 'normal', 'normal', 'normal', 'skip'] });
    await s.open();
    await s.write(0, Buffer.alloc(20000, 3)); // the skipped file's bytes go to the parts file
    await s.close();
    expect(existsSync(join(root, '.abc.parts'))).toBe(true);
    const r = await deleteTorrentData({ root, files, name: 'abc' });
    expect(readdirSync(join(root, 'shared')).sort()).toEqual(['sub', 'unrelated.txt']);
    expect(readdirSync(join(root, 'shared', 'sub'))).toEqual(['keep.me']);
    expect(readdirSync(root)).toEqual(['shared']);
    expect(r.removed).toContain(join(root, 'shared', 'empty'));
    expect(r.removed).toContain(join(root, 'shared', 'deep'));
    expect(r.kept).toEqual(expect.arrayContaining([{ path: join(root, 'shared'), reason: 'not empty' }]));
    // Once the rest is gone, the directories go and the root stays.
    rmSync(join(root, 'shared', 'unrelated.txt'));
    rmSync(join(root, 'shared', 'sub', 'keep.me'));
    await deleteTorrentData({ root, files, name: 'abc' });
    expect(readdirSync(root)).toEqual([]);
  });

  it('never follows a link: neither one at a file path nor one on the way', async () => {
    const base = tempDir();
    const root = join(base, 'dl');
    mkdirSync(join(root, 't'), { recursive: true });
    const out = outsideFile(base);
    mkdirSync(join(base, 'elsewhere'));
    writeFileSync(join(base, 'elsewhere', 'x'), 'precious');
    symlinkSync(out.path, join(root, 't', 'f'));
    symlinkSync(join(base, 'elsewhere'), join(root, 't', 'd'));
    const r = await deleteTorrentData({ root, files: [{ path: ['t', 'f'], length: 10 }, { path: ['t', 'd', 'x'], length: 8 }] });
    expect(readFileSync(out.path)).toEqual(out.bytes);
    expect(readFileSync(join(base, 'elsewhere', 'x'), 'utf8')).toBe('precious');
    expect(r.removed).toEqual([]);
    expect(r.kept.map((k) => k.path)).toEqual([join(root, 't', 'f'), join(root, 't', 'd', 'x'), join(root, 't')]);
  });
});
