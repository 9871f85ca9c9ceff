import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { choosePieceLength, createTorrent, MetainfoError, parseTorrent, type Metainfo } from './index.js';
import { libtorrentRead, runTool, transmissionInfoHash } from './test-support.js';

let root: string;
beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), 'metainfo-create-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function tree(spec: Record<string, number | string | null>): string {
  const dir = path.join(root, `t${n++}`, 'content');
  mkdirSync(dir, { recursive: true });
  for (const [rel, v] of Object.entries(spec)) {
    const p = path.join(dir, rel);
    if (v === null) {
      mkdirSync(p, { recursive: true });
      continue;
    }
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, typeof v === 'number' ? randomBytes(v) : v);
  }
  return dir;
}

function mktorrent(target: string, args: string[]): Buffer {
  const out = path.join(path.dirname(target), `mk-${n++}.torrent`);
  runTool('mktorrent', [...args, '-o', out, target], 'apt-get install mktorrent');
  return readFileSync(out);
}

/** Re-hashes the data the torrent describes, read back from disk independently of createTorrent. */
function expectPiecesMatch(meta: Metainfo, base: string): void {
  const data = Buffer.concat(meta.files.map((f) => readFileSync(meta.multiFile ? path.join(base, ...f.path.slice(1)) : base)));
  expect(data.length).toBe(meta.totalLength);
  for (let i = 0; i < meta.pieceCount; i++) {
    const piece = data.subarray(i * meta.pieceLength, i * meta.pieceLength + meta.pieceLengthAt(i));
    expect(createHash('sha1').update(piece).digest().equals(meta.pieceHash(i))).toBe(true);
  }
}

const MIXED = {
  'a.txt': 70000,
  'a/b': 33333,
  '.hidden': 10,
  'empty.bin': 0,
  'deep/er/still/x.dat': 100001,
  'B upper': 16384,
  'deep/z': 1,
  'ü-unicode.txt': 'héllo',
};

describe('createTorrent matches mktorrent 1.1', () => {
  it.each([15, 16])('multi-file tree with nested dirs, hidden and zero-length files (-l %i, -p, -c, -s, two tiers, web seed)', async (log2) => {
    const dir = tree(MIXED);
    const theirs = mktorrent(dir, ['-l', String(log2), '-a', 'http://t1/announce,http://t2/announce', '-a', 'udp://t3:80', '-p', '-c', 'a comment', '-s', 'SRC', '-d', '-w', 'http://seed/']);
    const ours = await createTorrent(dir, {
      pieceLength: 2 ** log2,
      trackers: [['http://t1/announce', 'http://t2/announce'], ['udp://t3:80']],
      private: true,
      comment: 'a comment',
      source: 'SRC',
      webSeeds: ['http://seed/'],
      createdBy: 'mktorrent 1.1',
    });
    expect(ours.metainfo.infoHash).toBe(parseTorrent(theirs).infoHash);
    // With the same options the whole file is byte-identical.
    expect(ours.torrent.equals(theirs)).toBe(true);
    expect(ours.metainfo.files.map((f) => f.path.slice(1).join('/'))).toEqual([
      '.hidden',
      'B upper',
      'a.txt',
      'a/b',
      'deep/er/still/x.dat',
      'deep/z',
      'empty.bin',
      'ü-unicode.txt',
    ]);
    expectPiecesMatch(ours.metainfo, dir);
  });

  it('a single (sparse, 40 MiB) file, default-ish options', async () => {
    const dir = tree({});
    const file = path.join(dir, 'big.img');
    writeFileSync(file, randomBytes(100000));
    truncateSync(file, 40 * 1024 * 1024 + 12345);
    const theirs = mktorrent(file, ['-l', '18', '-a', 'http://t/announce', '-d']);
    const ours = await createTorrent(file, { pieceLength: 2 ** 18, trackers: ['http://t/announce'], createdBy: 'mktorrent 1.1' });
    expect(ours.metainfo.infoHash).toBe(parseTorrent(theirs).infoHash);
    expect(ours.torrent.equals(theirs)).toBe(true);
    expect(ours.metainfo.multiFile).toBe(false);
    expect(ours.metainfo.files).toEqual([{ path: ['big.img'], length: 40 * 1024 * 1024 + 12345, offset: 0, padding: false }]);
  });

  it('follows symlinks like mktorrent (file and directory links, inside and outside the tree)', async () => {
    const dir = tree({ 'real/f': 20000, 'g': 5 });
    const outside = path.join(path.dirname(dir), 'outside.bin');
    writeFileSync(outside, randomBytes(3000));
    symlinkSync(outside, path.join(dir, 'link-out'));
    symlinkSync('real', path.join(dir, 'dirlink'));
    const theirs = mktorrent(dir, ['-l', '15', '-a', 'http://t/a', '-d']);
    const ours = await createTorrent(dir, { pieceLength: 2 ** 15, trackers: ['http://t/a'] });
    expect(ours.metainfo.infoHash).toBe(parseTorrent(theirs).infoHash);
    expect(ours.metainfo.files.map((f) => f.path.slice(1).join('/'))).toEqual(['dirlink/f', 'g', 'link-out', 'real/f']);
  });
});

describe('other clients read what createTorrent writes', () => {
  it('transmission-show and libtorrent report the same info-hash and files', async () => {
    const dir = tree(MIXED);
    const { torrent, metainfo } = await createTorrent(dir, { pieceLength: 16384, trackers: ['http://t/a'], private: true });
    const file = path.join(path.dirname(dir), 'ours.torrent');
    writeFileSync(file, torrent);
    expect(transmissionInfoHash(file)).toBe(metainfo.infoHash);
    const [lt] = libtorrentRead([file]);
    expect(lt).toEqual({ hash: metainfo.infoHash, name: 'content', pieces: metainfo.pieceCount, files: metainfo.files.map((f) => f.path.join('/')) });
  });
});

describe('createTorrent', () => {
  it('round-trips through parseTorrent, hashing across file and chunk boundaries', async () => {
    const dir = tree({ x: 100000, y: 1, z: 0, w: 70001, v: 16384 });
    const progress: [number, number][] = [];
    const { torrent, metainfo, skipped } = await createTorrent(dir, {
      pieceLength: 16384,
      chunkSize: 65536,
      name: 'renamed',
      comment: 'c',
      creationDate: new Date(1700000000500),
      onProgress: (done, total) => progress.push([done, total]),
    });
    expect(skipped).toEqual([]);
    const again = parseTorrent(torrent);
    expect(again.infoHash).toBe(metainfo.infoHash);
    expect(again.name).toBe('renamed');
    expect(again.comment).toBe('c');
    expect(again.creationDate).toBe(1700000000);
    expect(again.announce).toBeUndefined();
    expect(again.files.map((f) => [f.path.join('/'), f.length, f.offset])).toEqual([
      ['renamed/v', 16384, 0],
      ['renamed/w', 70001, 16384],
      ['renamed/x', 100000, 86385],
      ['renamed/y', 1, 186385],
      ['renamed/z', 0, 186386],
    ]);
    expectPiecesMatch(again, dir);
    const total = 186386;
    expect(progress.at(-1)).toEqual([total, total]);
    expect(progress.every(([d, t], i) => t === total && d > (progress[i - 1]?.[0] ?? 0))).toBe(true);
    expect(progress.length).toBeGreaterThan(4);
  });

  it('chooses the piece length as mktorrent does (256 KiB) up to ~690 MB, as libtorrent does above', () => {
    // Real mktorrent 1.1 without -l, on sparse files: 22 MB once got 16 KiB pieces (1343 of them) here.
    const sizes = [100_000, 22_000_000, 300_000_000];
    const dir = tree({});
    for (const size of sizes) {
      const file = path.join(dir, `sparse-${size}.bin`);
      writeFileSync(file, '');
      truncateSync(file, size);
      const theirs = parseTorrent(mktorrent(file, ['-a', 'http://t/announce']));
      expect({ size, piece: choosePieceLength(size) }).toEqual({ size, piece: theirs.pieceLength });
    }
    // Real libtorrent's automatic piece size (create_torrent with piece_size 0), from file sizes alone.
    const totals = [0, 1, 2_684_355, 2_684_356, 22_000_000, 687_194_767, 687_194_768, 700_000_000, 2 ** 30, 4.4e9, 3 * 2 ** 30, 20 * 2 ** 30, 200 * 2 ** 30, 2000 * 2 ** 30];
    const script = [
      'import sys, json, libtorrent as lt',
      'out = []',
      'for s in sys.argv[1:]:',
      '    fs = lt.file_storage()',
      "    fs.add_file('x/a.bin', max(int(s), 1))",
      '    out.append(lt.create_torrent(fs).piece_length())',
      'print(json.dumps(out))',
    ].join('\n');
    const lt = JSON.parse(runTool('/usr/bin/python3', ['-c', script, ...totals.map(String)], 'apt-get install python3-libtorrent')) as number[];
    const ours = totals.map(choosePieceLength);
    expect(ours).toEqual(lt.map((p) => Math.max(p, 256 * 1024)));
    // Above mktorrent's default, exactly libtorrent's choice.
    expect(ours.slice(totals.indexOf(687_194_768))).toEqual(lt.slice(totals.indexOf(687_194_768)));
    expect(choosePieceLength(22_000_000)).toBe(256 * 1024);
    expect(choosePieceLength(2 ** 50)).toBe(16 * 2 ** 20);
  });

  it('uses the automatic piece length by default', async () => {
    const dir = tree({ f: 40 * 16384 });
    expect((await createTorrent(dir)).metainfo.pieceLength).toBe(256 * 1024);
  });

  it('reports empty directories as skipped', async () => {
    const dir = tree({ f: 1, 'e1': null, 'd/e2/e3': null });
    const { metainfo, skipped } = await createTorrent(dir);
    expect(metainfo.files.map((f) => f.path.slice(1).join('/'))).toEqual(['f']);
    expect(skipped.map((s) => `${s.reason} ${s.path}`).sort()).toEqual(['empty-directory d', 'empty-directory d/e2', 'empty-directory d/e2/e3', 'empty-directory e1']);
  });

  it('skips or refuses symlinks when asked, and detects cycles and broken links', async () => {
    const dir = tree({ f: 1, 'sub/g': 2 });
    symlinkSync('f', path.join(dir, 'lnk'));
    const skipped = await createTorrent(dir, { symlinks: 'skip' });
    expect(skipped.metainfo.files.map((f) => f.path.slice(1).join('/'))).toEqual(['f', 'sub/g']);
    expect(skipped.skipped).toEqual([{ path: 'lnk', reason: 'symlink' }]);
    await expect(createTorrent(dir, { symlinks: 'error' })).rejects.toThrow(/symlink not allowed/);

    const cyc = tree({ f: 1 });
    symlinkSync('..', path.join(cyc, 'up'));
    mkdirSync(path.join(cyc, 'loop'));
    symlinkSync('../loop', path.join(cyc, 'loop', 'again'));
    await expect(createTorrent(cyc)).rejects.toThrow(/symlink cycle/);

    const broken = tree({ f: 1 });
    symlinkSync('nowhere', path.join(broken, 'dangling'));
    await expect(createTorrent(broken)).rejects.toThrow(/broken symlink/);
  });

  it('refuses names a parser would reject, bad piece lengths, empty input', async () => {
    const dir = tree({ 'back\\slash': 1 });
    await expect(createTorrent(dir)).rejects.toMatchObject({ code: 'UNSAFE_PATH', path: 'back\\slash' });
    const ok = tree({ f: 1 });
    await expect(createTorrent(ok, { name: '..' })).rejects.toMatchObject({ code: 'UNSAFE_PATH', path: 'name' });
    for (const pieceLength of [1000, 8192, 3 * 16384, 2 ** 31]) {
      await expect(createTorrent(ok, { pieceLength })).rejects.toBeInstanceOf(MetainfoError);
    }
    await expect(createTorrent(tree({ e: null }))).rejects.toThrow(/no files/);
    await expect(createTorrent(path.join(root, 'does-not-exist'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('stops when aborted', async () => {
    const dir = tree({ f: 300000 });
    const ac = new AbortController();
    const run = createTorrent(dir, { pieceLength: 16384, chunkSize: 65536, signal: ac.signal, onProgress: () => ac.abort() });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
  });
});
