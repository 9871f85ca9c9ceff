// Every session-set / torrent-set argument of the RPC spec either does what Transmission does
// (session-get / torrent-get reads it back and the daemon acts on it) or is refused with an error
// result that names it: nothing is accepted and ignored.
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, makePayload, makeTempDir, makeTorrent, poll, removeTempDir, type MadeTorrent, type Payload } from '@mainline/interop';
import { Session } from '@mainline/session';
import { mergeConfig, type DaemonConfig } from './config.js';
import { startDaemon, type RunningDaemon } from './program.js';
import { rpcClient } from './test-helpers.js';

let dir: string;
let payload: Payload;
let t: MadeTorrent;
const extra: MadeTorrent[] = [];
const daemons: RunningDaemon[] = [];
const sessions: Session[] = [];

beforeAll(async () => {
  dir = makeTempDir('daemon-settings');
  payload = await makePayload(join(dir, 'seed'), { name: 'set.bin', size: 300_000 });
  t = makeTorrent(payload.path, { pieceLength: 32 * 1024 });
  SESSION_TRIES['peer-port'] = await freePort();
  for (let i = 0; i < 3; i++) {
    const p = await makePayload(join(dir, 'more'), { name: `q${i}.bin`, size: 50_000 + i });
    extra.push(makeTorrent(p.path, { pieceLength: 32 * 1024 }));
  }
});
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  await Promise.all(sessions.map((s) => s.close()));
  removeTempDir(dir);
});

let n = 0;
async function daemon(config: Partial<DaemonConfig> = {}): Promise<{ rpc: ReturnType<typeof rpcClient>; running: RunningDaemon }> {
  const peerPort = await freePort();
  const base = join(dir, `d${n++}`);
  const running = await startDaemon(mergeConfig({ downloadDir: join(base, 'dl'), stateDir: join(base, 'state'), portRange: [peerPort, peerPort], bind: '127.0.0.1', rpcPort: 0, dhtBootstrap: [], ...config }), { log: () => undefined });
  daemons.push(running);
  return { rpc: rpcClient(running.server.port), running };
}

const b64 = (m: MadeTorrent): string => Buffer.from(m.bytes).toString('base64');
type Row = Record<string, unknown>;
async function get(rpc: ReturnType<typeof rpcClient>, ids: number[], fields: string[]): Promise<Row[]> {
  return (await rpc('torrent-get', { ids, fields })).arguments.torrents as Row[];
}
async function add(rpc: ReturnType<typeof rpcClient>, m: MadeTorrent, args: object = {}): Promise<number> {
  const r = await rpc('torrent-add', { metainfo: b64(m), ...args });
  expect(r.result).toBe('success');
  return (r.arguments['torrent-added'] as { id: number }).id;
}

// A value other than the default for every session-set argument of rpc-spec 4.0.6.
const SESSION_TRIES: Record<string, unknown> = {
  'alt-speed-down': 77,
  'alt-speed-enabled': true,
  'alt-speed-time-begin': 60,
  'alt-speed-time-enabled': true,
  'alt-speed-time-end': 120,
  'alt-speed-time-day': 3,
  'alt-speed-up': 66,
  'blocklist-url': 'http://127.0.0.1/list',
  'blocklist-enabled': true,
  'cache-size-mb': 16,
  'default-trackers': 'http://127.0.0.1/announce',
  'dht-enabled': true, // no bootstrap nodes (dhtBootstrap: []): nothing leaves loopback
  'download-dir': '/tmp/mainline-settings-dl',
  'download-queue-enabled': false,
  'download-queue-size': 3,
  encryption: 'required',
  'idle-seeding-limit': 45,
  'idle-seeding-limit-enabled': true,
  'incomplete-dir': '/tmp/mainline-settings-inc',
  'incomplete-dir-enabled': true,
  'lpd-enabled': true,
  'peer-limit-global': 99,
  'peer-limit-per-torrent': 33,
  'pex-enabled': true,
  'peer-port': 0, // a free port, found in beforeAll
  'peer-port-random-on-start': true,
  'port-forwarding-enabled': true,
  'queue-stalled-enabled': false,
  'queue-stalled-minutes': 12,
  'rename-partial-files': true,
  'script-torrent-added-enabled': true,
  'script-torrent-added-filename': '/bin/true',
  'script-torrent-done-enabled': true,
  'script-torrent-done-filename': '/bin/true',
  'script-torrent-done-seeding-enabled': true,
  'script-torrent-done-seeding-filename': '/bin/true',
  'seed-queue-enabled': true,
  'seed-queue-size': 4,
  seedRatioLimit: 1.5,
  seedRatioLimited: true,
  'speed-limit-down': 500,
  'speed-limit-down-enabled': true,
  'speed-limit-up': 400,
  'speed-limit-up-enabled': true,
  'start-added-torrents': false,
  sequential_download: true,
  'trash-original-torrent-files': true,
  'utp-enabled': true,
};

test('session-set: each argument reads back from session-get, or its error names it', async () => {
  const { rpc } = await daemon();
  const applied: string[] = [];
  const refused: string[] = [];
  for (const [key, value] of Object.entries(SESSION_TRIES)) {
    const r = await rpc('session-set', { [key]: value });
    const after = (await rpc('session-get', { fields: [key] })).arguments[key];
    if (r.result === 'success') {
      expect([key, after]).toEqual([key, value]);
      applied.push(key);
    } else {
      expect(r.result).toContain(`"${key}"`);
      expect([key, after]).not.toEqual([key, value]);
      refused.push(key);
    }
  }
  // What mainlined cannot do yet is refused (the README lists why); the rest works.
  expect(refused.sort()).toEqual(
    [
      'blocklist-enabled', 'cache-size-mb', 'default-trackers', 'encryption',
      'port-forwarding-enabled', 'rename-partial-files', 'utp-enabled',
    ].sort(),
  );
  expect(applied).toHaveLength(Object.keys(SESSION_TRIES).length - refused.length);
  // A refusal changes nothing else of the same request.
  const mixed = await rpc('session-set', { 'speed-limit-up': 1, 'utp-enabled': true });
  expect(mixed.result).toMatch(/"utp-enabled"/);
  expect((await rpc('session-get', { fields: ['speed-limit-up'] })).arguments['speed-limit-up']).toBe(400);
});

test('torrent-set: each argument reads back from torrent-get, or its error names it', async () => {
  const { rpc } = await daemon();
  const id = await add(rpc, t, { paused: true });
  const tries: Record<string, [unknown, string, unknown]> = {
    bandwidthPriority: [1, 'bandwidthPriority', 1],
    downloadLimit: [70, 'downloadLimit', 70],
    downloadLimited: [true, 'downloadLimited', true],
    'files-unwanted': [[0], 'wanted', [0]],
    'files-wanted': [[0], 'wanted', [1]],
    group: ['g', 'group', 'g'],
    honorsSessionLimits: [false, 'honorsSessionLimits', false],
    labels: [['a', 'b c'], 'labels', ['a', 'b c']],
    location: ['/tmp/x', 'downloadDir', '/tmp/x'],
    'peer-limit': [7, 'peer-limit', 7],
    'priority-high': [[0], 'priorities', [1]],
    'priority-low': [[0], 'priorities', [-1]],
    'priority-normal': [[0], 'priorities', [0]],
    queuePosition: [0, 'queuePosition', 0],
    seedIdleLimit: [12, 'seedIdleLimit', 12],
    seedIdleMode: [1, 'seedIdleMode', 1],
    seedRatioLimit: [3.5, 'seedRatioLimit', 3.5],
    seedRatioMode: [1, 'seedRatioMode', 1],
    sequential_download: [true, 'sequential_download', true],
    trackerAdd: [['http://127.0.0.1:1/announce'], 'trackers', [{ announce: 'http://127.0.0.1:1/announce', id: 0, scrape: 'http://127.0.0.1:1/scrape', sitename: '127.0.0.1', tier: 0 }]],
    trackerReplace: [[0, 'udp://127.0.0.1:2'], 'trackers', [{ announce: 'udp://127.0.0.1:2', id: 0, scrape: 'udp://127.0.0.1:2', sitename: '127.0.0.1', tier: 0 }]],
    trackerList: ['http://127.0.0.1:3/announce\nhttp://127.0.0.1:4/announce\n\nudp://127.0.0.1:5', 'trackerList', 'http://127.0.0.1:3/announce\nhttp://127.0.0.1:4/announce\n\nudp://127.0.0.1:5'],
    trackerRemove: [[1], 'trackers', [{ announce: 'http://127.0.0.1:3/announce', id: 0, scrape: 'http://127.0.0.1:3/scrape', sitename: '127.0.0.1', tier: 0 }, { announce: 'udp://127.0.0.1:5', id: 1, scrape: 'udp://127.0.0.1:5', sitename: '127.0.0.1', tier: 1 }]],
    uploadLimit: [80, 'uploadLimit', 80],
    uploadLimited: [true, 'uploadLimited', true],
  };
  const refused: string[] = [];
  for (const [key, [value, field, expected]] of Object.entries(tries)) {
    const r = await rpc('torrent-set', { ids: [id], [key]: value });
    const [row] = await get(rpc, [id], [field]);
    if (r.result === 'success') expect([key, row![field]]).toEqual([key, expected]);
    else {
      expect(r.result).toContain(`"${key}"`);
      refused.push(key);
    }
  }
  expect(refused.sort()).toEqual(['group', 'location'].sort());
  expect((await rpc('torrent-set', { ids: [id], bandwidthPriority: 2 })).result).toMatch(/"bandwidthPriority"/);
  expect((await rpc('torrent-set', { ids: [id], trackerAdd: ['ftp://x/'] })).result).toMatch(/"trackerAdd"/);
  expect((await rpc('torrent-set', { ids: [id], trackerRemove: [9] })).result).toMatch(/"trackerRemove": no tracker with id 9/);
  expect((await rpc('torrent-set', { ids: [id], labels: ['x,y'] })).result).toMatch(/comma/);
});

test('what session-set and torrent-set changed is kept across a restart', async () => {
  const base = join(dir, 'restart');
  const config = { downloadDir: join(base, 'dl'), stateDir: join(base, 'state') };
  let { rpc, running } = await daemon(config);
  const ids = [await add(rpc, extra[0]!, { paused: true, labels: ['one'] }), await add(rpc, extra[1]!, { paused: true })];
  const session = { 'start-added-torrents': false, 'idle-seeding-limit': 44, 'idle-seeding-limit-enabled': true, 'incomplete-dir': join(base, 'inc'), 'incomplete-dir-enabled': true, 'download-queue-size': 2, 'seed-queue-enabled': true, 'peer-limit-per-torrent': 21, 'peer-limit-global': 77, 'peer-port': await freePort(), seedRatioLimit: 2.5, seedRatioLimited: true, 'trash-original-torrent-files': true };
  expect((await rpc('session-set', session)).result).toBe('success');
  const set = { bandwidthPriority: -1, seedRatioMode: 1, seedRatioLimit: 0.5, seedIdleMode: 2, seedIdleLimit: 9, 'peer-limit': 12, honorsSessionLimits: false, trackerAdd: ['http://127.0.0.1:1/announce'], labels: ['a', 'b'] };
  expect((await rpc('torrent-set', { ids: [ids[1]], ...set })).result).toBe('success');
  expect((await rpc('queue-move-top', { ids: [ids[1]] })).result).toBe('success');
  const fields = ['hashString', 'bandwidthPriority', 'labels', 'queuePosition', 'seedRatioMode', 'seedRatioLimit', 'seedIdleMode', 'seedIdleLimit', 'peer-limit', 'honorsSessionLimits', 'trackers', 'status'];
  // After a restart ids follow the order of adding (by the second, then the hash): compare by hash.
  const byHash = (rows: Row[]): Row[] => [...rows].sort((a, b) => String(a.hashString).localeCompare(String(b.hashString)));
  const first = await get(rpc, ids, fields);
  expect(first.map((t) => t.queuePosition)).toEqual([1, 0]);
  const before = { session: (await rpc('session-get', { fields: Object.keys(session) })).arguments, torrents: byHash(first) };
  await running.stop();
  ({ rpc, running } = await daemon(config));
  const after = { session: (await rpc('session-get', { fields: Object.keys(session) })).arguments, torrents: byHash((await rpc('torrent-get', { fields })).arguments.torrents as Row[]) };
  expect(after).toEqual(before);
});

test('blocklist-update answers an error naming it', async () => {
  const { rpc } = await daemon();
  expect((await rpc('blocklist-update')).result).toMatch(/^blocklist-update: /);
  // port-test connects to the peer port: it listens.
  expect(await rpc('port-test')).toMatchObject({ result: 'success', arguments: { 'port-is-open': true } });
});

test('torrent-rename-path: a folder and the top item renamed on disk and in the file list; it seeds on from there and survives a restart', async () => {
  const src = await makePayload(join(dir, 'rename-src'), { name: 'album', files: [{ path: 'cd1/a.bin', size: 40_000 }, { path: 'cd1/b.bin', size: 30_000 }, { path: 'c.bin', size: 20_000 }] });
  const m = makeTorrent(src.path, { pieceLength: 32 * 1024 });
  const base = join(dir, 'rename');
  mkdirSync(join(base, 'dl'), { recursive: true });
  cpSync(src.path, join(base, 'dl', 'album'), { recursive: true });
  const config = { downloadDir: join(base, 'dl'), stateDir: join(base, 'state') };
  let { rpc, running } = await daemon(config);
  const id = await add(rpc, m);
  await poll(async () => ((await get(rpc, [id], ['status']))[0]!.status === 6 ? true : undefined), 15_000, () => 'seeding');
  const r = await rpc('torrent-rename-path', { ids: [id], path: 'album/cd1', name: 'disc one' });
  expect(r).toMatchObject({ result: 'success', arguments: { path: 'album/cd1', name: 'disc one', id } });
  expect((await rpc('torrent-rename-path', { ids: [id], path: 'album', name: 'Album (2024)' })).result).toBe('success');
  expect(existsSync(join(base, 'dl', 'Album (2024)', 'disc one', 'a.bin'))).toBe(true);
  expect(existsSync(join(base, 'dl', 'album'))).toBe(false);
  const names = async (): Promise<Row> => (await get(rpc, [id], ['name', 'files', 'status', 'percentDone']))[0]!;
  await poll(async () => ((await names()).status === 6 ? true : undefined), 15_000, () => 'seeding again');
  const after = await names();
  expect(after).toMatchObject({ name: 'Album (2024)', percentDone: 1 });
  expect((after.files as Row[]).map((f) => f.name)).toEqual(['Album (2024)/c.bin', 'Album (2024)/disc one/a.bin', 'Album (2024)/disc one/b.bin']);
  // Errors name what is wrong; nothing changes.
  expect((await rpc('torrent-rename-path', { ids: [id], path: 'Album (2024)/nope', name: 'x' })).result).toMatch(/no file or folder/);
  expect((await rpc('torrent-rename-path', { ids: [id], path: 'Album (2024)/c.bin', name: 'a/b' })).result).toMatch(/not a file name/);
  expect((await rpc('torrent-rename-path', { ids: [id], path: 'Album (2024)/c.bin', name: 'disc one' })).result).toMatch(/already in the torrent/);
  // After a restart: the new names, verified from the resume record, seeding.
  await running.stop();
  ({ rpc, running } = await daemon(config));
  let seen: Row | undefined;
  await poll(
    async () => {
      seen = (await get(rpc, [id], ['status', 'error', 'errorString', 'name', 'percentDone', 'downloadDir']))[0];
      return seen?.status === 6 ? true : undefined;
    },
    15_000,
    () => `seeding after the restart: ${JSON.stringify(seen)}`,
  );
  expect((await names()).name).toBe('Album (2024)');
}, 60_000);

test('start-added-torrents false: torrents are added stopped unless the add says paused:false', async () => {
  const { rpc } = await daemon();
  expect((await rpc('session-set', { 'start-added-torrents': false })).result).toBe('success');
  const a = await add(rpc, extra[0]!);
  const b = await add(rpc, extra[1]!, { paused: false });
  const rows = await get(rpc, [a, b], ['id', 'status']);
  expect(rows.find((r) => r.id === a)!.status).toBe(0);
  await poll(async () => ((await get(rpc, [b], ['status']))[0]!.status === 4 ? true : undefined), 15_000, () => 'the unpaused one to start');
});

test('download queue: one slot, the others wait with status 3; queue moves and a stop pass the slot on', async () => {
  const { rpc } = await daemon();
  expect((await rpc('session-set', { 'download-queue-enabled': true, 'download-queue-size': 1 })).result).toBe('success');
  const ids: number[] = [];
  for (const m of extra) ids.push(await add(rpc, m));
  const status = async (): Promise<unknown[]> => (await get(rpc, ids, ['status'])).map((r) => r.status);
  await poll(async () => ((await status())[0] === 4 ? true : undefined), 15_000, () => 'the first to download');
  expect(await status()).toEqual([4, 3, 3]);
  expect((await get(rpc, ids, ['queuePosition'])).map((r) => r.queuePosition)).toEqual([0, 1, 2]);
  expect((await rpc('queue-move-top', { ids: [ids[2]] })).result).toBe('success');
  expect((await get(rpc, ids, ['queuePosition'])).map((r) => r.queuePosition)).toEqual([1, 2, 0]);
  expect((await rpc('queue-move-down', { ids: [ids[2]] })).result).toBe('success');
  expect((await get(rpc, ids, ['queuePosition'])).map((r) => r.queuePosition)).toEqual([0, 2, 1]);
  expect((await rpc('queue-move-up', { ids: [ids[2]] })).result).toBe('success');
  expect((await rpc('queue-move-bottom', { ids: [ids[0]] })).result).toBe('success');
  expect((await get(rpc, ids, ['queuePosition'])).map((r) => r.queuePosition)).toEqual([2, 1, 0]);
  // The first stops: the head of the queue (the third) takes its slot.
  expect((await rpc('torrent-stop', { ids: [ids[0]] })).result).toBe('success');
  await poll(async () => ((await status())[2] === 4 ? true : undefined), 15_000, () => 'the third to download');
  expect(await status()).toEqual([0, 3, 4]);
  // torrent-start-now goes past the queue; a bigger queue starts the waiting one.
  expect((await rpc('torrent-start-now', { ids: [ids[0]] })).result).toBe('success');
  await poll(async () => ((await status())[0] === 4 ? true : undefined), 15_000, () => 'start-now to start');
  expect((await status())[1]).toBe(3);
  expect((await rpc('session-set', { 'download-queue-size': 3 })).result).toBe('success');
  await poll(async () => ((await status())[1] === 4 ? true : undefined), 15_000, () => 'the last to start');
});

test('seedRatioMode 1: a seeding torrent stops at its own ratio and reads finished; the done-seeding script runs', async () => {
  const { rpc } = await daemon();
  const base = join(dir, 'seeding-done');
  mkdirSync(base, { recursive: true });
  const out = join(base, 'done.txt');
  const script = join(base, 'done-seeding.sh');
  writeFileSync(script, `#!/bin/sh\necho "$TR_TORRENT_ID $TR_TORRENT_NAME" > '${out}.tmp' && mv '${out}.tmp' '${out}'\n`);
  chmodSync(script, 0o755);
  expect((await rpc('session-set', { 'script-torrent-done-seeding-filename': script, 'script-torrent-done-seeding-enabled': true })).result).toBe('success');
  const id = await add(rpc, t, { 'download-dir': payload.saveDir });
  await poll(async () => ((await get(rpc, [id], ['status']))[0]!.status === 6 ? true : undefined), 15_000, () => 'seeding');
  expect((await rpc('torrent-set', { ids: [id], seedRatioMode: 1, seedRatioLimit: 0 })).result).toBe('success');
  await poll(async () => ((await get(rpc, [id], ['status']))[0]!.status === 0 ? true : undefined), 15_000, () => 'the ratio to stop it');
  expect((await get(rpc, [id], ['isFinished', 'seedRatioMode']))[0]).toEqual({ isFinished: true, seedRatioMode: 1 });
  await poll(() => (existsSync(out) ? true : undefined), 15_000, () => 'the done-seeding script to run');
  expect(readFileSync(out, 'utf8')).toBe(`${id} set.bin\n`);
});

test('incomplete dir and the torrent-done script: the data moves once complete, the script sees TR_* variables', async () => {
  const seeder = new Session({ bind: '127.0.0.2', portRange: [await freePort(), 65535] });
  sessions.push(seeder);
  await seeder.listen();
  await seeder.add(t.bytes, { savePath: payload.saveDir, noTrackers: true });
  const base = join(dir, 'inc');
  const out = join(base, 'env.txt');
  const script = join(base, 'done.sh');
  const { rpc, running } = await daemon({ downloadDir: join(base, 'complete') });
  mkdirSync(base, { recursive: true });
  writeFileSync(script, `#!/bin/sh\nenv | grep ^TR_ | sort > '${out}.tmp' && mv '${out}.tmp' '${out}'\n`);
  chmodSync(script, 0o755);
  const set = await rpc('session-set', { 'incomplete-dir': join(base, 'incomplete'), 'incomplete-dir-enabled': true, 'script-torrent-done-filename': script, 'script-torrent-done-enabled': true });
  expect(set.result).toBe('success');
  const id = await add(rpc, t, { paused: true, labels: ['movies', 'hd'] });
  // It downloads into the incomplete dir, from the seeder we name.
  const entry = running.daemon.byId(id)!;
  expect(entry.kind === 'torrent' && entry.torrent.savePath).toBe(join(base, 'incomplete'));
  expect((await rpc('torrent-start', { ids: [id] })).result).toBe('success');
  const live = (): ReturnType<typeof running.daemon.byId> => running.daemon.byId(id);
  await poll(() => (live()?.kind === 'torrent' && (live() as { torrent: { state: string } }).torrent.state === 'downloading' ? true : undefined), 15_000, () => 'downloading');
  const current = live();
  if (current?.kind === 'torrent') current.torrent.addPeers([{ ip: '127.0.0.2', port: seeder.port }]);
  await poll(() => (existsSync(out) ? true : undefined), 30_000, () => 'the done script to run');
  expect(existsSync(join(base, 'complete', 'set.bin'))).toBe(true);
  expect(existsSync(join(base, 'incomplete', 'set.bin'))).toBe(false);
  expect(readFileSync(join(base, 'complete', 'set.bin')).equals(readFileSync(payload.path))).toBe(true);
  const env = Object.fromEntries(
    readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  expect(env).toMatchObject({ TR_TORRENT_DIR: join(base, 'complete'), TR_TORRENT_NAME: 'set.bin', TR_TORRENT_HASH: t.infoHash, TR_TORRENT_ID: String(id), TR_TORRENT_LABELS: 'movies,hd' });
  expect(env.TR_APP_VERSION).toMatch(/\d/);
  expect(env.TR_TIME_LOCALTIME).toMatch(/^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
  // After the move it seeds from the download dir, with no recheck needed.
  await poll(async () => ((await get(rpc, [id], ['status']))[0]!.status === 6 ? true : undefined), 15_000, () => 'seeding from the download dir');
  expect((await get(rpc, [id], ['downloadDir', 'percentDone']))[0]).toEqual({ downloadDir: join(base, 'complete'), percentDone: 1 });
}, 60_000);

test('incomplete dir: complete data found there by the check moves to the download dir; the added script runs; the watch dir trashes', async () => {
  const base = join(dir, 'found');
  mkdirSync(join(base, 'incomplete'), { recursive: true });
  writeFileSync(join(base, 'incomplete', 'set.bin'), readFileSync(payload.path));
  const out = join(base, 'added.txt');
  const script = join(base, 'added.sh');
  writeFileSync(script, `#!/bin/sh\necho "$TR_TORRENT_ID $TR_TORRENT_NAME" > '${out}.tmp' && mv '${out}.tmp' '${out}'\n`);
  chmodSync(script, 0o755);
  const watch = join(base, 'watch');
  mkdirSync(watch);
  const { rpc } = await daemon({ downloadDir: join(base, 'complete'), watchDir: watch, watchIntervalMs: 200 });
  const set = { 'incomplete-dir': join(base, 'incomplete'), 'incomplete-dir-enabled': true, 'script-torrent-added-filename': script, 'script-torrent-added-enabled': true, 'trash-original-torrent-files': true };
  expect((await rpc('session-set', set)).result).toBe('success');
  const id = await add(rpc, t);
  await poll(() => (existsSync(join(base, 'complete', 'set.bin')) && !existsSync(join(base, 'incomplete', 'set.bin')) ? true : undefined), 20_000, () => 'the data to move');
  await poll(async () => ((await get(rpc, [id], ['status']))[0]!.status === 6 ? true : undefined), 15_000, () => 'seeding');
  await poll(() => (existsSync(out) ? true : undefined), 15_000, () => 'the added script');
  expect(readFileSync(out, 'utf8')).toBe(`${id} set.bin\n`);
  // A .torrent dropped in the watch dir is added and deleted (not renamed .added).
  writeFileSync(join(watch, 'q.torrent'), extra[2]!.bytes);
  await poll(async () => ((await rpc('torrent-get', { fields: ['hashString'] })).arguments.torrents as Row[]).some((r) => r.hashString === extra[2]!.infoHash) || undefined, 20_000, () => 'the watch dir to add it');
  await poll(() => (!existsSync(join(watch, 'q.torrent')) ? true : undefined), 10_000, () => 'the .torrent to be trashed');
  expect(existsSync(join(watch, 'q.torrent.added'))).toBe(false);
}, 60_000);

test('pex-enabled reaches the session (peer exchange stops and starts at once) and is kept across a restart', async () => {
  const config = { stateDir: join(dir, 'pex-state') };
  let { rpc, running } = await daemon(config);
  expect(running.daemon.session.pexEnabled).toBe(true);
  expect((await rpc('session-set', { 'pex-enabled': false })).result).toBe('success');
  expect(running.daemon.session.pexEnabled).toBe(false);
  await running.stop();
  ({ rpc, running } = await daemon(config));
  expect((await rpc('session-get', { fields: ['pex-enabled'] })).arguments['pex-enabled']).toBe(false);
  expect(running.daemon.session.pexEnabled).toBe(false);
});

test('torrent-reannounce asks the tracker again at once (it was accepted and did nothing)', async () => {
  const { createServer } = await import('node:http');
  let announces = 0;
  const server = createServer((_req, res) => {
    announces++;
    res.end('d8:intervali1800e5:peers0:e');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as { port: number }).port;
    const p = await makePayload(join(dir, 'reannounce'), { name: 'r.bin', size: 40_000 });
    const m = makeTorrent(p.path, { pieceLength: 32 * 1024, trackers: [`http://127.0.0.1:${port}/announce`], outPath: join(dir, 'reannounce.torrent') });
    const { rpc } = await daemon({ downloadDir: p.saveDir });
    const id = await add(rpc, m);
    await poll(() => announces >= 1 || undefined, 15_000, () => 'the first announce');
    const before = announces;
    expect((await rpc('torrent-reannounce', { ids: [id] })).result).toBe('success');
    await poll(() => announces > before || undefined, 15_000, () => 'the announce asked for');
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});
