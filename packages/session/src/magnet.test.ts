// Magnet links end to end between two sessions on loopback: metadata by BEP 9 from a seeding
// session, then the download; and cancelling a magnet that cannot find anyone.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { encode } from '@mainline/bencode';
import { makePayload, makeTempDir, makeTorrent, removeTempDir } from '@mainline/interop';
import { formatMagnet, parseTorrent } from '@mainline/metainfo';
import { ManualClock } from '@mainline/rate';
import { Session, type MagnetState, type Torrent } from './index.js';
import { until } from './test-helpers.js';

async function sha1(path: string): Promise<string> {
  return createHash('sha1').update(await readFile(path)).digest('hex');
}

function whenDone(t: Torrent, ms = 30_000): Promise<void> {
  if (t.state === 'seeding') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out: ${JSON.stringify(t.stats())}`)), ms);
    t.once('done', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}


const sessions: Session[] = [];
let dir: string;
beforeAll(() => {
  dir = makeTempDir('ml-magnet-');
});
afterAll(() => removeTempDir(dir));
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
});

function session(options: ConstructorParameters<typeof Session>[0] = {}): Session {
  const s = new Session({ portRange: [0, 0], bind: '127.0.0.1', ...options });
  sessions.push(s);
  return s;
}

test('magnet → metadata from a seeding session → complete, verified download; the .torrent is saved and reused', async () => {
  const payload = await makePayload(join(dir, 'seed'), {
    name: 'album',
    files: [
      { path: 'a.bin', size: 1024 * 1024 + 77 },
      { path: 'first.bin', size: 200_000 },
      { path: 'sub/b.bin', size: 700_001 },
    ],
  });
  const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024 });
  const seeder = session();
  const seedPort = await seeder.listen();
  await seeder.add(torrent.bytes, { savePath: payload.saveDir });

  const stateDir = join(dir, 'state');
  const leecher = session({ stateDir });
  await leecher.listen();
  const out = join(dir, 'out');
  const link = formatMagnet({ infoHash: torrent.infoHash, name: 'shown name', peers: [{ ip: '127.0.0.1', port: seedPort }] });
  const states: MagnetState[] = [];
  const download = leecher.addMagnet(link, {
    savePath: out,
    withMetadata: (meta) => ({ filePriorities: meta.files.map((f) => (f.path.includes('first.bin') ? 'high' : 'normal')) }),
  });
  download.on('state', (s) => states.push(s));
  expect(download.stats()).toMatchObject({ name: 'shown name', state: 'fetching-metadata' });
  expect(leecher.magnets).toEqual([download]);
  const metadata = new Promise((resolve) => download.once('metadata', resolve));

  const t = await download.torrent;
  await metadata;
  expect(states).toEqual(['adding', 'added']);
  expect(download.stats().name).toBe('album');
  expect(leecher.magnets).toEqual([]);
  expect(leecher.get(torrent.infoHash)).toBe(t);
  expect(t.filePriorities).toEqual(['normal', 'high', 'normal']);
  await whenDone(t);
  expect(t.stats().hashFails).toBe(0);
  for (const f of payload.files) {
    expect(await sha1(join(out, 'album', f.relativePath))).toBe(await sha1(f.path));
  }
  // The .torrent next to the resume data: same info-hash, parses on its own.
  const saved = parseTorrent(await readFile(join(stateDir, `${torrent.infoHash}.torrent`)));
  expect(saved.infoHash).toBe(torrent.infoHash);

  // Again, with the seeder gone: the saved .torrent and resume record make it complete at once.
  await seeder.close();
  await leecher.remove(torrent.infoHash);
  const again = leecher.addMagnet(link, { savePath: out, });
  const t2 = await again.torrent;
  expect(t2.stats().progress).toBe(1);
  expect(again.stats().piecesReceived).toBe(0);
});

test('a dead tracker and no peers: keeps trying with a clear status; remove() cancels and leaves no socket or timer', async () => {
  const clock = new ManualClock(0);
  const s = session({ clock, stateDir: join(dir, 'state-dead') });
  await s.listen();
  const baseline = clock.pendingTimers;
  const hash = 'ab'.repeat(20);
  const download = s.addMagnet(formatMagnet({ infoHash: hash, name: 'lost', trackers: ['http://127.0.0.1:1/announce'] }), { savePath: join(dir, 'never') });
  const errors: string[] = [];
  download.on('tracker-error', (m) => errors.push(m));
  await until(() => errors.length > 0, 'the tracker error');
  expect(download.stats()).toMatchObject({ state: 'fetching-metadata', name: 'lost', peers: 0 });
  expect(download.stats().trackerError).toMatch(/ECONNREFUSED|refused|connect/i);
  expect(() => s.addMagnet(`magnet:?xt=urn:btih:${hash}`, { savePath: dir })).toThrow(/already in the session/);
  expect(s.hub.hasTorrent(Buffer.from(hash, 'hex'))).toBe(true);

  await s.remove(hash);
  expect(download.state).toBe('cancelled');
  await expect(download.torrent).rejects.toThrow();
  expect(s.magnets).toEqual([]);
  expect(s.hub.hasTorrent(Buffer.from(hash, 'hex'))).toBe(false);
  expect(s.hub.connectionCount).toBe(0);
  expect(clock.pendingTimers).toBe(baseline);
  expect(existsSync(join(dir, 'state-dead', `${hash}.torrent`))).toBe(false);
});

test('session.close() during a metadata fetch cancels it', async () => {
  const s = session();
  await s.listen();
  const download = s.addMagnet(`magnet:?xt=urn:btih:${'cd'.repeat(20)}&x.pe=127.0.0.1:1`, { savePath: dir });
  await s.close();
  expect(download.state).toBe('cancelled');
  await expect(download.torrent).rejects.toThrow();
});

test('a magnet link\'s x.pe peers go through the same address filter: 0.0.0.0, port 80 and ourselves are not dialled', async () => {
  const leecher = session();
  const port = await leecher.listen();
  const dialled: string[] = [];
  const connect = leecher.hub.connect.bind(leecher.hub);
  leecher.hub.connect = (hash, host, p, options) => {
    dialled.push(`${host}:${p}`);
    return connect(hash, host, p, options);
  };
  const probe = session();
  const closed = await probe.listen();
  await probe.close();
  const peers = [
    { ip: '0.0.0.0', port: 6881 },
    { ip: '127.0.0.1', port: 80 },
    { ip: '127.0.0.1', port },
    { ip: '224.0.0.1', port: 6881 },
    { ip: '127.0.0.1', port: closed },
  ];
  const download = leecher.addMagnet(formatMagnet({ infoHash: 'ab'.repeat(20), peers }), { savePath: join(dir, 'filtered') });
  await until(() => dialled.length > 0, 'the one dialable peer dialled');
  expect(dialled).toEqual([`127.0.0.1:${closed}`]);
  await download.cancel();
});

test('the metadata connection carries on into the download: no redial, no close; tracker peers reach the peer list', async () => {
  const payload = await makePayload(join(dir, 'seed-handoff'), { name: 'handoff.bin', size: 1024 * 1024 + 5 });
  const seeder = session();
  const seedPort = await seeder.listen();
  // A tracker that knows the seeder and one peer that is gone.
  const gone = session();
  const gonePort = await gone.listen();
  await gone.close();
  const peers = Buffer.alloc(12);
  [seedPort, gonePort].forEach((port, i) => {
    peers.set([127, 0, 0, 1], i * 6);
    peers.writeUInt16BE(port, i * 6 + 4);
  });
  const tracker = createServer((_req, res) => res.end(encode({ interval: 1800, peers })));
  await new Promise<void>((r) => tracker.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(tracker.address() as AddressInfo).port}/announce`;
  try {
    const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024, trackers: [url] });
    const seeding = await seeder.add(torrent.bytes, { savePath: payload.saveDir, noTrackers: true });
    const seederSaw: string[] = [];
    seeding.on('peer-connected', (a) => seederSaw.push(`connected ${a}`));
    seeding.on('peer-dropped', (a) => seederSaw.push(`dropped ${a}`));

    const leecher = session();
    await leecher.listen();
    const dialled: string[] = [];
    const connect = leecher.hub.connect.bind(leecher.hub);
    leecher.hub.connect = (hash, host, p, options) => {
      dialled.push(`${host}:${p}`);
      return connect(hash, host, p, options);
    };
    const download = leecher.addMagnet(formatMagnet({ infoHash: torrent.infoHash, trackers: [url] }), { savePath: join(dir, 'out-handoff') });
    let atMetadata: string[] = [];
    download.once('metadata', () => (atMetadata = [...dialled]));
    const t = await download.torrent;
    let atFirstPiece: string[] | undefined;
    t.once('piece', () => (atFirstPiece = [...dialled]));
    await whenDone(t);
    expect(atMetadata.filter((d) => d === `127.0.0.1:${seedPort}`)).toHaveLength(1);
    // No dial of the seeder after the metadata, up to the first piece and to the end.
    expect(atFirstPiece?.filter((d) => d === `127.0.0.1:${seedPort}`)).toHaveLength(1);
    expect(dialled.filter((d) => d === `127.0.0.1:${seedPort}`)).toHaveLength(1);
    // The seeder saw one connection, open until the leecher finished.
    await until(() => seederSaw.length === 2, 'the seeder to see the close after completion');
    expect(seederSaw.map((s) => s.split(' ')[0])).toEqual(['connected', 'dropped']);
    // Both tracker peers are in the torrent's peer list, from the tracker.
    expect(t.peerList.has('127.0.0.1', seedPort)).toBe(true);
    expect(t.peerList.has('127.0.0.1', gonePort)).toBe(true);
    expect(t.peerList.counts().known.tracker).toBeGreaterThanOrEqual(2);
    expect(await sha1(join(dir, 'out-handoff', 'handoff.bin'))).toBe(await sha1(payload.path));
  } finally {
    tracker.closeAllConnections();
    await new Promise<void>((r) => tracker.close(() => r()));
  }
});
