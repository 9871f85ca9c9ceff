import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent } from '@mainline/interop';
import { formatMagnet, parseTorrent } from '@mainline/metainfo';
import type { MagnetStats } from '@mainline/session';
import { magnetStatusLine } from './magnet.js';
import { run, seedingSession, sha1 } from './test-cli.js';

test('the status line while fetching metadata names peers and pieces (tracker problems go in the notes under it)', () => {
  const s: MagnetStats = {
    infoHash: 'ab'.repeat(20),
    name: 'x',
    state: 'fetching-metadata',
    peers: 0,
    metadataPeers: 0,
    piecesReceived: 0,
    pieceCount: undefined,
    trackerPeers: 0,
    trackerError: 'connection refused',
    trackers: [],
    nextAnnounceIn: undefined,
    error: undefined,
  };
  expect(magnetStatusLine(s)).toBe('fetching metadata: 0 peers (0 with metadata)');
  expect(magnetStatusLine({ ...s, peers: 1, metadataPeers: 1 })).toBe('fetching metadata: 1 peer (1 with metadata)');
  expect(magnetStatusLine({ ...s, peers: 3, metadataPeers: 2, piecesReceived: 1, pieceCount: 2 })).toBe('fetching metadata: 3 peers (2 with metadata, 1/2 pieces)');
  expect(magnetStatusLine(s, 1)).toBe('fetching metadata: 0 peers (0 with metadata) DHT 1 node');
});

test('download <magnet> --peer fetches the metadata from a seeding session, downloads and saves the .torrent', async () => {
  const dir = makeTempDir('ml-cli-magnet-');
  const payload = await makePayload(join(dir, 'seed'), { name: 'clip.bin', size: 3 * 1024 * 1024 + 9 });
  const t = makeTorrent(payload.path, { pieceLength: 65536 });
  const { seeder, port } = await seedingSession(t, payload.saveDir);
  try {
    const out = join(dir, 'out');
    const saved = join(dir, 'clip.torrent');
    const link = formatMagnet({ infoHash: t.infoHash, name: 'clip' });
    const r = await run(['download', link, '-o', out, '--peer', `127.0.0.1:${port}`, '--save-torrent', saved, '--no-lsd', '--minport', '0', '--maxport', '0', '--state-dir', join(dir, 'state')]);
    expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stderr).toContain('fetching metadata: ');
    expect(r.stderr).toContain('metadata: clip.bin');
    expect(r.stderr).toContain('all pieces verified');
    expect(await sha1(join(out, 'clip.bin'))).toBe(await sha1(payload.path));
    expect(parseTorrent(await readFile(saved)).infoHash).toBe(t.infoHash);
  } finally {
    await seeder.close();
  }
});

test('Ctrl-C while no peer has the metadata exits 130', async () => {
  const dir = makeTempDir('ml-cli-magnet-int-');
  const link = `magnet:?xt=urn:btih:${'ef'.repeat(20)}&tr=${encodeURIComponent('http://127.0.0.1:1/announce')}`;
  const r = await run(['download', link, '-o', join(dir, 'out'), '--no-lsd', '--minport', '0', '--maxport', '0', '--state-dir', join(dir, 'state')], { signalAfterMs: 1500 });
  expect(r.code).toBe(130);
  expect(r.stderr).toContain('fetching metadata: 0 peers');
  expect(r.stderr).toContain('interrupted (SIGINT) while fetching metadata');
});
