// Moving a torrent's data to another root (Transmission's set-location with move): only its own
// files, nothing overwritten, no link followed, times kept (so a resume record still matches),
// and across file systems the same.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { moveTorrentData } from './move.js';
import { StorageError } from './errors.js';
import { cleanTempDirs, tempDir } from './test-helpers.js';

afterAll(cleanTempDirs);

const files = [
  { path: ['album', 'cd1', 'a.flac'], length: 5 },
  { path: ['album', 'b.flac'], length: 7 },
  { path: ['album', 'never-created.flac'], length: 9 },
];

function lay(root: string): void {
  mkdirSync(join(root, 'album', 'cd1'), { recursive: true });
  writeFileSync(join(root, 'album', 'cd1', 'a.flac'), 'aaaaa');
  writeFileSync(join(root, 'album', 'b.flac'), 'bbbbbbb');
  writeFileSync(join(root, '.abc.parts'), 'parts');
  utimesSync(join(root, 'album', 'b.flac'), new Date('2020-01-02T03:04:05Z'), new Date('2020-01-02T03:04:05Z'));
}

test('moves the files and the parts file, keeps their times, removes the emptied directories and nothing else', async () => {
  const base = tempDir();
  const from = join(base, 'old');
  const to = join(base, 'new', 'place');
  lay(from);
  writeFileSync(join(from, 'mine.txt'), 'not the torrent');
  const r = await moveTorrentData({ from, to, files, name: 'abc' });
  expect(r.moved.sort()).toEqual([join(to, '.abc.parts'), join(to, 'album', 'b.flac'), join(to, 'album', 'cd1', 'a.flac')]);
  expect(readFileSync(join(to, 'album', 'cd1', 'a.flac'), 'utf8')).toBe('aaaaa');
  expect(statSync(join(to, 'album', 'b.flac')).mtime.toISOString()).toBe('2020-01-02T03:04:05.000Z');
  expect(readdirSync(from)).toEqual(['mine.txt']);
  expect(r.removedDirs.sort()).toEqual([join(from, 'album'), join(from, 'album', 'cd1')]);
});

test('a file already at the destination: nothing moves', async () => {
  const base = tempDir();
  const from = join(base, 'old');
  const to = join(base, 'new');
  lay(from);
  mkdirSync(join(to, 'album'), { recursive: true });
  writeFileSync(join(to, 'album', 'b.flac'), 'someone else');
  await expect(moveTorrentData({ from, to, files, name: 'abc' })).rejects.toThrow(`${join(to, 'album', 'b.flac')} already exists; nothing was moved`);
  expect(readFileSync(join(from, 'album', 'cd1', 'a.flac'), 'utf8')).toBe('aaaaa');
  expect(existsSync(join(to, 'album', 'cd1'))).toBe(false);
  expect(readFileSync(join(to, 'album', 'b.flac'), 'utf8')).toBe('someone else');
});

test('symbolic links are not followed, at the source or on the way to the destination', async () => {
  const base = tempDir();
  const outside = join(base, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'secret');
  // The source: a file of the torrent is a link to a file outside.
  const from = join(base, 'old');
  lay(from);
  rmSync(join(from, 'album', 'b.flac'));
  symlinkSync(join(outside, 'secret'), join(from, 'album', 'b.flac'));
  const err = await moveTorrentData({ from, to: join(base, 'new'), files, name: 'abc' }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(StorageError);
  expect((err as StorageError).code).toBe('PATH_ESCAPE');
  expect(existsSync(join(base, 'new', 'album'))).toBe(false);
  // The destination: its album/ is a link leading out.
  const from2 = join(base, 'old2');
  lay(from2);
  const to2 = join(base, 'new2');
  mkdirSync(to2);
  symlinkSync(outside, join(to2, 'album'));
  const err2 = await moveTorrentData({ from: from2, to: to2, files, name: 'abc' }).catch((e: unknown) => e);
  expect((err2 as StorageError).code).toBe('PATH_ESCAPE');
  expect(readdirSync(outside)).toEqual(['secret']);
  expect(readFileSync(join(from2, 'album', 'b.flac'), 'utf8')).toBe('bbbbbbb');
});

test('across file systems (/dev/shm, a tmpfs): copied with its times, then the originals removed', async () => {
  if (!existsSync('/dev/shm') || statSync('/dev/shm').dev === statSync(tempDir()).dev) throw new Error('/dev/shm is not a separate file system here');
  const from = join(tempDir(), 'old');
  const to = mkdtempSync('/dev/shm/mainline-move-');
  try {
    lay(from);
    const r = await moveTorrentData({ from, to, files, name: 'abc' });
    expect(r.moved).toHaveLength(3);
    expect(readFileSync(join(to, 'album', 'b.flac'), 'utf8')).toBe('bbbbbbb');
    expect(statSync(join(to, 'album', 'b.flac')).mtime.toISOString()).toBe('2020-01-02T03:04:05.000Z');
    expect(readdirSync(join(to, 'album')).sort()).toEqual(['b.flac', 'cd1']); // no temporary left
    expect(existsSync(from)).toBe(true);
    expect(readdirSync(from)).toEqual([]);
  } finally {
    rmSync(to, { recursive: true, force: true });
  }
});
