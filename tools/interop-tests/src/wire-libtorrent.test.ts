// Scenario e: the peer wire against libtorrent with no tracker at all, both ways and with either
// side dialling: our Session downloads from a libtorrent seeder and seeds to a libtorrent leecher.
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, startLibtorrent, type LibtorrentHandle, type MadeTorrent, type Payload } from '@mainline/interop';
import type { Session } from '@mainline/session';
import { MiB, digests, loopbackSession, whenComplete } from './helpers.js';

type Dialler = 'libtorrent dials us' | 'we dial libtorrent';
const DIALLERS: Dialler[] = ['libtorrent dials us', 'we dial libtorrent'];

describe('peer wire with libtorrent, no tracker', () => {
  let dir: string;
  let payload: Payload;
  let torrent: MadeTorrent;
  const cleanup: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    dir = makeTempDir('it-wire');
    // Multi-file, odd sizes, a zero-length file and a last piece that is short.
    payload = await makePayload(join(dir, 'seed'), {
      name: 'bundle',
      files: [
        { path: 'one.bin', size: 3 * MiB + 1 },
        { path: 'empty.txt', size: 0 },
        { path: 'deep/two.bin', size: 2 * MiB + 65_535 },
        { path: 'deep/three.bin', size: 777_777 },
      ],
    });
    torrent = makeTorrent(payload.path, { pieceLength: 64 * 1024 });
  });

  afterEach(async () => {
    for (const stop of cleanup.splice(0).reverse()) await stop().catch(() => undefined);
  });

  test.each(DIALLERS)('our Session downloads from a libtorrent seeder (%s)', async (dialler) => {
    const session: Session = await loopbackSession();
    cleanup.push(() => session.close());
    const seeder: LibtorrentHandle = await startLibtorrent({
      mode: 'seed',
      torrentPath: torrent.path,
      savePath: payload.saveDir,
      noTrackers: true,
      ...(dialler === 'libtorrent dials us' ? { peers: [['127.0.0.1', session.port] as const] } : {}),
    });
    cleanup.push(() => seeder.stop());
    await seeder.waitForComplete(20_000);

    const out = join(dir, `down-${dialler.replace(/ /g, '-')}`);
    const started = Date.now();
    const leecher = await session.add(torrent.bytes, {
      savePath: out,
      ...(dialler === 'we dial libtorrent' ? { peers: [{ ip: '127.0.0.1', port: seeder.port }] } : {}),
    });
    await whenComplete(leecher, 30_000);
    const elapsed = Date.now() - started;

    const { expected, actual } = await digests(payload, out);
    expect(actual).toEqual(expected);
    const s = leecher.stats();
    expect(s.hashFails).toBe(0);
    expect(s.downloaded).toBeGreaterThanOrEqual(payload.totalSize);
    const connected = await seeder.waitForEvent((e) => e.name === 'peer_connect', 1_000);
    expect(connected.message).toMatch(dialler === 'libtorrent dials us' ? /outgoing/ : /incoming/);
    console.log(`e. Session <- libtorrent (${dialler}): ${payload.totalSize} bytes in ${elapsed} ms`);
  });

  test.each(DIALLERS)('our Session seeds to a libtorrent leecher (%s)', async (dialler) => {
    const session: Session = await loopbackSession();
    cleanup.push(() => session.close());
    const seed = await session.add(torrent.bytes, { savePath: payload.saveDir });
    expect(seed.stats().state).toBe('seeding');

    const out = join(dir, `up-${dialler.replace(/ /g, '-')}`);
    const started = Date.now();
    const leecher: LibtorrentHandle = await startLibtorrent({
      mode: 'leech',
      torrentPath: torrent.path,
      savePath: out,
      noTrackers: true,
      ...(dialler === 'libtorrent dials us' ? { peers: [['127.0.0.1', session.port] as const] } : {}),
    });
    cleanup.push(() => leecher.stop());
    if (dialler === 'we dial libtorrent') seed.addPeers([{ ip: '127.0.0.1', port: leecher.port }]);
    await leecher.waitForComplete(30_000);
    const elapsed = Date.now() - started;

    const { expected, actual } = await digests(payload, out);
    expect(actual).toEqual(expected);
    expect(seed.stats().uploaded).toBeGreaterThanOrEqual(payload.totalSize);
    expect(leecher.events.filter((e) => e.name === 'hash_failed')).toEqual([]);
    console.log(`e. Session -> libtorrent (${dialler}): ${payload.totalSize} bytes in ${elapsed} ms (libtorrent start to complete)`);
  });

  test('a libtorrent leecher with its default encryption setting (MSE first) still gets the data from us', async () => {
    const session: Session = await loopbackSession();
    cleanup.push(() => session.close());
    await session.add(torrent.bytes, { savePath: payload.saveDir });
    const out = join(dir, 'up-mse');
    const leecher = await startLibtorrent({
      mode: 'leech',
      torrentPath: torrent.path,
      savePath: out,
      noTrackers: true,
      encryption: 'enabled',
      peers: [['127.0.0.1', session.port]],
    });
    cleanup.push(() => leecher.stop());
    await leecher.waitForComplete(30_000);
    const { expected, actual } = await digests(payload, out);
    expect(actual).toEqual(expected);
  });
});
