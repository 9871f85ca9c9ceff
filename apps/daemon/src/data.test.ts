// The daemon and the download directory, over HTTP RPC: "remove and delete data" deletes only the
// torrent's files; a torrent larger than the free space shows a Transmission-style error and
// creates nothing until started with "start now".
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, makeClaimTorrent, makePayload, makeTempDir, makeTorrent, poll } from '@mainline/interop';
import { mergeConfig, type DaemonConfig } from './config.js';
import { startDaemon, type RunningDaemon } from './program.js';
import { rpcClient } from './test-helpers.js';

const TB = 10 ** 12;
const daemons: RunningDaemon[] = [];
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
});

async function daemon(dir: string, config: Partial<DaemonConfig> = {}): Promise<{ rpc: ReturnType<typeof rpcClient>; running: RunningDaemon }> {
  const peerPort = await freePort();
  const running = await startDaemon(mergeConfig({ downloadDir: join(dir, 'dl'), stateDir: join(dir, 'state'), portRange: [peerPort, peerPort + 1], bind: '127.0.0.1', rpcPort: 0, ...config }), {
    log: () => undefined,
  });
  daemons.push(running);
  return { rpc: rpcClient(running.server.port), running };
}

type Row = Record<string, unknown>;
async function get(rpc: ReturnType<typeof rpcClient>, id: number, fields: string[]): Promise<Row> {
  return ((await rpc('torrent-get', { ids: [id], fields })).arguments.torrents as Row[])[0]!;
}

test('torrent-remove with delete-local-data: a torrent named `shared` leaves the unrelated files of shared/', async () => {
  const dir = makeTempDir('daemon-delete');
  const payload = await makePayload(join(dir, 'src'), { name: 'shared', files: [{ path: 'a.bin', size: 70_000 }, { path: 'sub/b.bin', size: 30_000 }, { path: 'empty', size: 0 }] });
  const t = makeTorrent(payload.path, { pieceLength: 32768 });
  const other = await makePayload(join(dir, 'src'), { name: 'own', files: [{ path: 'deep/x.bin', size: 10_000 }, { path: 'zero', size: 0 }] });
  const t2 = makeTorrent(other.path, { pieceLength: 32768 });
  const dl = join(dir, 'dl');
  mkdirSync(join(dl, 'shared', 'sub'), { recursive: true });
  writeFileSync(join(dl, 'shared', 'unrelated.txt'), 'mine');
  writeFileSync(join(dl, 'shared', 'sub', 'notes.txt'), 'mine too');
  const { rpc } = await daemon(dir);
  const ids: number[] = [];
  for (const bytes of [t.bytes, t2.bytes]) {
    const r = await rpc('torrent-add', { metainfo: Buffer.from(bytes).toString('base64') });
    ids.push((r.arguments['torrent-added'] as { id: number }).id);
  }
  // The files are created (sparse) once the torrents are running.
  await poll(() => existsSync(join(dl, 'shared', 'empty')) && existsSync(join(dl, 'own', 'zero')), 15_000, () => 'the files to be created');
  await poll(async () => ((await get(rpc, ids[0]!, ['status'])).status === 4 ? true : undefined), 15_000, () => 'the torrent to download');
  expect((await rpc('torrent-remove', { ids, 'delete-local-data': true })).result).toBe('success');
  // Before: `rm -r dl/shared` took unrelated.txt and notes.txt with it.
  expect(readdirSync(join(dl, 'shared')).sort()).toEqual(['sub', 'unrelated.txt']);
  expect(readdirSync(join(dl, 'shared', 'sub'))).toEqual(['notes.txt']);
  expect(readFileSync(join(dl, 'shared', 'unrelated.txt'), 'utf8')).toBe('mine');
  // A torrent alone in its folder: everything goes, empty files and folders too; dl stays.
  expect(readdirSync(dl)).toEqual(['shared']);
});

test('a torrent claiming 10 TB: error 3 "not enough free space", stopped, nothing created; start-now insists', async () => {
  const dir = makeTempDir('daemon-space');
  const huge = makeClaimTorrent('huge', 0, { files: [{ path: 'a.img', length: 6 * TB }, { path: 'b.img', length: 4 * TB }] });
  const { rpc, running } = await daemon(dir);
  const r = await rpc('torrent-add', { metainfo: Buffer.from(huge.bytes).toString('base64') });
  expect(r.result).toBe('success');
  const id = (r.arguments['torrent-added'] as { id: number }).id;
  const fields = ['status', 'error', 'errorString', 'totalSize'];
  const failed = await poll(async () => {
    const g = await get(rpc, id, fields);
    return g.error === 3 ? g : undefined;
  }, 15_000, () => 'the free-space error');
  expect(failed).toEqual({ status: 0, error: 3, errorString: expect.stringMatching(/^not enough free space in .*dl: the wanted files need 9\.1 TiB more, [\d.]+ [KMGT]iB is free; nothing was created$/), totalSize: 10 * TB });
  const dl = join(dir, 'dl');
  expect(existsSync(join(dl, 'huge'))).toBe(false);
  // A plain start checks again (space may have been freed meanwhile): still refused.
  await rpc('torrent-start', { ids: [id] });
  await poll(async () => ((await get(rpc, id, fields)).error === 3 ? true : undefined), 15_000, () => 'the error again');
  expect(existsSync(join(dl, 'huge'))).toBe(false);
  // "Start now" is the user insisting: the files are created (sparse) and the torrent downloads.
  await rpc('torrent-start-now', { ids: [id] });
  const going = await poll(async () => {
    const g = await get(rpc, id, fields);
    return g.status === 4 ? g : undefined;
  }, 15_000, () => 'the download to start');
  expect(going).toMatchObject({ error: 0, errorString: '' });
  expect(statSync(join(dl, 'huge', 'a.img')).size).toBe(0);
  // The choice is remembered across a restart.
  await running.stop();
  const again = await daemon(dir);
  const back = await poll(async () => {
    const g = await get(again.rpc, 1, fields);
    return g.status === 4 ? g : undefined;
  }, 15_000, () => 'the torrent back, downloading');
  expect(back.error).toBe(0);
});

test('checkFreeSpace false: the 10 TB torrent is created and downloads at once', async () => {
  const dir = makeTempDir('daemon-space-off');
  const huge = makeClaimTorrent('huge.img', 10 * TB);
  const { rpc } = await daemon(dir, { checkFreeSpace: false });
  const r = await rpc('torrent-add', { metainfo: Buffer.from(huge.bytes).toString('base64') });
  const id = (r.arguments['torrent-added'] as { id: number }).id;
  const g = await poll(async () => {
    const row = await get(rpc, id, ['status', 'error']);
    return row.status === 4 ? row : undefined;
  }, 15_000, () => 'the download to start');
  expect(g.error).toBe(0);
  expect(statSync(join(dir, 'dl', 'huge.img')).size).toBe(0);
});

test('a failed resume write shows as the torrent\'s error 3 and errorString, and goes once a write succeeds', async () => {
  const dir = makeTempDir('daemon-resume-warning');
  const payload = await makePayload(join(dir, 'dl'), { name: 'kept.bin', size: 100_000 });
  const t = makeTorrent(payload.path, { pieceLength: 32768 });
  const { rpc } = await daemon(dir);
  const r = await rpc('torrent-add', { metainfo: Buffer.from(t.bytes).toString('base64') });
  const id = (r.arguments['torrent-added'] as { id: number }).id;
  await poll(async () => ((await get(rpc, id, ['status'])).status === 6 ? true : undefined), 15_000, () => 'the torrent to seed');
  // A directory (not empty) where the record goes: the atomic rename onto it fails.
  const record = join(dir, 'state', 'resume', `${t.infoHash}.resume`);
  rmSync(record, { force: true });
  mkdirSync(join(record, 'in-the-way'), { recursive: true });
  await rpc('torrent-stop', { ids: [id] });
  const warned = await poll(async () => {
    const g = await get(rpc, id, ['error', 'errorString']);
    return g.error === 3 ? g : undefined;
  }, 15_000, () => 'the warning');
  expect(warned.errorString).toMatch(/^resume-save: /);
  rmSync(record, { recursive: true });
  await rpc('torrent-start', { ids: [id] });
  await rpc('torrent-stop', { ids: [id] });
  await poll(async () => ((await get(rpc, id, ['error'])).error === 0 ? true : undefined), 15_000, () => 'the warning to clear');
  expect(await get(rpc, id, ['errorString'])).toEqual({ errorString: '' });
});

test('remove with data after a restart (data not open): empty files and the directories that held them go too', async () => {
  const dir = makeTempDir('daemon-delete-closed');
  const p = await makePayload(join(dir, 'src'), { name: 'multi', files: [{ path: 'a.bin', size: 70_000 }, { path: 'sub/deeper/zero', size: 0 }, { path: 'z0', size: 0 }] });
  const t = makeTorrent(p.path, { pieceLength: 32768 });
  const config = { stateDir: join(dir, 'state') };
  let { rpc, running } = await daemon(dir, config);
  const id = ((await rpc('torrent-add', { metainfo: Buffer.from(t.bytes).toString('base64') })).arguments['torrent-added'] as { id: number }).id;
  await poll(() => existsSync(join(dir, 'dl', 'multi', 'sub', 'deeper', 'zero')) || undefined, 15_000, () => 'the files to be created');
  expect((await rpc('torrent-stop', { ids: [id] })).result).toBe('success');
  await running.stop();
  ({ rpc, running } = await daemon(dir, config));
  expect((await rpc('torrent-remove', { ids: [1], 'delete-local-data': true })).result).toBe('success');
  expect(readdirSync(join(dir, 'dl'))).toEqual([]);
});
