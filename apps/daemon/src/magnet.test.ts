import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, makePayload, makeTempDir, makeTorrent, poll } from '@mainline/interop';
import { formatMagnet, parseTorrent } from '@mainline/metainfo';
import { Session, type MagnetDownload } from '@mainline/session';
import { mergeConfig } from './config.js';
import { startDaemon, type RunningDaemon } from './program.js';
import { rpcClient } from './test-helpers.js';

// Magnet links over RPC against an in-process daemon, with our own Session on loopback as the
// other peer: a seeder (metadata and data), or another client fetching the same magnet (a peer
// that connects but has no metadata to give).
jest.setTimeout(30_000);

type Rpc = ReturnType<typeof rpcClient>;
type Row = Record<string, unknown>;

const sessions: Session[] = [];
const daemons: RunningDaemon[] = [];

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  await Promise.all(sessions.map((s) => s.close()));
});

async function loopbackSession(): Promise<Session> {
  const s = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
  sessions.push(s);
  await s.listen();
  return s;
}

async function daemonAt(stateDir: string, downloadDir: string): Promise<{ running: RunningDaemon; rpc: Rpc }> {
  const peerPort = await freePort();
  const config = mergeConfig({ stateDir, downloadDir, portRange: [peerPort, peerPort], bind: '127.0.0.1', rpcPort: 0 });
  const running = await startDaemon(config, { log: () => undefined });
  daemons.push(running);
  return { running, rpc: rpcClient(running.server.port) };
}

const listRowOf = (r: { arguments: Record<string, unknown> }): Row | undefined => (r.arguments.torrents as Row[])[0];

async function get(rpc: Rpc, id: number | string, fields: string[]): Promise<Row | undefined> {
  const r = await rpc('torrent-get', { ids: [id], fields });
  expect(r.result).toBe('success');
  return (r.arguments.torrents as Row[])[0];
}

const FETCHING_FIELDS = ['id', 'name', 'hashString', 'status', 'metadataPercentComplete', 'percentDone', 'sizeWhenDone', 'totalSize', 'leftUntilDone', 'files', 'eta', 'peersConnected'];

test('a magnet seeded by our session: torrent-added, one id from metadata to complete, byte-identical files, duplicates, a restart brings it back as a torrent', async () => {
  const dir = makeTempDir('daemon-magnet');
  const payload = await makePayload(join(dir, 'seed'), { name: 'mag-album', files: [{ path: 'a.bin', size: 700_001 }, { path: 'sub/b.bin', size: 300_000 }] });
  const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024, trackers: ['http://127.0.0.1:9/announce'] });
  const seeder = await loopbackSession();
  await seeder.add(torrent.bytes, { savePath: payload.saveDir });
  const stateDir = join(dir, 'state');
  const downloadDir = join(dir, 'dl');
  const { running, rpc } = await daemonAt(stateDir, downloadDir);
  const link = formatMagnet({ infoHash: torrent.infoHash, name: 'shown name', peers: [{ ip: '127.0.0.1', port: seeder.port }] });

  const added = await rpc('torrent-add', { filename: link });
  expect(added.result).toBe('success');
  const info = added.arguments['torrent-added'] as { id: number; name: string; hashString: string };
  expect(info).toEqual({ id: expect.any(Number), name: 'shown name', hashString: torrent.infoHash });
  // The same magnet again or its .torrent: the same id.
  expect((await rpc('torrent-add', { filename: link })).arguments['torrent-duplicate']).toMatchObject({ id: info.id, hashString: torrent.infoHash });
  expect((await rpc('torrent-add', { metainfo: Buffer.from(torrent.bytes).toString('base64') })).arguments['torrent-duplicate']).toMatchObject({ id: info.id });

  const done = await poll(
    async () => {
      const t = await get(rpc, info.id, ['id', 'name', 'percentDone', 'metadataPercentComplete', 'totalSize', 'status', 'files']);
      return t && t.percentDone === 1 && t.status === 6 ? t : undefined;
    },
    20_000,
    () => 'the magnet to complete',
    100,
  );
  expect(done).toMatchObject({ id: info.id, name: 'mag-album', metadataPercentComplete: 1, totalSize: 1_000_001, status: 6 });
  expect((done.files as { name: string }[]).map((f) => f.name)).toEqual(['mag-album/a.bin', 'mag-album/sub/b.bin']);
  expect((await rpc('torrent-get', { fields: ['id'] })).arguments.torrents).toEqual([{ id: info.id }]);
  for (const f of ['a.bin', 'sub/b.bin']) {
    expect(readFileSync(join(downloadDir, 'mag-album', f)).equals(readFileSync(join(payload.saveDir, 'mag-album', f)))).toBe(true);
  }
  // The .torrent is in the state directory (the info dict byte for byte); the record no longer needs the link.
  const saved = parseTorrent(readFileSync(join(stateDir, 'torrents', `${torrent.infoHash}.torrent`)));
  expect(Buffer.from(saved.infoBytes).equals(Buffer.from(torrent.metainfo.infoBytes))).toBe(true);
  const record = JSON.parse(readFileSync(join(stateDir, 'torrents', `${torrent.infoHash}.json`), 'utf8')) as Row;
  expect(record).toMatchObject({ name: 'mag-album' });
  expect(record.priorities).toBeUndefined(); // every file normal: not written
  expect(record.magnet).toBeUndefined();
  // A magnet of a torrent already here (upper-case hex this time) is a duplicate too.
  expect((await rpc('torrent-add', { filename: link.replace(torrent.infoHash, torrent.infoHash.toUpperCase()) })).arguments['torrent-duplicate']).toMatchObject({ id: info.id });

  // Restart: a normal torrent from the stored .torrent, its data taken as verified.
  await running.stop();
  const again = await daemonAt(stateDir, downloadDir);
  const back = await poll(
    async () => {
      const t = await get(again.rpc, torrent.infoHash, ['name', 'percentDone', 'metadataPercentComplete', 'totalSize', 'status']);
      return t && t.status === 6 ? t : undefined;
    },
    10_000,
    () => 'the torrent to be back and seeding',
    100,
  );
  expect(back).toEqual({ name: 'mag-album', percentDone: 1, metadataPercentComplete: 1, totalSize: 1_000_001, status: 6 });
});

test('while fetching metadata: listed with zero sizes and its peer count; stop cancels, start resumes, a restart re-adds it, remove closes every connection', async () => {
  const dir = makeTempDir('daemon-magnet-wait');
  // Another client fetching the same magnet: it connects, but has no metadata to give.
  const other = await loopbackSession();
  const hash = 'c0ffee'.padEnd(40, '7');
  const otherFetch: MagnetDownload = other.addMagnet(formatMagnet({ infoHash: hash }), { savePath: join(dir, 'other') });
  const link = formatMagnet({ infoHash: hash, name: 'wanted thing', trackers: ['http://127.0.0.1:9/announce'], peers: [{ ip: '127.0.0.1', port: other.port }] });
  const stateDir = join(dir, 'state');
  const first = await daemonAt(stateDir, join(dir, 'dl'));
  let rpc = first.rpc;
  const bad = await rpc('torrent-add', { filename: link, 'files-unwanted': [0] });
  expect(bad.result).toMatch(/no file list yet/);
  expect((await rpc('torrent-add', { filename: 'magnet:?dn=nohash' })).result).toMatch(/invalid magnet link/);
  const info = (await rpc('torrent-add', { filename: link })).arguments['torrent-added'] as { id: number };
  const connected = async (n: number): Promise<Row> =>
    poll(
      async () => {
        const t = await get(rpc, info.id, FETCHING_FIELDS);
        return t && t.peersConnected === n && otherFetch.stats().peers === n ? t : undefined;
      },
      8_000,
      () => `${n} connection(s) between the daemon and the other client (it sees ${otherFetch.stats().peers})`,
      50,
    );
  const fetching = { id: info.id, name: 'wanted thing', hashString: hash, status: 4, metadataPercentComplete: 0, percentDone: 0, sizeWhenDone: 0, totalSize: 0, leftUntilDone: 0, files: [], eta: -2, peersConnected: 1 };
  expect(await connected(1)).toEqual(fetching);
  const all = await get(rpc, info.id, ['magnetLink', 'trackerStats', 'pieceCount', 'uploadRatio', 'isFinished']);
  expect(all).toMatchObject({ magnetLink: link, pieceCount: 0, uploadRatio: -1, isFinished: false });
  expect((all!.trackerStats as Row[]).map((t) => t.announce)).toEqual(['http://127.0.0.1:9/announce']);
  const record = (): Row => JSON.parse(readFileSync(join(stateDir, 'torrents', `${hash}.json`), 'utf8')) as Row;
  expect(record()).toMatchObject({ magnet: link, paused: false, name: 'wanted thing' });

  // peersFrom comes from the magnet's peer list: the x.pe peer (counted as a tracker's, as
  // Transmission has no source for it), and a third client fetching too that dials us.
  const from = (n: Partial<Record<string, number>>): Record<string, number> => ({ fromCache: 0, fromDht: 0, fromIncoming: 0, fromLpd: 0, fromLtep: 0, fromPex: 0, fromTracker: 0, ...n });
  expect((await get(rpc, info.id, ['peersFrom']))!.peersFrom).toEqual(from({ fromTracker: 1 }));
  const third = await loopbackSession();
  const thirdFetch = third.addMagnet(formatMagnet({ infoHash: hash, peers: [{ ip: '127.0.0.1', port: first.running.daemon.session.port }] }), { savePath: join(dir, 'third') });
  await poll(
    async () => JSON.stringify((await get(rpc, info.id, ['peersFrom']))!.peersFrom) === JSON.stringify(from({ fromTracker: 1, fromIncoming: 1 })),
    8_000,
    () => 'the third client to be counted as incoming',
    50,
  );
  await thirdFetch.cancel();
  await poll(async () => (await get(rpc, info.id, ['peersConnected']))!.peersConnected === 1, 8_000, () => 'the third client gone', 50);

  // Stop cancels the fetch (its connection goes); start fetches again.
  expect((await rpc('torrent-stop', { ids: [info.id] })).result).toBe('success');
  expect(await connected(0)).toMatchObject({ status: 0, eta: -2, peersConnected: 0 });
  expect(listRowOf(await rpc('torrent-get', { fields: ['id', 'eta', 'leftUntilDone', 'sizeWhenDone'] }))).toEqual({ id: info.id, eta: -2, leftUntilDone: 0, sizeWhenDone: 0 });
  expect(record().paused).toBe(true);
  expect((await rpc('torrent-verify', { ids: [info.id] })).result).toBe('success');
  expect((await rpc('torrent-set', { ids: [info.id], 'files-wanted': [0] })).result).toMatch(/out of range|no file list/);
  expect((await rpc('torrent-set', { ids: [info.id], downloadLimited: true, downloadLimit: 50 })).result).toBe('success');
  expect((await rpc('session-stats')).arguments).toMatchObject({ torrentCount: 1, pausedTorrentCount: 1, activeTorrentCount: 0 });
  await rpc('torrent-start', { ids: [hash] });
  expect(await connected(1)).toEqual(fetching);

  // A restart while fetching: the magnet comes back (same name and hash) and fetches again.
  await first.running.stop();
  expect(existsSync(join(stateDir, 'torrents', `${hash}.torrent`))).toBe(false);
  const second = await daemonAt(stateDir, join(dir, 'dl'));
  rpc = second.rpc;
  expect(await connected(1)).toEqual(fetching);
  expect(await get(rpc, info.id, ['downloadLimited', 'downloadLimit'])).toEqual({ downloadLimited: true, downloadLimit: 50 });

  // Remove: the connection closes and stays closed; the state is gone.
  expect((await rpc('torrent-remove', { ids: [info.id], 'delete-local-data': true })).result).toBe('success');
  await poll(() => otherFetch.stats().peers === 0, 5_000, () => 'the connection to close', 20);
  expect(await get(rpc, info.id, ['id'])).toBeUndefined();
  expect(second.running.daemon.session.magnets).toEqual([]);
  expect(existsSync(join(stateDir, 'torrents', `${hash}.json`))).toBe(false);
  expect((await rpc('torrent-get', { ids: 'recently-active', fields: ['id'] })).arguments.removed).toEqual([info.id]);
  await new Promise((r) => setTimeout(r, 300));
  expect(otherFetch.stats().peers).toBe(0);
});

test('a magnet added while the download queue is full waits (status 3), then fetches its metadata and downloads when a slot frees', async () => {
  const dir = makeTempDir('daemon-magnet-queue');
  const payload = await makePayload(join(dir, 'seed'), { name: 'queued-mag.bin', size: 400_000 });
  const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024 });
  const seeder = await loopbackSession();
  await seeder.add(torrent.bytes, { savePath: payload.saveDir });
  // A torrent nobody seeds holds the one download slot.
  const lonely = await makePayload(join(dir, 'nobody'), { name: 'nobody.bin', size: 100_000 });
  const held = makeTorrent(lonely.path, { pieceLength: 32 * 1024 });
  const { rpc } = await daemonAt(join(dir, 'state'), join(dir, 'dl'));
  expect((await rpc('session-set', { 'download-queue-enabled': true, 'download-queue-size': 1 })).result).toBe('success');
  const first = await rpc('torrent-add', { metainfo: Buffer.from(held.bytes).toString('base64') });
  const heldId = (first.arguments['torrent-added'] as { id: number }).id;
  await poll(async () => ((await get(rpc, heldId, ['status']))?.status === 4 ? true : undefined), 10_000, () => 'the first torrent downloads');

  const link = formatMagnet({ infoHash: torrent.infoHash, name: 'waits', peers: [{ ip: '127.0.0.1', port: seeder.port }] });
  const added = await rpc('torrent-add', { filename: link });
  const id = (added.arguments['torrent-added'] as { id: number }).id;
  // Queued: download-wait, and no fetch (no peer, no metadata).
  expect(await get(rpc, id, ['status', 'metadataPercentComplete', 'peersConnected'])).toEqual({ status: 3, metadataPercentComplete: 0, peersConnected: 0 });
  expect((await rpc('torrent-start', { ids: [id] })).result).toBe('success');
  expect((await get(rpc, id, ['status']))?.status).toBe(3);

  // The slot frees: the magnet fetches its metadata, becomes the torrent and downloads it all.
  expect((await rpc('torrent-stop', { ids: [heldId] })).result).toBe('success');
  const done = await poll(
    async () => {
      const row = await get(rpc, id, ['status', 'percentDone', 'metadataPercentComplete', 'name']);
      return row?.percentDone === 1 ? row : undefined;
    },
    20_000,
    () => 'the queued magnet to download',
  );
  expect(done).toEqual({ status: 6, percentDone: 1, metadataPercentComplete: 1, name: 'queued-mag.bin' });
  expect(readFileSync(join(dir, 'dl', 'queued-mag.bin')).equals(readFileSync(payload.path))).toBe(true);
});
