// Scenario g: a torrent whose pieces are 128 MiB (two of them, the second short), downloaded by
// our Session from a libtorrent seeder. Blocks at or past 64 MiB into a piece used to have no
// request key: their answers were dropped as unrequested and the first piece never completed.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, makeTorrent, removeTempDir, startLibtorrent, type LibtorrentHandle, type Payload } from '@mainline/interop';
import type { Session } from '@mainline/session';
import { MiB, digests, loopbackSession, whenComplete } from './helpers.js';

/**
 * A sparse file of `size` bytes with a random 16 KiB stamp at every MiB: little disk for the seed,
 * and a block written at the wrong place changes a piece hash.
 */
async function sparsePayload(dir: string, name: string, size: number): Promise<Payload> {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  const fh = await open(path, 'w');
  try {
    await fh.truncate(size);
    for (let at = 0; at + 16_384 <= size; at += MiB) await fh.write(randomBytes(16_384), 0, 16_384, at);
    await fh.write(randomBytes(1000), 0, 1000, size - 1000); // the short last block of the last piece
  } finally {
    await fh.close();
  }
  return { path, saveDir: dir, name, files: [{ path, relativePath: name, size }], totalSize: size, multiFile: false };
}

describe('pieces over 64 MiB', () => {
  let dir: string;
  const cleanup: (() => Promise<unknown>)[] = [];

  afterAll(async () => {
    for (const stop of cleanup.splice(0).reverse()) await stop().catch(() => undefined);
    if (dir) removeTempDir(dir);
  });

  test('our Session downloads a torrent of 128 MiB pieces from a libtorrent seeder', async () => {
    dir = makeTempDir('it-huge-piece');
    const payload = await sparsePayload(join(dir, 'seed'), 'huge.bin', 130 * MiB + 4321);
    const torrent = makeTorrent(payload.path, { pieceLength: 128 * MiB });
    expect(torrent.metainfo.pieceCount).toBe(2);

    const seeder: LibtorrentHandle = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: payload.saveDir, noTrackers: true });
    cleanup.push(() => seeder.stop());
    await seeder.waitForComplete(60_000);
    const session: Session = await loopbackSession();
    cleanup.push(() => session.close());
    const out = join(dir, 'out');
    const started = Date.now();
    const leecher = await session.add(torrent.bytes, { savePath: out, peers: [{ ip: '127.0.0.1', port: seeder.port }] });
    await whenComplete(leecher, 120_000);
    const elapsed = Date.now() - started;

    const { expected, actual } = await digests(payload, out);
    expect(actual).toEqual(expected);
    const s = leecher.stats();
    expect(s.hashFails).toBe(0);
    expect(s.wasted).toBe(0); // no answer dropped as unrequested
    console.log(`g. Session <- libtorrent, 128 MiB pieces: ${payload.totalSize} bytes in ${elapsed} ms`);
  }, 180_000);
});
