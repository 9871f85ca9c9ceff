import { ReadCache } from './read-cache.js';

function source(pieceLength: number, pieces: number) {
  const data = Buffer.alloc(pieceLength * pieces);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 8)) & 0xff;
  const reads: [number, number, number][] = [];
  const read = async (piece: number, begin: number, length: number): Promise<Buffer> => {
    reads.push([piece, begin, length]);
    if (begin < 0 || begin + length > pieceLength) throw new RangeError('out of piece');
    return Buffer.from(data.subarray(piece * pieceLength + begin, piece * pieceLength + begin + length));
  };
  return { data, reads, read };
}

describe('ReadCache', () => {
  test('serves the blocks of a window from one read, with the right bytes', async () => {
    const s = source(1 << 20, 2);
    const cache = new ReadCache(s.read, () => 1 << 20);
    for (let b = 0; b < 16; b++) {
      const got = await cache.get(1, b * 16384, 16384);
      expect(Buffer.from(got).equals(s.data.subarray((1 << 20) + b * 16384, (1 << 20) + (b + 1) * 16384))).toBe(true);
    }
    expect(s.reads).toEqual([[1, 0, 262144]]);
  });

  test('a short last piece reads a short window; a block across windows is read alone', async () => {
    const s = source(300_000, 1);
    const cache = new ReadCache(s.read, () => 300_000);
    await cache.get(0, 262144, 16384);
    expect(s.reads).toEqual([[0, 262144, 300_000 - 262144]]);
    await cache.get(0, 260_000, 10_000);
    expect(s.reads[1]).toEqual([0, 260_000, 10_000]);
  });

  test('keeps at most maxWindows, least recently used out first', async () => {
    const s = source(65536, 10);
    const cache = new ReadCache(s.read, () => 65536, 65536, 3);
    for (const p of [0, 1, 2, 0, 3]) await cache.get(p, 0, 16384);
    expect(cache.size).toBe(3);
    await cache.get(0, 16384, 16384); // still cached (used recently)
    await cache.get(1, 0, 16384); // evicted: read again
    expect(s.reads.map((r) => r[0])).toEqual([0, 1, 2, 3, 1]);
  });

  test('a failed read is not cached', async () => {
    let fail = true;
    const cache = new ReadCache(async () => {
      if (fail) throw new Error('EIO');
      return Buffer.alloc(16384, 1);
    }, () => 16384);
    await expect(cache.get(0, 0, 16384)).rejects.toThrow('EIO');
    fail = false;
    expect((await cache.get(0, 0, 16384))[0]).toBe(1);
  });

  test('tells `loaded` of each window read from disk (not of cache hits, not of failed reads)', async () => {
    const s = source(65536, 4);
    const loaded: number[] = [];
    let fail = false;
    const read = (piece: number, begin: number, length: number): Promise<Buffer> => (fail ? Promise.reject(new Error('EIO')) : s.read(piece, begin, length));
    const cache = new ReadCache(read, () => 65536, 32768, 8, (piece) => loaded.push(piece));
    await cache.get(2, 0, 16384);
    await cache.get(2, 16384, 16384); // same window
    await cache.get(2, 32768, 16384); // second window of piece 2
    await cache.get(0, 0, 16384);
    fail = true;
    await expect(cache.get(3, 0, 16384)).rejects.toThrow('EIO');
    await new Promise((r) => setImmediate(r));
    expect(loaded).toEqual([2, 2, 0]);
  });
});
