// How real clients name our peer id: the prefix must not be another client's registered code.
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, poll, removeTempDir, startLibtorrent, startTransmission } from '@mainline/interop';
import { PEER_ID_PREFIX, Session, VERSION, clientName, makePeerId, peerIdPrefix } from './index.js';

test('the peer id prefix follows the package version, one character per part', () => {
  expect(peerIdPrefix('0.1.0')).toBe('-MN0100-');
  expect(peerIdPrefix('1.12.3')).toBe('-MN1C30-');
  expect(peerIdPrefix('2.0.0-next.1')).toBe('-MN2000-');
  expect(() => peerIdPrefix('36.0.0')).toThrow(RangeError);
  expect(() => peerIdPrefix('latest')).toThrow(RangeError);
  expect(PEER_ID_PREFIX).toBe(peerIdPrefix(VERSION));
});

test('our peer id prefix is -MN…-: not ML, which BEP 20, libtorrent and Transmission give to MLDonkey', () => {
  expect(PEER_ID_PREFIX).toMatch(/^-MN[0-9A-Z]{3}0-$/);
  const id = makePeerId();
  expect(Buffer.from(id.subarray(0, 8)).toString('latin1')).toBe(PEER_ID_PREFIX);
  expect(clientName(id)).toBe('mainline-ts 0.1.0.0');
  expect(clientName(Buffer.from('-ML2.7.2-kgjjfkdabcd'))).toBe('-ML2.7.2');
  expect(clientName(Buffer.from('-ML0100-abcdefghijkl'))).toBe('MLDonkey 0.1.0.0');
  expect(clientName(Buffer.from('-LT2080-abcdefghijkl'))).toBe('libtorrent (Rasterbar) 2.0.8.0');
  expect(clientName(Buffer.from('A2-1-37-0-abcdefghij'))).toBe('A2-1-37');
  expect(clientName(undefined)).toBe('');
});

test('a real libtorrent names our peer id "MN 0.1.0" (it said "MLdonkey" for -ML0100-)', async () => {
  const dir = makeTempDir('ml-peer-id-');
  const payload = await makePayload(join(dir, 'seed'), { name: 'named.bin', size: 300_000 });
  const torrent = makeTorrent(payload.path, { pieceLength: 32768 });
  const lt = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: payload.saveDir, skipCheck: true, noTrackers: true });
  const session = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
  try {
    await session.listen();
    await session.add(torrent.bytes, { savePath: join(dir, 'out'), peers: [{ ip: '127.0.0.1', port: lt.port }], peerRedialMs: 1000 });
    // libtorrent's peer alerts name the peer from its peer id (identify_client): "client: MN 0.1.0".
    const seen = await lt.waitForEvent((e) => /client: (?!Unknown)/.test(e.message), 20_000);
    expect(/client: ([^\]]*?) \]/.exec(seen.message)?.[1]).toBe(`MN ${VERSION.split('-')[0]}`);
  } finally {
    await session.close();
    await lt.stop();
    removeTempDir(dir);
  }
}, 40_000);

test('a real Transmission names our peer id "-MN0100-" (it said "MLDonkey 0100-" for -ML0100-)', async () => {
  const dir = makeTempDir('ml-peer-id-tr-');
  const payload = await makePayload(join(dir, 'seed'), { name: 'named.bin', size: 4_000_000 });
  const torrent = makeTorrent(payload.path, { pieceLength: 65536 });
  const tr = await startTransmission({ torrentPath: torrent.path, dir: join(dir, 'tr'), seed: false });
  const session = new Session({ portRange: [0, 0], bind: '127.0.0.1', uploadLimit: 500_000 });
  try {
    await session.listen();
    // Transmission does not dial loopback peers: we dial it, as a seed.
    await session.add(torrent.bytes, { savePath: payload.saveDir, peers: [{ ip: '127.0.0.1', port: tr.port }], peerRedialMs: 1000 });
    const names = await poll(
      async () => {
        const got = (await tr.rpc('torrent-get', { ids: [1], fields: ['peers'] })) as { torrents?: { peers?: { clientName: string }[] }[] };
        const peers = got.torrents?.[0]?.peers ?? [];
        return peers.length > 0 ? peers.map((p) => p.clientName) : undefined;
      },
      20_000,
      () => 'Transmission to list us as a peer',
      200,
    );
    expect(names).toEqual([PEER_ID_PREFIX]);
  } finally {
    await session.close();
    await tr.stop();
    removeTempDir(dir);
  }
}, 40_000);
