import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, poll } from '@mainline/interop';
import { killAll, listRow, remote, remoteRaw, rpcClient, spawnDaemon } from './test-helpers.js';

// torrent-set-location driven by the real transmission-remote 3.00 (--move, --find) against the
// built daemon, with real files.
jest.setTimeout(60_000);

afterAll(() => killAll());

type Row = Record<string, unknown>;

test('--move moves the data and the torrent runs on from there; --find points at data elsewhere and rechecks; refusals leave the data whole', async () => {
  const dir = makeTempDir('daemon-location');
  const downloadDir = join(dir, 'downloads');
  const seeded = await makePayload(downloadDir, { name: 'album', files: [{ path: 'cd1/01.flac', size: 300_000 }, { path: '02.flac', size: 200_000 }] });
  const tSeeded = makeTorrent(seeded.path, { pieceLength: 32 * 1024, outPath: join(dir, 'album.torrent') });
  // A second torrent with 60% of its data: downloading (no peers).
  const part = await makePayload(join(dir, 'src'), { name: 'film.mkv', size: 1_000_000 });
  const tPart = makeTorrent(part.path, { pieceLength: 32 * 1024, outPath: join(dir, 'film.torrent') });
  writeFileSync(join(downloadDir, 'film.mkv'), readFileSync(part.path).subarray(0, 600_000));
  writeFileSync(join(downloadDir, 'notes.txt'), 'mine');

  const d = await spawnDaemon({ stateDir: join(dir, 'state'), downloadDir });
  const rpc = rpcClient(d.rpcPort);
  const get = async (id: number, fields: string[]): Promise<Row> => ((await rpc('torrent-get', { ids: [id], fields })).arguments.torrents as Row[])[0]!;
  await remote(d.rpcPort, '-a', tSeeded.path);
  await remote(d.rpcPort, '-a', tPart.path);
  await poll(async () => ((await get(1, ['status'])).status === 6 && (await get(2, ['status'])).status === 4 ? true : undefined), 20_000, () => 'seeding and downloading');
  const partHave = (await get(2, ['haveValid'])).haveValid as number;
  expect(partHave).toBeGreaterThan(500_000);

  const original = readFileSync(join(downloadDir, 'album', 'cd1', '01.flac'));
  // --move: the files go, the folders that held them too, unrelated files stay; it seeds on.
  const moved = join(dir, 'library', 'music');
  expect(await remote(d.rpcPort, '-t', '1', '--move', moved)).toContain('success');
  expect(readdirSync(join(moved, 'album')).sort()).toEqual(['02.flac', 'cd1']);
  expect(readFileSync(join(moved, 'album', 'cd1', '01.flac')).equals(original)).toBe(true);
  expect(existsSync(join(downloadDir, 'album'))).toBe(false);
  expect(readdirSync(downloadDir).sort()).toEqual(['film.mkv', 'notes.txt']);
  expect(await remote(d.rpcPort, '-t', '1', '-i')).toContain(`Location: ${moved}`);
  await poll(async () => (/\s100%\s.*\s(Idle|Seeding)\s+album$/m.test(await remote(d.rpcPort, '-l')) ? true : undefined), 15_000, () => 'album to seed from its new place');

  // A downloading torrent moved: it keeps its verified pieces (no recheck) and downloads on.
  const films = join(dir, 'films');
  expect(await remote(d.rpcPort, '-t', '2', '--move', films)).toContain('success');
  expect(existsSync(join(films, 'film.mkv'))).toBe(true);
  expect(existsSync(join(downloadDir, 'film.mkv'))).toBe(false);
  await poll(async () => ((await get(2, ['status'])).status === 4 ? true : undefined), 15_000, () => 'film to download again');
  expect(await get(2, ['haveValid', 'downloadDir'])).toEqual({ haveValid: partHave, downloadDir: films });

  // Refused: a file of the torrent already at the destination (nothing moves), the state dir, a relative path.
  const taken = join(dir, 'taken');
  mkdirSync(taken);
  writeFileSync(join(taken, 'film.mkv'), 'someone else');
  const r = await remoteRaw(d.rpcPort, '-t', '2', '--move', taken);
  expect(r.out).toContain(`${join(taken, 'film.mkv')} already exists; nothing was moved`);
  expect(readFileSync(join(taken, 'film.mkv'), 'utf8')).toBe('someone else');
  expect(readFileSync(join(films, 'film.mkv')).subarray(0, 600_000).equals(readFileSync(part.path).subarray(0, 600_000))).toBe(true);
  expect((await get(2, ['downloadDir'])).downloadDir).toBe(films);
  await poll(async () => ((await get(2, ['status'])).status === 4 ? true : undefined), 15_000, () => 'film to download on after the refusal');
  expect((await rpc('torrent-set-location', { ids: [2], location: join(dir, 'state', 'x'), move: true })).result).toContain('inside the state directory');
  expect((await rpc('torrent-set-location', { ids: [2], location: 'relative/dir', move: true })).result).toBe('new location path is not absolute');

  // --find: a full copy elsewhere is found and checked: 100%. An empty place: checked, 0%.
  const copy = join(dir, 'copy');
  mkdirSync(copy);
  cpSync(part.path, join(copy, 'film.mkv'));
  expect(await remote(d.rpcPort, '-t', '2', '--find', copy)).toContain('success');
  await poll(async () => ((await get(2, ['percentDone', 'status'])).percentDone === 1 ? true : undefined), 15_000, () => 'the found copy to check as complete');
  expect(listRow(await remote(d.rpcPort, '-l'), 2)).toMatch(/\s100%\s/);
  expect(existsSync(join(films, 'film.mkv'))).toBe(true); // find moves nothing
  // Stopped, pointed at an empty place: checked all the same, and stays stopped.
  await remote(d.rpcPort, '-t', '2', '-S');
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  await remote(d.rpcPort, '-t', '2', '--find', empty);
  await poll(async () => {
    const t = await get(2, ['percentDone', 'status', 'haveValid']);
    return t.status === 0 && t.haveValid === 0 ? t : undefined;
  }, 15_000, () => 'the empty place to check as 0%, stopped');
  expect(d.output()).toMatch(/#2 film\.mkv: verified, 0 of 31 pieces good/);
});
