import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent } from '@mainline/interop';
import { Session } from './index.js';

async function sha1(path: string): Promise<string> {
  return createHash('sha1').update(await readFile(path)).digest('hex');
}

function waitFor<T>(emitter: { once(e: string, f: (...a: unknown[]) => void): unknown }, event: string, ms = 30000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${event}`)), ms);
    emitter.once(event, (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args[0] as T);
    });
  });
}

describe('two sessions over loopback TCP', () => {
  const sessions: Session[] = [];
  afterEach(async () => {
    await Promise.all(sessions.splice(0).map((s) => s.close()));
  });

  test('a multi-file torrent goes from a seeding session to a downloading one, both verify', async () => {
    const dir = makeTempDir('ml-session-');
    const payload = await makePayload(join(dir, 'seed'), {
      name: 'album',
      files: [
        { path: 'a.bin', size: 3 * 1024 * 1024 + 123 },
        { path: 'empty.txt', size: 0 },
        { path: 'sub/b.bin', size: 700_001 },
        { path: 'sub/c.bin', size: 5 * 1024 * 1024 },
      ],
    });
    const torrent = makeTorrent(payload.path, { pieceLength: 64 * 1024 });

    const seeder = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
    const leecher = new Session({ portRange: [0, 0], bind: '127.0.0.1', stateDir: join(dir, 'state') });
    sessions.push(seeder, leecher);
    const seedPort = await seeder.listen();
    await leecher.listen();

    const seeding = await seeder.add(torrent.bytes, { savePath: payload.saveDir });
    expect(seeding.stats().error).toBeUndefined();
    expect(seeding.state).toBe('seeding');
    expect(seeding.stats().progress).toBe(1);

    const out = join(dir, 'out');
    const downloading = await leecher.add(torrent.bytes, { savePath: out, peers: [{ ip: '127.0.0.1', port: seedPort }] });
    if (downloading.state !== 'seeding') await waitFor(downloading, 'done');

    const stats = downloading.stats();
    expect(stats.progress).toBe(1);
    expect(stats.left).toBe(0);
    expect(stats.downloaded).toBeGreaterThanOrEqual(payload.totalSize);
    expect(stats.hashFails).toBe(0);
    for (const f of payload.files) {
      expect(await sha1(join(out, 'album', f.relativePath))).toBe(await sha1(f.path));
    }
    expect(seeding.stats().uploaded).toBeGreaterThanOrEqual(payload.totalSize);

    // A second run resumes from the record without downloading or rechecking anything.
    await leecher.remove(torrent.infoHash);
    const again = await leecher.add(torrent.bytes, { savePath: out });
    expect(again.state).toBe('seeding');
    expect(again.stats().downloaded).toBe(stats.downloaded);
  });
});
