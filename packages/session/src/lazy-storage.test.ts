// A seed that no peer has asked anything has opened storage but no descriptor pool, parts file or
// per-file tables (made at the first read or write). Every path that needs them must still work
// from there: serving a leecher byte-exact from its first request, a verify, a priority change, a
// removal with its data.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode } from '@mainline/bencode';
import { makeTempDir, removeTempDir } from '@mainline/interop';
import { Session } from './index.js';
import { smallTorrent, until } from './test-helpers.js';

const PIECE = 16 * 1024;

let dir: string;
beforeAll(() => {
  dir = makeTempDir('ml-lazy-storage-');
});
afterAll(() => removeTempDir(dir));

/** A three-file torrent whose pieces straddle the files, with its data written under `dataDir`. */
function multiFileTorrent(dataDir: string): { bytes: Uint8Array; files: Buffer[] } {
  const files = [randomBytes(20_000), randomBytes(30_000), randomBytes(10_000)];
  mkdirSync(join(dataDir, 'multi'), { recursive: true });
  files.forEach((f, i) => writeFileSync(join(dataDir, 'multi', `f${i}.bin`), f));
  const all = Buffer.concat(files);
  const hashes: Buffer[] = [];
  for (let at = 0; at < all.length; at += PIECE) hashes.push(createHash('sha1').update(all.subarray(at, at + PIECE)).digest());
  const info = { files: files.map((f, i) => ({ length: f.length, path: [`f${i}.bin`] })), name: 'multi', 'piece length': PIECE, pieces: Buffer.concat(hashes) };
  return { bytes: encode({ info }), files };
}

test('a seed whose storage was never read serves, verifies, changes priorities and deletes its data', async () => {
  const dataDir = join(dir, 'data');
  const stateDir = join(dir, 'state');
  mkdirSync(dataDir, { recursive: true });
  const multi = multiFileTorrent(dataDir);
  const served = smallTorrent(dataDir, 'lazy-storage', 1, 40_000);
  const removed = smallTorrent(dataDir, 'lazy-storage', 2, 20_000);
  let seeder = new Session({ portRange: [0, 0], bind: '127.0.0.1', stateDir });
  const leecher = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
  try {
    await seeder.listen();
    await leecher.listen();
    for (const bytes of [multi.bytes, served, removed]) await seeder.add(bytes, { savePath: dataDir });
    await until(() => seeder.torrents.every((t) => t.state === 'seeding'), 'all three to seed');
    // Added without a resume record they were hashed from disk. After a restart they come back
    // from their records: storage opened, never read.
    await seeder.close();
    seeder = new Session({ portRange: [0, 0], bind: '127.0.0.1', stateDir });
    const port = await seeder.listen();
    const [a, b, c] = [await seeder.add(multi.bytes, { savePath: dataDir }), await seeder.add(served, { savePath: dataDir }), await seeder.add(removed, { savePath: dataDir })];
    await until(() => seeder.torrents.every((t) => t.state === 'seeding'), 'all three to seed after the restart');
    for (const t of [a, b, c]) expect(t.store?.storage.peakOpenFiles).toBe(0);

    // A priority change: skipping a file and wanting it again keeps it a seed with every piece.
    await a.setFilePriorities(['normal', 'skip', 'normal']);
    expect(a.store?.storage.filePriorities()).toEqual(['normal', 'skip', 'normal']);
    expect(a.state).toBe('seeding');
    await a.setFilePriorities(['normal', 'normal', 'normal']);
    expect(a.stats().piecesHave).toBe(a.meta.pieceCount);
    expect(a.store?.storage.peakOpenFiles).toBe(0);
    // A verify reads every piece and finds them all.
    await a.recheck();
    await until(() => a.state === 'seeding', 'the verified torrent to seed');
    expect(a.stats().piecesHave).toBe(a.meta.pieceCount);

    // The first request a leecher makes reaches the unread storage: byte-exact download.
    const out = join(dir, 'out');
    const downloading = await leecher.add(served, { savePath: out, peers: [{ ip: '127.0.0.1', port }] });
    await until(() => downloading.state === 'seeding', 'the leecher to finish');
    expect(readFileSync(join(out, b.name)).equals(readFileSync(join(dataDir, b.name)))).toBe(true);
    expect(b.store!.storage.peakOpenFiles).toBeGreaterThan(0);

    // Removal with data of a torrent whose storage was never read: its file is gone.
    const path = join(dataDir, c.name);
    expect(existsSync(path)).toBe(true);
    const deleted = await seeder.remove(c.meta.infoHash, { deleteData: true });
    expect(deleted?.removed).toContain(path);
    expect(existsSync(path)).toBe(false);
  } finally {
    await leecher.close();
    await seeder.close();
  }
}, 120_000);
