import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { decode, isDict } from '@mainline/bencode';
import { InteropError, freePort, makePayload, makeTempDir, makeTorrent, removeTempDir, startStaticTracker } from './index.js';
import { runSync } from './proc.js';

let dir: string;
beforeAll(() => {
  dir = makeTempDir('payload-test');
});
afterAll(() => removeTempDir(dir));

test('freePort gives a port that can be bound on 127.0.0.1', async () => {
  const port = await freePort();
  expect(port).toBeGreaterThan(1023);
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('makePayload writes deterministic single-file data with distinct pieces', async () => {
  const a = await makePayload(join(dir, 'a'), { name: 'one.bin', size: 3 * 1024 * 1024 + 17 });
  const b = await makePayload(join(dir, 'b'), { name: 'one.bin', size: 3 * 1024 * 1024 + 17 });
  const c = await makePayload(join(dir, 'c'), { name: 'one.bin', size: 3 * 1024 * 1024 + 17, seed: 'other' });
  expect(a.multiFile).toBe(false);
  expect(a.path).toBe(join(dir, 'a', 'one.bin'));
  expect(a.totalSize).toBe(3 * 1024 * 1024 + 17);
  expect(statSync(a.path).size).toBe(a.totalSize);
  const bytesA = readFileSync(a.path);
  expect(bytesA.equals(readFileSync(b.path))).toBe(true);
  expect(bytesA.equals(readFileSync(c.path))).toBe(false);
  // every 16 KiB block differs from every other: no repeated pieces at any piece length
  const seen = new Set<string>();
  for (let off = 0; off + 16384 <= bytesA.length; off += 16384) {
    seen.add(createHash('sha1').update(bytesA.subarray(off, off + 16384)).digest('hex'));
  }
  expect(seen.size).toBe(Math.floor(bytesA.length / 16384));
});

test('makePayload writes multi-file payloads, including empty files and subdirectories', async () => {
  const p = await makePayload(join(dir, 'm'), {
    name: 'multi',
    files: [
      { path: 'a.bin', size: 100000 },
      { path: 'sub/b.bin', size: 0 },
      { path: 'sub/deeper/c.bin', size: 70000 },
    ],
  });
  expect(p.multiFile).toBe(true);
  expect(p.totalSize).toBe(170000);
  expect(p.files.map((f) => f.relativePath)).toEqual(['a.bin', 'sub/b.bin', 'sub/deeper/c.bin']);
  expect(statSync(join(dir, 'm', 'multi', 'sub', 'deeper', 'c.bin')).size).toBe(70000);
  expect(statSync(join(dir, 'm', 'multi', 'sub', 'b.bin')).size).toBe(0);
  // two files of one payload never share content
  expect(readFileSync(p.files[0]!.path).subarray(0, 70000).equals(readFileSync(p.files[2]!.path))).toBe(false);
});

test('makePayload refuses paths that escape the payload and bad sizes', async () => {
  await expect(makePayload(dir, { name: '../x', size: 1 })).rejects.toThrow(InteropError);
  await expect(makePayload(dir, { name: 'm2', files: [{ path: 'a/../../b', size: 1 }] })).rejects.toThrow(/bad payload path/);
  await expect(makePayload(dir, { name: 'm3', files: [{ path: 'a', size: -1 }] })).rejects.toThrow(/bad size/);
  await expect(makePayload(dir, { name: 'm4', files: [] })).rejects.toThrow(/at least one file/);
});

test('makeTorrent uses mktorrent and agrees with transmission-show on the info-hash', async () => {
  const p = await makePayload(join(dir, 't'), {
    name: 'tor',
    files: [
      { path: 'x.bin', size: 300000 },
      { path: 'y/z.bin', size: 5000 },
    ],
  });
  const t = makeTorrent(p.path, { pieceLength: 32768, trackers: ['http://127.0.0.1:1/announce', ['udp://127.0.0.1:2', 'http://127.0.0.1:3/a']], private: true });
  expect(t.path).toBe(`${p.path}.torrent`);
  expect(t.infoHash).toMatch(/^[0-9a-f]{40}$/);
  const shown = runSync('transmission-show', [t.path]);
  expect(shown).toContain(`Hash: ${t.infoHash}`);
  expect(t.metainfo.pieceLength).toBe(32768);
  expect(t.metainfo.pieceCount).toBe(Math.ceil(305000 / 32768));
  expect(t.metainfo.private).toBe(true);
  expect(t.metainfo.announceList).toEqual([['http://127.0.0.1:1/announce'], ['udp://127.0.0.1:2', 'http://127.0.0.1:3/a']]);
  expect(t.metainfo.files.map((f) => f.length)).toEqual([300000, 5000]);
  // a trackerless torrent has no announce key
  const bare = makeTorrent(p.path, { outPath: join(dir, 'bare.torrent') });
  const top = decode(readFileSync(bare.path));
  expect(isDict(top) && top.get('announce')).toBeFalsy();
  expect(() => makeTorrent(p.path, { pieceLength: 50000 })).toThrow(/power of two/);
  expect(() => makeTorrent(join(dir, 'missing'), {})).toThrow(InteropError);
});

test('startStaticTracker answers every announce with the given compact peers', async () => {
  const tracker = await startStaticTracker({ peers: [['127.0.0.1', 6881], ['10.1.2.3', 51413]], interval: 5 });
  try {
    const res = await fetch(`${tracker.announceUrl}?info_hash=x&port=1`);
    const body = decode(new Uint8Array(await res.arrayBuffer()));
    if (!isDict(body)) throw new Error('not a dict');
    expect(body.get('interval')).toBe(5);
    expect(Buffer.from(body.get('peers') as Uint8Array).toString('hex')).toBe('7f0000011ae1' + '0a010203c8d5');
    expect(tracker.announces).toBe(1);
  } finally {
    await tracker.stop();
  }
  await expect(startStaticTracker({ peers: [['localhost', 1]] })).rejects.toThrow(/IPv4/);
});
