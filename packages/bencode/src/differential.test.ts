import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BencodeDict, decode, encode, type BencodeValue } from './index.js';

// Real-world torrents shipped by the webtorrent project.
// (ESM-only package whose exports hide its files from require.resolve: use the devDependency's folder.)
const fixtures = join(__dirname, '..', 'node_modules', 'webtorrent-fixtures', 'fixtures');
const torrents = readdirSync(fixtures)
  .filter((f) => f.endsWith('.torrent'))
  .map((f) => join(fixtures, f));

/** The same normal form the reference script below prints for npm `bencode`'s output. */
function normalize(v: BencodeValue): unknown {
  if (v instanceof Uint8Array) return { b: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map(normalize);
  if (v instanceof BencodeDict) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of v) out[Buffer.from(k).toString('utf8')] = normalize(x);
    return out;
  }
  return { i: String(v) };
}

// npm `bencode` is ESM-only; run it in a plain Node process so jest's CJS runtime stays out of it.
const reference = `
import bencode from 'bencode';
import { readFileSync } from 'node:fs';
const norm = (v) => v instanceof Uint8Array ? { b: Buffer.from(v).toString('hex') }
  : Array.isArray(v) ? v.map(norm)
  : typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, norm(x)]))
  : { i: String(v) };
const out = {};
for (const f of JSON.parse(process.argv[1])) out[f] = norm(bencode.decode(readFileSync(f)));
process.stdout.write(JSON.stringify(out));
`;

describe('differential: npm bencode on real torrents', () => {
  test('there are real torrents to compare', () => {
    expect(torrents.length).toBeGreaterThanOrEqual(8);
  });

  test('both decoders agree on every value; ours re-encodes byte-identically', () => {
    const theirs = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', reference, JSON.stringify(torrents)], {
        cwd: join(__dirname, '..'),
        maxBuffer: 256 * 1024 * 1024,
      }).toString(),
    ) as Record<string, unknown>;
    let strictOk = 0;
    for (const file of torrents) {
      const bytes = readFileSync(file);
      let ours: BencodeValue;
      try {
        ours = decode(bytes);
        strictOk++;
        expect(Buffer.from(encode(ours)).equals(bytes)).toBe(true);
      } catch {
        // A fixture that is not canonical bencode (corrupt.torrent) must still decode leniently.
        ours = decode(bytes, { strict: false });
      }
      expect(normalize(ours)).toEqual(theirs[file]);
    }
    expect(strictOk).toBeGreaterThanOrEqual(torrents.length - 1);
  });
});
