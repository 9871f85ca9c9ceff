import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { freePort, makePayload, makeTempDir, makeTorrent, poll } from '@mainline/interop';
import { Session } from '@mainline/session';
import { mergeConfig } from './config.js';
import { clientName, TR_STATUS } from './fields.js';
import { startDaemon, type RunningDaemon } from './program.js';
import { http, rpcClient } from './test-helpers.js';

// Bad requests of every kind against an in-process daemon: each gets a clean HTTP error or a
// Transmission error result, and the daemon keeps answering.
let dir: string;
let running: RunningDaemon;
let authed: RunningDaemon;
let port: number;
let sid: string;

beforeAll(async () => {
  dir = makeTempDir('daemon-rpc');
  const peerPort = await freePort();
  const base = { downloadDir: join(dir, 'dl'), portRange: [peerPort, peerPort + 1] as [number, number], bind: '127.0.0.1', rpcPort: 0 };
  // torrent-add reads .torrent paths from the test's directory only.
  running = await startDaemon(mergeConfig({ ...base, stateDir: join(dir, 'state'), torrentFileDirs: [dir] }), { log: () => undefined });
  authed = await startDaemon(mergeConfig({ ...base, stateDir: join(dir, 'state2'), rpcUsername: 'alice', rpcPassword: 's3cret' }), { log: () => undefined });
  port = running.server.port;
  sid = running.server.sessionId;
});

afterAll(async () => {
  await running?.stop();
  await authed?.stop();
});

const post = (body: string | Buffer, headers: Record<string, string> = {}): ReturnType<typeof http> =>
  http(port, { body, headers: { 'X-Transmission-Session-Id': sid, ...headers } });

async function stillServing(): Promise<void> {
  const r = await post(JSON.stringify({ method: 'session-get', arguments: { fields: ['rpc-version'] }, tag: 7 }));
  expect(r.status).toBe(200);
  expect(JSON.parse(r.body)).toEqual({ result: 'success', arguments: { 'rpc-version': 17 }, tag: 7 });
}

test('a missing or wrong session id gets 409 with the id; the retry with it works', async () => {
  for (const headers of [{}, { 'X-Transmission-Session-Id': 'nope' }] as Record<string, string>[]) {
    const r = await http(port, { headers, body: '{"method":"session-get"}' });
    expect(r.status).toBe(409);
    expect(r.headers['x-transmission-session-id']).toBe(sid);
  }
  // GET too (the remote's first probe); and the old/new paths both answer.
  expect((await http(port, { method: 'GET' })).status).toBe(409);
  const slash = await http(port, { path: '/transmission/rpc/', headers: { 'X-Transmission-Session-Id': sid }, body: '{"method":"session-stats"}' });
  expect(JSON.parse(slash.body).result).toBe('success');
  expect((await http(port, { path: '/transmission/rpc/x', body: '{}' })).status).toBe(404);
  expect((await http(port, { method: 'GET', path: '/nope' })).status).toBe(404);
  // A 4.1+ remote switches to JSON-RPC 2.0 when a 409 carries X-Transmission-Rpc-Version: we
  // speak the 3.x dialect only, so it must never be there.
  const conflict = await http(port, { body: '{"method":"session-get"}' });
  expect([conflict.status, conflict.headers['x-transmission-rpc-version']]).toEqual([409, undefined]);
});

test('basic auth: 401 with WWW-Authenticate unless the user and password match', async () => {
  const p = authed.server.port;
  const cases = [undefined, 'alice:wrong', 'bob:s3cret', 'alice', ''];
  for (const cred of cases) {
    const headers: Record<string, string> = cred === undefined ? {} : { Authorization: `Basic ${Buffer.from(cred).toString('base64')}` };
    const r = await http(p, { headers, body: '{}' });
    expect(r.status).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Basic realm="Transmission"');
  }
  expect((await http(p, { method: 'GET', path: '/' })).status).toBe(401);
  expect((await http(p, { headers: { Authorization: 'Bearer x' }, body: '{}' })).status).toBe(401);
  const ok = await rpcClient(p, 'alice:s3cret')('session-get', { fields: ['version'] });
  expect(ok.result).toBe('success');
});

test('malformed JSON is a 400; a body over the cap is a 413; wrong methods 405', async () => {
  for (const body of ['', '{', 'null x', '{"method":', '\u0000\u0001', '[1,2']) {
    const r = await post(body);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body).result).toMatch(/^malformed JSON request/);
  }
  const huge = Buffer.alloc(17 * 1024 * 1024, 0x20);
  const big = await post(huge);
  expect(big.status).toBe(413);
  expect((await http(port, { method: 'PUT', headers: { 'X-Transmission-Session-Id': sid }, body: '{}' })).status).toBe(405);
  await stillServing();
});

test('unknown methods and wrong argument types get Transmission error results', async () => {
  const cases: [unknown, RegExp][] = [
    [{ method: 'torrent-frobnicate' }, /^method name not recognized$/],
    [{ method: 'constructor' }, /^method name not recognized$/],
    [{ method: '__proto__' }, /^method name not recognized$/],
    [{ arguments: {} }, /^no method name$/],
    [{ method: 42 }, /^no method name$/],
    [[1, 2], /request must be a JSON object/],
    ['session-get', /request must be a JSON object/],
    [null, /request must be a JSON object/],
    [{ method: 'session-get', arguments: [] }, /arguments must be a JSON object/],
    [{ method: 'torrent-get', arguments: {} }, /needs "fields"/],
    [{ method: 'torrent-get', arguments: { fields: 'name' } }, /needs "fields"/],
    [{ method: 'torrent-get', arguments: { fields: ['id'], ids: { a: 1 } } }, /"ids" must be/],
    [{ method: 'torrent-stop', arguments: { ids: [true] } }, /"ids" must be/],
    [{ method: 'session-set', arguments: { 'speed-limit-up': 'fast' } }, /"speed-limit-up" must be a non-negative number/],
    [{ method: 'session-set', arguments: { 'speed-limit-down': -5 } }, /"speed-limit-down" must be a non-negative number/],
    [{ method: 'session-set', arguments: { 'speed-limit-up-enabled': 'yes' } }, /must be a boolean/],
    [{ method: 'session-set', arguments: { 'download-dir': 'relative/dir' } }, /not absolute/],
    [{ method: 'torrent-add', arguments: {} }, /no filename or metainfo specified/],
    [{ method: 'torrent-add', arguments: { metainfo: 12 } }, /"metainfo" must be a string/],
    [{ method: 'torrent-add', arguments: { metainfo: 'bm90IGEgdG9ycmVudA==' } }, /invalid or corrupt torrent file/],
    [{ method: 'torrent-add', arguments: { metainfo: '!!!' } }, /invalid or corrupt torrent file/],
    [{ method: 'torrent-add', arguments: { filename: 'magnet:?xt=urn:btih:' + '0'.repeat(39) } }, /^invalid magnet link/],
    [{ method: 'torrent-remove', arguments: { 'delete-local-data': 'sure' } }, /must be a boolean/],
    [{ method: 'free-space', arguments: {} }, /needs a "path"/],
    [{ method: 'free-space', arguments: { path: '/definitely/not/here' } }, /ENOENT/],
  ];
  for (const [body, expected] of cases) {
    const r = await post(JSON.stringify(body));
    expect(r.status).toBe(200);
    const json = JSON.parse(r.body) as { result: string; tag?: number };
    expect(json.result).toMatch(expected);
  }
  // The tag is echoed only when one was sent (the remote picks its printer by it).
  expect(JSON.parse((await post('{"method":"nope","tag":3}')).body)).toEqual({ result: 'method name not recognized', arguments: {}, tag: 3 });
  expect(JSON.parse((await post('{"method":"session-stats"}')).body).tag).toBeUndefined();
  await stillServing();
});

test('property: any JSON request gets a well-formed answer and the daemon keeps serving', async () => {
  const methods = ['session-get', 'session-set', 'session-stats', 'torrent-get', 'torrent-add', 'torrent-set', 'torrent-start', 'torrent-stop', 'torrent-verify', 'free-space', 'port-test', 'x'];
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...methods), fc.dictionary(fc.constantFrom('ids', 'fields', 'metainfo', 'filename', 'path', 'speed-limit-up', 'files-wanted', 'priority-high', 'paused', 'format'), fc.jsonValue()), async (method, args) => {
        const r = await post(JSON.stringify({ method, arguments: args }));
        expect(r.status).toBe(200);
        const json = JSON.parse(r.body) as { result: unknown; arguments: unknown };
        expect(typeof json.result).toBe('string');
        expect(typeof json.arguments).toBe('object');
      }),
    { numRuns: 150 },
  );
  await stillServing();
});

test('torrent-add by path, ids as hash or "recently-active", table format, file selection, free-space', async () => {
  const payload = await makePayload(join(dir, 'src'), { name: 'pack', files: [{ path: 'x.bin', size: 70_000 }, { path: 'y.bin', size: 50_000 }] });
  const t = makeTorrent(payload.path, { pieceLength: 32 * 1024, outPath: join(dir, 'pack.torrent') });
  const rpc = rpcClient(port);
  const added = await rpc('torrent-add', { filename: t.path, paused: true, 'files-unwanted': [1], 'download-dir': join(dir, 'elsewhere') });
  expect(added.result).toBe('success');
  const info = added.arguments['torrent-added'] as { id: number; hashString: string };
  expect(info.hashString).toBe(t.infoHash);
  const dup = await rpc('torrent-add', { metainfo: Buffer.from(readFileSync(t.path)).toString('base64') });
  expect(dup.arguments['torrent-duplicate']).toEqual(info);
  const byHash = await rpc('torrent-get', { ids: [t.infoHash.toUpperCase()], fields: ['id', 'wanted', 'sizeWhenDone', 'totalSize', 'status', 'downloadDir', 'bogusField'] });
  const got = (byHash.arguments.torrents as Record<string, unknown>[])[0]!;
  expect(got).toEqual({ id: info.id, wanted: [1, 0], sizeWhenDone: 3 * 32 * 1024, totalSize: 120_000, status: 0, downloadDir: join(dir, 'elsewhere') });
  const recent = await rpc('torrent-get', { ids: 'recently-active', fields: ['id'] });
  expect(recent.arguments.torrents).toEqual([{ id: info.id }]);
  expect(recent.arguments.removed).toEqual([]);
  const table = await rpc('torrent-get', { format: 'table', fields: ['id', 'name'] });
  expect(table.arguments.torrents).toEqual([['id', 'name'], [info.id, 'pack']]);
  await rpc('torrent-set', { ids: info.id, 'files-wanted': [1], 'priority-high': [0] });
  const after = await rpc('torrent-get', { ids: info.id, fields: ['wanted', 'priorities', 'sizeWhenDone'] });
  expect((after.arguments.torrents as unknown[])[0]).toEqual({ wanted: [1, 1], priorities: [1, 0], sizeWhenDone: 120_000 });
  const bad = await rpc('torrent-set', { ids: info.id, 'files-wanted': [5] });
  expect(bad.result).toMatch(/out of range/);
  await rpc('torrent-remove', { ids: [t.infoHash] });
  const gone = await rpc('torrent-get', { ids: 'recently-active', fields: ['id'] });
  expect(gone.arguments.removed).toEqual([info.id]);
  const fs = await rpc('free-space', { path: dir });
  expect(fs.arguments.path).toBe(dir);
  expect(fs.arguments['size-bytes']).toBeGreaterThan(0);
});

test('with a file unwanted, percentDone / leftUntilDone / sizeWhenDone count the wanted pieces; the torrent finishes, and wanting the file later completes it', async () => {
  const payload = await makePayload(join(dir, 'src3'), {
    name: 'trio',
    files: [
      { path: 'a.bin', size: 100_000 },
      { path: 'b.bin', size: 200_000 },
      { path: 'c.bin', size: 60_000 },
    ],
  });
  const pieceLength = 32 * 1024;
  const t = makeTorrent(payload.path, { pieceLength, outPath: join(dir, 'trio.torrent') });
  const m = t.metainfo;
  const skipped = m.files.findIndex((f) => f.path.at(-1) === 'b.bin');
  // Expected by hand: the pieces any wanted file touches, the last one short.
  const wantedPieces = new Set<number>();
  m.files.forEach((f, i) => {
    if (i === skipped) return;
    for (let p = Math.floor(f.offset / pieceLength); p <= Math.floor((f.offset + f.length - 1) / pieceLength); p++) wantedPieces.add(p);
  });
  const wantedBytes = [...wantedPieces].reduce((n, p) => n + Math.min(pieceLength, m.totalLength - p * pieceLength), 0);
  expect(wantedBytes).toBeLessThan(m.totalLength);

  const rpc = rpcClient(port);
  const downloadDir = join(dir, 'trio-dl');
  const added = await rpc('torrent-add', { filename: t.path, 'files-unwanted': [skipped], 'download-dir': downloadDir });
  const id = (added.arguments['torrent-added'] as { id: number }).id;
  const fields = ['status', 'percentDone', 'percentComplete', 'leftUntilDone', 'sizeWhenDone', 'haveValid', 'totalSize', 'doneDate', 'fileStats'];
  const get = async (): Promise<Record<string, unknown>> => ((await rpc('torrent-get', { ids: [id], fields })).arguments.torrents as Record<string, unknown>[])[0]!;
  const before = await poll(async () => {
    const g = await get();
    return g.status === TR_STATUS.DOWNLOAD ? g : undefined;
  }, 10_000, () => 'the torrent to start');
  expect(before).toMatchObject({ percentDone: 0, leftUntilDone: wantedBytes, sizeWhenDone: wantedBytes, haveValid: 0, totalSize: m.totalLength });

  // A seeding session in this process dials the daemon's peer port.
  const seeder = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
  try {
    await seeder.listen();
    const seeding = await seeder.add(t.bytes, { savePath: payload.saveDir });
    const daemonPeer = [{ ip: '127.0.0.1', port: running.daemon.session.port }];
    seeding.addPeers(daemonPeer);
    const done = await poll(async () => {
      const g = await get();
      return g.leftUntilDone === 0 && g.status === TR_STATUS.SEED ? g : undefined;
    }, 20_000, () => 'the wanted files to finish');
    expect(done.percentDone).toBe(1);
    expect(done.haveValid).toBeGreaterThanOrEqual(wantedBytes);
    expect(done.haveValid).toBeLessThan(m.totalLength);
    expect(done.sizeWhenDone).toBe(done.haveValid);
    expect(done.percentComplete).toBeLessThan(1);
    expect(done.doneDate).toBeGreaterThan(0);
    expect((done.fileStats as { wanted: boolean }[])[skipped]!.wanted).toBe(false);
    expect(existsSync(join(downloadDir, 'trio', 'b.bin'))).toBe(false);

    // Wanting b.bin: back to downloading, the seed dials again, and the whole torrent completes.
    await rpc('torrent-set', { ids: [id], 'files-wanted': [skipped] });
    const wanting = await get();
    expect(wanting.status).toBe(TR_STATUS.DOWNLOAD);
    expect(wanting.sizeWhenDone).toBe(m.totalLength);
    expect(wanting.leftUntilDone).toBe(m.totalLength - (wanting.haveValid as number));
    seeding.addPeers(daemonPeer);
    const complete = await poll(async () => {
      const g = await get();
      return g.leftUntilDone === 0 && g.status === TR_STATUS.SEED ? g : undefined;
    }, 20_000, () => 'the whole torrent to finish');
    expect(complete).toMatchObject({ percentDone: 1, percentComplete: 1, haveValid: m.totalLength, sizeWhenDone: m.totalLength });
    expect(readFileSync(join(downloadDir, 'trio', 'b.bin')).equals(readFileSync(join(payload.path, 'b.bin')))).toBe(true);
  } finally {
    await seeder.close();
    await rpc('torrent-remove', { ids: [id] });
  }
});

test('the web UI and its assets are served with safe headers', async () => {
  const page = await http(port, { method: 'GET', path: '/' });
  expect(page.status).toBe(200);
  expect(page.headers['content-type']).toContain('text/html');
  expect(page.headers['x-frame-options']).toBe('DENY');
  expect(page.body).toContain('<script src="app.js"></script>');
  expect((await http(port, { method: 'GET', path: '/app.js' })).body).toContain("const RPC = '/transmission/rpc'");
  expect((await http(port, { method: 'GET', path: '/style.css' })).headers['content-type']).toContain('text/css');
  // DNS rebinding: an unknown Host name is refused when there is no password.
  expect((await http(port, { method: 'GET', path: '/', headers: { Host: 'evil.example' } })).status).toBe(421);
  expect((await http(port, { method: 'GET', path: '/', headers: { Host: `localhost:${port}` } })).status).toBe(200);
});

test('client names come from Azureus-style peer ids', () => {
  expect(clientName(Buffer.from('-LT2080-abcdefghijkl'))).toBe('libtorrent (Rasterbar) 2.0.8.0');
  expect(clientName(Buffer.from('-TR3000-abcdefghijkl'))).toBe('Transmission 3.0.0.0');
  expect(clientName(Buffer.from('-MN0100-abcdefghijkl'))).toBe('mainline-ts 0.1.0.0');
  expect(clientName(Buffer.from('-ML0100-abcdefghijkl'))).toBe('MLDonkey 0.1.0.0');
  expect(clientName(undefined)).toBe('');
});

// Last: the recently-active test above sees every torrent added or removed in the last minute.
test("Transmission 4's additions: sequential_download, done-seeding script, bandwidth groups (none), file pieces, tracker sitename", async () => {
  const payload = await makePayload(join(dir, 'src'), { name: 'four', files: [{ path: 'a.bin', size: 70_000 }, { path: 'b.bin', size: 0 }, { path: 'c.bin', size: 30_000 }] });
  const t = makeTorrent(payload.path, { pieceLength: 32 * 1024, outPath: join(dir, 'four.torrent'), trackers: ['http://tracker.example.co.uk:1/announce', 'udp://127.0.0.1:1/announce'] });
  const rpc = rpcClient(port);
  expect((await rpc('session-set', { sequential_download: true, 'script-torrent-done-seeding-filename': '/bin/true', 'script-torrent-done-seeding-enabled': true })).result).toBe('success');
  const s = (await rpc('session-get', { fields: ['sequential_download', 'script-torrent-done-seeding-enabled', 'script-torrent-done-seeding-filename'] })).arguments;
  expect(s).toEqual({ sequential_download: true, 'script-torrent-done-seeding-enabled': true, 'script-torrent-done-seeding-filename': '/bin/true' });
  // New torrents take the session's sequential_download; torrent-set switches it.
  const added = await rpc('torrent-add', { filename: t.path, paused: true });
  const id = (added.arguments['torrent-added'] as { id: number }).id;
  const get = async (): Promise<Record<string, unknown>> => ((await rpc('torrent-get', { ids: id, fields: ['sequential_download', 'group', 'files', 'trackers'] })).arguments.torrents as Record<string, unknown>[])[0]!;
  const first = await get();
  expect([first.sequential_download, first.group]).toEqual([true, '']);
  expect((first.files as { begin_piece: number; end_piece: number }[]).map((f) => [f.begin_piece, f.end_piece])).toEqual([[0, 3], [2, 3], [2, 4]]);
  expect((first.trackers as { sitename: string }[]).map((tr) => tr.sitename)).toEqual(['example', '127.0.0.1']);
  await rpc('torrent-set', { ids: id, sequential_download: false });
  expect((await get()).sequential_download).toBe(false);
  // Groups: there are none, and none can be made.
  expect((await rpc('group-get', {})).arguments).toEqual({ group: [] });
  expect((await rpc('group-set', { name: 'slow' })).result).toMatch(/group-set "slow": bandwidth groups are not supported/);
  expect((await rpc('torrent-set', { ids: id, group: 'slow' })).result).toMatch(/"group"/);
  await rpc('session-set', { sequential_download: false, 'script-torrent-done-seeding-enabled': false });
  // An empty file that ends the torrent on a piece boundary spans the last piece (libtransmission).
  const edge = await makePayload(join(dir, 'src'), { name: 'edge', files: [{ path: 'a.bin', size: 65_536 }, { path: 'z.bin', size: 0 }] });
  const e = makeTorrent(edge.path, { pieceLength: 32 * 1024, outPath: join(dir, 'edge.torrent') });
  const eid = ((await rpc('torrent-add', { filename: e.path, paused: true, sequential_download: false })).arguments['torrent-added'] as { id: number }).id;
  const ef = ((await rpc('torrent-get', { ids: eid, fields: ['files', 'sequential_download'] })).arguments.torrents as { files: { begin_piece: number; end_piece: number }[]; sequential_download: boolean }[])[0]!;
  expect([ef.sequential_download, ef.files.map((f) => [f.begin_piece, f.end_piece])]).toEqual([false, [[0, 2], [1, 2]]]);
  await rpc('torrent-remove', { ids: eid });
  await rpc('torrent-remove', { ids: id });
});
