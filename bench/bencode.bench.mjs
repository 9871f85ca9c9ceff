// @mainline/bencode against npm `bencode` (webtorrent) on a large torrent: 5,000 files and
// 40,000 pieces, shaped like a real multi-file release, plus the largest webtorrent fixture.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import npmBencode from 'bencode';
import { decode, encode } from '@mainline/bencode';
import { compareOps, ratio } from './timing.mjs';

function largeTorrent() {
  const files = [];
  for (let i = 0; i < 5000; i++) {
    files.push({ length: 100_000 + i * 37, path: [`disc ${i % 7}`, `track ${String(i).padStart(5, '0')} - some title.flac`] });
  }
  return encode({
    announce: 'http://tracker.example.org:6969/announce',
    'announce-list': [['http://tracker.example.org:6969/announce'], ['udp://tracker.example.net:1337/announce']],
    comment: 'large benchmark torrent',
    'created by': 'mainline bench',
    'creation date': 1700000000,
    info: { files, name: 'Large Collection', 'piece length': 16384, pieces: randomBytes(40_000 * 20) },
  });
}

export async function run() {
  const fixtures = fileURLToPath(new URL('./node_modules/webtorrent-fixtures/fixtures/', import.meta.url));
  const inputs = [
    ['large (5000 files, 40000 pieces)', largeTorrent()],
    ['sintel.torrent (fixture)', readFileSync(join(fixtures, 'sintel.torrent'))],
  ];
  for (const [name, bytes] of inputs) {
    console.log(`${name}: ${(bytes.length / 1024).toFixed(0)} KiB`);
    const { ours: oursDecode, theirs: theirsDecode } = compareOps(() => decode(bytes), () => npmBencode.decode(bytes));
    console.log(`  decode: ours ${oursDecode.toFixed(0)}/s, npm-bencode ${theirsDecode.toFixed(0)}/s`);
    // A ratio of times: below 1 is faster. Target: decode ≤ 0.5, encode ≤ 1.0.
    ratio('  ours/npm-bencode decode time', 1 / oursDecode, 1 / theirsDecode);
    const ourValue = decode(bytes);
    const theirValue = npmBencode.decode(bytes);
    const { ours: oursEncode, theirs: theirsEncode } = compareOps(() => encode(ourValue), () => npmBencode.encode(theirValue));
    console.log(`  encode: ours ${oursEncode.toFixed(0)}/s, npm-bencode ${theirsEncode.toFixed(0)}/s`);
    ratio('  ours/npm-bencode encode time', 1 / oursEncode, 1 / theirsEncode);
  }
}
