import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { BencodeDict, encode, type Encodable } from '@mainline/bencode';
import { MetainfoError, parseInfo, parseTorrent } from './index.js';
import { errorOf, fixturesDir, libtorrentRead, transmissionInfoHash } from './test-support.js';

const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest('hex');
const FIX = fixturesDir();
const fixture = (name: string) => readFileSync(path.join(FIX, name));
const torrentFixtures = readdirSync(FIX).filter((f) => f.endsWith('.torrent') && f !== 'corrupt.torrent');

type Obj = { [k: string]: Encodable | undefined };

/** A valid multi-file torrent as a plain object, with the right number of (fake) piece hashes. */
function multi(files: { length: number; path: string[] }[] = [{ length: 5, path: ['a.txt'] }, { length: 40000, path: ['sub', 'b.bin'] }], pieceLength = 16384): Obj {
  const total = files.reduce((n, f) => n + f.length, 0);
  return {
    announce: 'http://tracker.example/announce',
    info: { name: 'top', 'piece length': pieceLength, pieces: new Uint8Array(20 * Math.ceil(total / pieceLength)).fill(1), files },
  };
}

function withInfo(t: Obj, patch: Obj): Obj {
  return { ...t, info: { ...(t.info as Obj), ...patch } };
}

const parse = (t: Obj) => parseTorrent(encode(t));

describe('parseTorrent on real torrents (webtorrent-fixtures)', () => {
  it.each(torrentFixtures)('%s: info-hash matches transmission-show', (name) => {
    const meta = parseTorrent(fixture(name));
    expect(meta.infoHash).toBe(transmissionInfoHash(path.join(FIX, name)));
    expect(meta.infoHash).toBe(sha1(meta.infoBytes));
    expect(Buffer.from(meta.infoHashBytes).toString('hex')).toBe(meta.infoHash);
  });

  it('agrees with libtorrent on info-hash, name, piece count and file paths', () => {
    const ours = torrentFixtures.map((n) => parseTorrent(fixture(n)));
    const theirs = libtorrentRead(torrentFixtures.map((n) => path.join(FIX, n)));
    expect(ours.map((m) => ({ hash: m.infoHash, name: m.name, pieces: m.pieceCount, files: m.files.map((f) => f.path.join('/')) }))).toEqual(theirs);
  });

  it.each([
    ['alice.torrent', ['alice.txt']],
    ['leaves.torrent', ['Leaves of Grass by Walt Whitman.epub']],
    ['folder.torrent', null],
    ['numbers.torrent', null],
    ['lots-of-numbers.torrent', null],
  ])('%s: every piece hash matches the fixture data', (name, single) => {
    const meta = parseTorrent(fixture(name));
    const data = Buffer.concat(meta.files.map((f) => readFileSync(path.join(FIX, ...(single ?? f.path)))));
    expect(data.length).toBe(meta.totalLength);
    let off = 0;
    for (let i = 0; i < meta.pieceCount; i++) {
      const len = meta.pieceLengthAt(i);
      expect(sha1(data.subarray(off, off + len))).toBe(Buffer.from(meta.pieceHash(i)).toString('hex'));
      off += len;
    }
    expect(off).toBe(meta.totalLength);
  });

  it('reads the fields of bunny.torrent', () => {
    const meta = parseTorrent(fixture('bunny.torrent'));
    expect(meta.createdBy).toBe('uTorrent/3320');
    expect(meta.creationDate).toBe(1387309701);
    expect(meta.pieceLength).toBe(524288);
    expect(meta.totalLength).toBe(434839491);
    expect(meta.pieceCount).toBe(830);
    expect(meta.pieceLengthAt(829)).toBe(434839491 - 829 * 524288);
    expect(meta.multiFile).toBe(false);
    expect(meta.urlList).toEqual(['http://distribution.bbb3d.renderfarming.net/video/mp4/bbb_sunflower_1080p_30fps_stereo_abl.mp4']);
    expect(meta.info.get('file-duration')).toEqual([634]);
  });

  it('rejects corrupt.torrent (its info has no name)', () => {
    expect(errorOf(() => parseTorrent(fixture('corrupt.torrent')))).toBe('MISSING_FIELD info.name');
  });

  it('keeps its own copy of the info bytes', () => {
    const bytes = Buffer.from(fixture('alice.torrent'));
    const meta = parseTorrent(bytes);
    const hash = meta.infoHash;
    bytes.fill(0);
    expect(sha1(meta.infoBytes)).toBe(hash);
    expect(meta.pieces.buffer).toBe(meta.infoBytes.buffer);
  });

  it('keeps the info dict bytes only, and decodes the dict from them when asked', () => {
    const bytes = fixture('bunny.torrent');
    const meta = parseTorrent(bytes);
    // Nothing of the file around the info dict (announce list, comment, ...) stays referenced.
    expect(meta.infoBytes.buffer.byteLength).toBe(meta.infoBytes.byteLength);
    expect(meta.infoBytes.byteLength).toBeLessThan(bytes.byteLength);
    expect(meta.info).toBe(meta.info);
    expect(meta.info.get('pieces')).toEqual(meta.pieces);
  });
});

describe('parseTorrent fields', () => {
  it('gives offsets, paths with the name first, and piece lengths', () => {
    const meta = parse(multi([{ length: 5, path: ['a'] }, { length: 0, path: ['z'] }, { length: 40000, path: ['d', 'b'] }]));
    expect(meta.files.map((f) => [f.path.join('/'), f.length, f.offset])).toEqual([
      ['top/a', 5, 0],
      ['top/z', 0, 5],
      ['top/d/b', 40000, 5],
    ]);
    expect(meta.totalLength).toBe(40005);
    expect(meta.pieceCount).toBe(3);
    expect([0, 1, 2].map((i) => meta.pieceLengthAt(i))).toEqual([16384, 16384, 40005 - 32768]);
    expect(() => meta.pieceLengthAt(3)).toThrow(RangeError);
    expect(() => meta.pieceHash(-1)).toThrow(RangeError);
    expect(meta.multiFile).toBe(true);
    expect(meta.private).toBe(false);
  });

  it('reads trackers, web seeds, comment, private, source', () => {
    const t = {
      ...withInfo(multi(), { private: 1, source: 'SRC' }),
      'announce-list': [['http://a', 'http://b'], [], ['udp://c']],
      'url-list': 'http://seed/',
      comment: 'hi',
      'creation date': 1700000000,
    };
    const meta = parse(t);
    expect(meta.announce).toBe('http://tracker.example/announce');
    expect(meta.announceList).toEqual([['http://a', 'http://b'], ['udp://c']]);
    expect(meta.trackers).toEqual([['http://a', 'http://b'], ['udp://c']]);
    expect(meta.urlList).toEqual(['http://seed/']);
    expect(meta.comment).toBe('hi');
    expect(meta.creationDate).toBe(1700000000);
    expect(meta.private).toBe(true);
    expect(meta.source).toBe('SRC');
    expect(parse({ ...multi(), 'url-list': ['http://x', 'http://y'] }).urlList).toEqual(['http://x', 'http://y']);
    expect(parse(multi()).trackers).toEqual([['http://tracker.example/announce']]);
    const { announce: _a, ...trackerless } = multi();
    expect(parse(trackerless).trackers).toEqual([]);
  });

  it('prefers name.utf-8 and path.utf-8', () => {
    const t = withInfo(multi([{ length: 1, path: ['x'] }]), {
      'name.utf-8': 'Gr\u00fc\u00dfe',
      files: [{ length: 1, path: ['x'], 'path.utf-8': ['\u65e5\u672c', 'y'] }],
    });
    const meta = parse(t);
    expect(meta.name).toBe('Gr\u00fc\u00dfe');
    expect(meta.files[0]!.path).toEqual(['Gr\u00fc\u00dfe', '\u65e5\u672c', 'y']);
  });

  it('decodes non-UTF-8 names with the declared encoding', () => {
    const t = { ...withInfo(multi([{ length: 1, path: ['x'] }]), { name: Uint8Array.from([0x63, 0x61, 0x66, 0xe9]) }), encoding: 'iso-8859-1' };
    expect(parse(t).name).toBe('caf\u00e9');
  });

  it('accepts an empty torrent with zero pieces, but not with one', () => {
    const empty = { info: { name: 'e', 'piece length': 16384, pieces: new Uint8Array(0), length: 0 } };
    expect(parse(empty).pieceCount).toBe(0);
    expect(errorOf(() => parse(withInfo(empty, { pieces: new Uint8Array(20) })))).toBe('PIECE_COUNT_MISMATCH info.pieces');
  });

  it('lets BEP 47 padding files share a path', () => {
    const t = multi([
      { length: 3, path: ['a'] },
      { length: 16381, path: ['.pad', '16381'], attr: 'p' } as never,
      { length: 3, path: ['b'] },
      { length: 16381, path: ['.pad', '16381'], attr: 'p' } as never,
    ]);
    expect(parse(t).files.map((f) => f.padding)).toEqual([false, true, false, true]);
  });

  it('hashes the raw info bytes: lenient input with unsorted keys keeps its own info-hash', () => {
    const strictBytes = encode(multi([{ length: 1, path: ['x'] }]));
    const text = strictBytes.toString('latin1');
    // Swap `name` and `piece length`... by writing the info dict by hand with keys out of order.
    const info = 'd12:piece lengthi16384e4:name3:top5:filesld6:lengthi1e4:pathl1:xeee6:pieces20:' + '\x01'.repeat(20) + 'e';
    const sloppy = Buffer.from(text.slice(0, text.indexOf('4:info') + 6) + info + 'e', 'latin1');
    expect(errorOf(() => parseTorrent(sloppy))).toBe('bencode UNSORTED_KEYS');
    const meta = parseTorrent(sloppy, { strict: false });
    expect(meta.infoHash).toBe(sha1(Buffer.from(info, 'latin1')));
    expect(meta.infoHash).not.toBe(parseTorrent(strictBytes).infoHash);
    expect(meta.name).toBe('top');
  });
});

describe('parseTorrent rejects hostile and broken torrents', () => {
  const file = (p: (string | Uint8Array)[], length = 1) => [{ length, path: p }] as never;
  const twoFiles = (a: string[], b: string[]) => [{ length: 1, path: a }, { length: 1, path: b }] as never;
  it.each<[string, Obj, string]>([
    ['path traversal ..', withInfo(multi(), { files: file(['..', 'etc', 'passwd']) }), 'UNSAFE_PATH info.files[0].path[0]'],
    ['. component', withInfo(multi(), { files: file(['a', '.']) }), 'UNSAFE_PATH info.files[0].path[1]'],
    ['absolute component', withInfo(multi(), { files: file(['/etc/passwd']) }), 'UNSAFE_PATH info.files[0].path[0]'],
    ['separator inside a component', withInfo(multi(), { files: file(['a', 'b/../../c']) }), 'UNSAFE_PATH info.files[0].path[1]'],
    ['backslash', withInfo(multi(), { files: file(['..\\x']) }), 'UNSAFE_PATH info.files[0].path[0]'],
    ['NUL', withInfo(multi(), { files: file(['a\0b']) }), 'UNSAFE_PATH info.files[0].path[0]'],
    ['empty component', withInfo(multi(), { files: file(['a', '']) }), 'UNSAFE_PATH info.files[0].path[1]'],
    ['empty path', withInfo(multi(), { files: file([]) }), 'EMPTY_PATH info.files[0].path'],
    ['path not a list', withInfo(multi(), { files: [{ length: 1, path: 'a' }] }), 'WRONG_TYPE info.files[0].path'],
    ['path component an int', withInfo(multi(), { files: [{ length: 1, path: [1] }] }), 'WRONG_TYPE info.files[0].path[0]'],
    ['unsafe path.utf-8', withInfo(multi(), { files: [{ length: 1, path: ['ok'], 'path.utf-8': ['..'] }] }), 'UNSAFE_PATH info.files[0].path.utf-8[0]'],
    ['name ..', withInfo(multi(), { name: '..' }), 'UNSAFE_PATH info.name'],
    ['name with slash', withInfo(multi(), { name: '/tmp' }), 'UNSAFE_PATH info.name'],
    ['empty name', withInfo(multi(), { name: '' }), 'UNSAFE_PATH info.name'],
    ['unsafe name.utf-8', withInfo(multi(), { 'name.utf-8': 'a/b' }), 'UNSAFE_PATH info.name.utf-8'],
    ['duplicate paths', withInfo(multi(), { files: twoFiles(['a', 'b'], ['a', 'b']) }), 'DUPLICATE_PATH info.files[1].path'],
    ['file and directory', withInfo(multi(), { files: twoFiles(['a'], ['a', 'b']) }), 'PATH_CONFLICT info.files[0].path'],
    ['directory then file', withInfo(multi(), { files: twoFiles(['a', 'b', 'c'], ['a', 'b']) }), 'PATH_CONFLICT info.files[1].path'],
    ['pieces not a multiple of 20', withInfo(multi(), { pieces: new Uint8Array(41) }), 'BAD_PIECES info.pieces'],
    ['too few pieces', withInfo(multi(), { pieces: new Uint8Array(40) }), 'PIECE_COUNT_MISMATCH info.pieces'],
    ['too many pieces', withInfo(multi(), { pieces: new Uint8Array(80) }), 'PIECE_COUNT_MISMATCH info.pieces'],
    ['pieces an int', withInfo(multi(), { pieces: 5 }), 'WRONG_TYPE info.pieces'],
    ['piece length 0', withInfo(multi(), { 'piece length': 0 }), 'BAD_INTEGER info.piece length'],
    ['piece length negative', withInfo(multi(), { 'piece length': -16384 }), 'BAD_INTEGER info.piece length'],
    ['piece length a string', withInfo(multi(), { 'piece length': '16384' }), 'WRONG_TYPE info.piece length'],
    ['huge length', withInfo(multi(), { files: file(['a'], 2 ** 60) }), 'TOO_LARGE info.files[0].length'],
    ['huge bigint length', withInfo(multi(), { files: [{ length: 2n ** 70n, path: ['a'] }] }), 'TOO_LARGE info.files[0].length'],
    ['lengths summing past 2^53', withInfo(multi(), { files: [{ length: 2 ** 52, path: ['a'] }, { length: 2 ** 52, path: ['b'] }] }), 'TOO_LARGE info.files[1].length'],
    ['negative length', withInfo(multi(), { files: file(['a'], -1) }), 'BAD_INTEGER info.files[0].length'],
    ['file without length', withInfo(multi(), { files: [{ path: ['a'] }] }), 'MISSING_FIELD info.files[0].length'],
    ['file entry not a dict', withInfo(multi(), { files: ['a'] }), 'NOT_A_DICT info.files[0]'],
    ['files not a list', withInfo(multi(), { files: 'a' }), 'WRONG_TYPE info.files'],
    ['both length and files', withInfo(multi(), { length: 1 }), 'LENGTH_AND_FILES info'],
    ['neither length nor files', withInfo(multi(), { files: undefined }), 'LENGTH_AND_FILES info'],
    ['missing name', withInfo(multi(), { name: undefined }), 'MISSING_FIELD info.name'],
    ['missing piece length', withInfo(multi(), { 'piece length': undefined }), 'MISSING_FIELD info.piece length'],
    ['missing pieces', withInfo(multi(), { pieces: undefined }), 'MISSING_FIELD info.pieces'],
    ['missing info', { announce: 'x' }, 'MISSING_FIELD info'],
    ['info not a dict', { info: [1] }, 'NOT_A_DICT info'],
    ['private a string', withInfo(multi(), { private: '1' }), 'WRONG_TYPE info.private'],
    ['announce an int', { ...multi(), announce: 3 }, 'WRONG_TYPE announce'],
    ['announce-list not nested', { ...multi(), 'announce-list': ['http://a'] }, 'WRONG_TYPE announce-list[0]'],
    ['announce-list url an int', { ...multi(), 'announce-list': [['http://a', 3]] }, 'WRONG_TYPE announce-list[0][1]'],
    ['url-list an int', { ...multi(), 'url-list': 3 }, 'WRONG_TYPE url-list'],
  ])('%s', (_name, torrent, expected) => {
    expect(errorOf(() => parse(torrent))).toBe(expected);
  });

  it('rejects a torrent that is not a dict, or not bencode', () => {
    expect(errorOf(() => parseTorrent(encode([1, 2])))).toBe('NOT_A_DICT ');
    expect(errorOf(() => parseTorrent(Buffer.from('d4:info')))).toBe('bencode TRUNCATED');
  });

  it('mainlineNames also rejects names starting with . or ~', () => {
    const hidden = multi([{ length: 1, path: ['.hidden'] }]);
    expect(parse(hidden).files[0]!.path).toEqual(['top', '.hidden']);
    expect(errorOf(() => parseTorrent(encode(hidden), { mainlineNames: true }))).toBe('UNSAFE_PATH info.files[0].path[0]');
    expect(errorOf(() => parseTorrent(encode(withInfo(multi(), { name: '~x' })), { mainlineNames: true }))).toBe('UNSAFE_PATH info.name');
    expect(parse(withInfo(multi(), { name: 'a..b' })).name).toBe('a..b');
  });

  it('errors carry code, path and a readable message', () => {
    try {
      parse(withInfo(multi(), { files: file(['ok', '..']) }));
      throw new Error('expected a throw');
    } catch (e) {
      expect(e).toBeInstanceOf(MetainfoError);
      const err = e as MetainfoError;
      expect(err.code).toBe('UNSAFE_PATH');
      expect(err.path).toBe('info.files[0].path[1]');
      expect(err.message).toMatch(/^info\.files\[0\]\.path\[1\]: unsafe name "\.\."/);
    }
  });
});

describe('parseInfo (BEP 9 metadata)', () => {
  it('parses bare info bytes and checks the expected hash', () => {
    const meta = parseTorrent(fixture('leaves.torrent'));
    const again = parseInfo(meta.infoBytes, { expectedInfoHash: meta.infoHash.toUpperCase() });
    expect(again.infoHash).toBe(meta.infoHash);
    expect(again.files).toEqual(meta.files);
    expect(again.trackers).toEqual([]);
    expect(parseInfo(meta.infoBytes, { expectedInfoHash: meta.infoHashBytes }).name).toBe(meta.name);
    expect(errorOf(() => parseInfo(meta.infoBytes, { expectedInfoHash: '00'.repeat(20) }))).toBe('BAD_VALUE info');
    const dict = new BencodeDict([['name', Buffer.from('x')]]);
    expect(errorOf(() => parseInfo(encode(dict)))).toBe('MISSING_FIELD info.piece length');
  });
});
