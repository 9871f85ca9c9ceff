// @mainline/metainfo: parseTorrent against npm `parse-torrent` (webtorrent) on a large torrent,
// and createTorrent hashing against the `mktorrent` binary (1 thread and its default threads).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import parseTorrentNpm from 'parse-torrent';
import { encode } from '@mainline/bencode';
import { createTorrent, parseTorrent } from '@mainline/metainfo';
import { medianMs, ratio } from './timing.mjs';

function largeTorrent() {
  const files = [];
  for (let i = 0; i < 5000; i++) {
    files.push({ length: 100_000 + i * 37, path: [`disc ${i % 7}`, `track ${String(i).padStart(5, '0')} - some title.flac`] });
  }
  const total = files.reduce((n, f) => n + f.length, 0);
  return encode({
    announce: 'http://tracker.example.org:6969/announce',
    info: { files, name: 'Large Collection', 'piece length': 16384, pieces: randomBytes(Math.ceil(total / 16384) * 20) },
  });
}

export async function run() {
  const bytes = largeTorrent();
  const loops = 20;
  const ours = await medianMs(() => {
    for (let i = 0; i < loops; i++) parseTorrent(bytes);
  }, 7);
  const theirs = await medianMs(async () => {
    for (let i = 0; i < loops; i++) await parseTorrentNpm(bytes);
  }, 7);
  console.log(`parse 5000-file torrent: ours ${(ours / loops).toFixed(2)} ms, npm-parse-torrent ${(theirs / loops).toFixed(2)} ms`);
  ratio('ours/npm-parse-torrent parse time', ours, theirs);

  const dir = mkdtempSync(join(tmpdir(), 'metainfo-bench-'));
  try {
    const file = join(dir, 'data.bin');
    writeFileSync(file, randomBytes(256 * 1024 * 1024));
    const out = join(dir, 'mk.torrent');
    const mk = (threads) => () => {
      rmSync(out, { force: true });
      execFileSync('mktorrent', ['-l', '18', '-a', 'http://t/a', '-d', '-t', String(threads), '-o', out, file], { stdio: 'ignore' });
    };
    const oursCreate = await medianMs(() => createTorrent(file, { pieceLength: 2 ** 18, trackers: ['http://t/a'] }), 5);
    const mk1 = await medianMs(mk(1), 5);
    const mkDefault = await medianMs(mk(2), 5);
    console.log(`create 256 MiB: ours ${oursCreate.toFixed(0)} ms, mktorrent -t1 ${mk1.toFixed(0)} ms, mktorrent -t2 ${mkDefault.toFixed(0)} ms`);
    ratio('ours/mktorrent-1-thread create time', oursCreate, mk1);
    ratio('ours/mktorrent-2-threads create time', oursCreate, mkDefault);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
