// A torrent's data on disk: removing it deletes only its own files, a torrent larger than the disk
// stops with an error before creating anything, and a read-only torrent never touches the files.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StorageError } from '@mainline/storage';
import { makeClaimTorrent, makePayload, makeTempDir, makeTorrent, poll } from '@mainline/interop';
import { Session, type Torrent } from './index.js';

const TB = 10 ** 12;
const sessions: Session[] = [];
function session(stateDir?: string): Session {
  const s = new Session({ portRange: [0, 0], bind: '127.0.0.1', ...(stateDir ? { stateDir } : {}) });
  sessions.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});

const settled = (t: Torrent): Promise<string> => poll(() => (t.state === 'checking' || t.state === 'stopped' ? undefined : t.state), 15_000, () => 'the torrent to settle');

test('remove with deleteData: a torrent named `shared` deletes its files and resume record, not the rest of shared/', async () => {
  const dir = makeTempDir('ml-session-delete-');
  const payload = await makePayload(join(dir, 'src'), { name: 'shared', files: [{ path: 'a.bin', size: 70_000 }, { path: 'sub/b.bin', size: 30_000 }, { path: 'empty', size: 0 }] });
  const t = makeTorrent(payload.path, { pieceLength: 32768 });
  const dl = join(dir, 'dl');
  mkdirSync(join(dl, 'shared'), { recursive: true });
  writeFileSync(join(dl, 'shared', 'unrelated.txt'), 'not the torrent’s');
  const s = session(join(dir, 'state'));
  const torrent = await s.add(t.bytes, { savePath: dl });
  await torrent.saveResume();
  expect(readdirSync(join(dl, 'shared')).sort()).toEqual(['a.bin', 'empty', 'sub', 'unrelated.txt']);
  expect(existsSync(join(dir, 'state', `${t.infoHash}.resume`))).toBe(true);
  const r = await s.remove(t.infoHash, { deleteData: true });
  expect(readdirSync(join(dl, 'shared'))).toEqual(['unrelated.txt']);
  expect(readFileSync(join(dl, 'shared', 'unrelated.txt'), 'utf8')).toBe('not the torrent’s');
  expect(r?.removed).toEqual(expect.arrayContaining([join(dl, 'shared', 'empty'), join(dl, 'shared', 'sub')]));
  expect(existsSync(join(dir, 'state', `${t.infoHash}.resume`))).toBe(false);
  expect(s.get(t.infoHash)).toBeUndefined();
});

test('a torrent claiming 10 TB stops with a NO_SPACE error and creates nothing, until told to go ahead', async () => {
  const dir = makeTempDir('ml-session-space-');
  const huge = makeClaimTorrent('huge', 0, { files: [{ path: 'a.img', length: 6 * TB }, { path: 'b.img', length: 4 * TB }] });
  const dl = join(dir, 'dl');
  const s = session();
  const torrent = await s.add(huge.bytes, { savePath: dl });
  expect(torrent.state).toBe('error');
  expect(torrent.error).toBeInstanceOf(StorageError);
  expect((torrent.error as StorageError).code).toBe('NO_SPACE');
  expect(torrent.stats().error).toMatch(/^not enough free space in .*dl: the wanted files need 9\.1 TiB more/);
  expect(existsSync(dl)).toBe(false);
  await torrent.resume({ ignoreFreeSpace: true });
  expect(await settled(torrent)).toBe('downloading');
  expect(statSync(join(dl, 'huge', 'a.img')).size).toBe(0); // sparse: nothing allocated
});

test('a read-only torrent (seed) never creates, truncates or downloads; complete data seeds', async () => {
  const dir = makeTempDir('ml-session-ro-');
  const payload = await makePayload(join(dir, 'data'), { name: 'set', files: [{ path: 'one.bin', size: 100_000 }, { path: 'two.bin', size: 100_000 }] });
  const t = makeTorrent(payload.path, { pieceLength: 32768 });
  const one = join(payload.path, 'one.bin');
  const two = join(payload.path, 'two.bin');
  const longer = Buffer.concat([readFileSync(one), Buffer.alloc(1000, 7)]);
  writeFileSync(one, longer);
  const twoBytes = readFileSync(two);
  rmSync(two);
  const s = session();
  const ro = await s.add(t.bytes, { savePath: payload.saveDir, readOnly: true });
  expect(ro.state).toBe('error');
  expect(ro.stats().error).toBe(`the data in ${payload.saveDir} is incomplete (3 of 7 pieces verified) and the torrent is read-only`);
  expect(readFileSync(one)).toEqual(longer); // not truncated
  expect(existsSync(two)).toBe(false); // not created
  await s.remove(t.infoHash);

  // Complete (the first 100,000 bytes of the longer file are right): seeds, still untouched.
  writeFileSync(two, twoBytes);
  const good = await s.add(t.bytes, { savePath: payload.saveDir, readOnly: true });
  expect(good.state).toBe('seeding');
  expect(readFileSync(one)).toEqual(longer);
  await s.remove(t.infoHash);
  const absent = await s.add(t.bytes, { savePath: join(dir, 'nowhere'), readOnly: true });
  expect(absent.stats().error).toBe(`the directory ${join(dir, 'nowhere')} does not exist`);
  expect(existsSync(join(dir, 'nowhere'))).toBe(false);
});
