import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { BencodeError, encode } from '@mainline/bencode';
import { MetainfoError, parseTorrent } from './index.js';
import { fixturesDir } from './test-support.js';

const FIX = fixturesDir();
const seeds: Uint8Array[] = ['numbers.torrent', 'lots-of-numbers.torrent', 'alice.torrent'].map((f) => readFileSync(path.join(FIX, f)));
// A small handmade one too, so mutations hit every field often.
seeds.push(
  encode({
    announce: 'http://t/a',
    'announce-list': [['http://t/a'], ['udp://u:1']],
    'url-list': ['http://w/'],
    info: { name: 'n', 'piece length': 16, pieces: new Uint8Array(40), files: [{ length: 10, path: ['a', 'b'] }, { length: 20, path: ['c'] }], private: 1 },
  }),
);

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({
    kind: fc.constant('token' as const),
    at: fc.nat(),
    token: fc.constantFrom('0:', '1:.', '2:..', '1:/', 'i-1e', 'i0e', 'le', 'de', 'l1:ae', '4:name', '4:path', 'i99999999999999999999e'),
  }),
);

type Mutation = { kind: string; at: number; value?: number; len?: number; bytes?: Uint8Array; token?: string };

function apply(src: Uint8Array, muts: Mutation[]): Buffer {
  let b = Buffer.from(src);
  for (const m of muts) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.kind === 'flip') b[at] = m.value!;
    else if (m.kind === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(at + m.len!)]);
    else {
      const ins = m.kind === 'insert' ? Buffer.from(m.bytes!) : Buffer.from(m.token!);
      b = Buffer.concat([b.subarray(0, at), ins, b.subarray(at)]);
    }
  }
  return b;
}

describe('parseTorrent on mutated torrents', () => {
  it.each([true, false])('only ever throws MetainfoError or BencodeError (strict %s)', (strict) => {
    let parsed = 0;
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 4 }), (seed, muts) => {
        const bytes = apply(seed, muts);
        try {
          const meta = parseTorrent(bytes, { strict });
          parsed++;
          // Whatever parses is internally consistent.
          expect(meta.pieceCount).toBe(Math.ceil(meta.totalLength / meta.pieceLength));
          for (const f of meta.files) for (const c of f.path) expect(c === '' || c === '.' || c === '..' || /[/\\\0]/.test(c)).toBe(false);
        } catch (e) {
          if (!(e instanceof MetainfoError) && !(e instanceof BencodeError)) throw e;
        }
      }),
      { numRuns: 3000 },
    );
    // The mutations are not all fatal: some still parse, so the property also exercises success paths.
    expect(parsed).toBeGreaterThan(0);
  });
});
