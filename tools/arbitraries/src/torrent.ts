import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PlainBencode } from './tracker.js';

/** Fixture torrents of `webtorrent-fixtures` worth mutating: one file, many files, a real-world one. */
export const FIXTURE_TORRENTS: readonly string[] = ['numbers.torrent', 'lots-of-numbers.torrent', 'alice.torrent'];

/**
 * Seeds for torrent mutations: a small handmade torrent that has every field (so mutations hit
 * each often), encoded with the caller's `encode`, plus the fixture files found in `fixturesDir`.
 */
export function torrentSeeds(encode: (v: { [key: string]: PlainBencode }) => Uint8Array, fixturesDir?: string): Uint8Array[] {
  const handmade = encode({
    announce: 'http://t/a',
    'announce-list': [['http://t/a'], ['udp://u:1']],
    'url-list': ['http://w/'],
    info: { name: 'n', 'piece length': 16, pieces: new Uint8Array(40), files: [{ length: 10, path: ['a', 'b'] }, { length: 20, path: ['c'] }], private: 1 },
  });
  const files = fixturesDir === undefined ? [] : FIXTURE_TORRENTS.map((f) => new Uint8Array(readFileSync(join(fixturesDir, f))));
  return [...files, handmade];
}
