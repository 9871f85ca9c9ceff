import { createHash } from 'node:crypto';
import { BencodeDict, decode, isBytes, isList, toText, toTextStrict, type BencodeValue } from '@mainline/bencode';
import { MetainfoError } from './errors.js';
import { asDict, at, bytesValue, kind, listValue, optBytes, optInt, reqBytes, reqInt, reqList } from './fields.js';
import { assertSafeName, type NameRules } from './names.js';

/** One file of a torrent, in piece-space order. */
export interface TorrentFile {
  /**
   * Path components relative to the download directory, the torrent's `name` first for
   * multi-file torrents (`['My Album', 'cd1', '01.flac']`) and just `[name]` for single-file ones.
   */
  path: readonly string[];
  length: number;
  /** Byte offset of the file's first byte in the concatenated piece space. */
  offset: number;
  /** A BEP 47 padding file (`attr` contains `p`): its bytes are zeros and it is never written. */
  padding: boolean;
}

export interface ParseOptions extends NameRules {
  /**
   * Strict bencode (default true): reject what mainline rejects. `false` reads sloppy real-world
   * files (unsorted keys, leading zeros...); the info-hash is still SHA-1 of the raw `info` bytes.
   */
  strict?: boolean;
}

/** The fields that live inside the `info` dict (all a BEP 9 metadata exchange delivers). */
export interface InfoFields {
  name: string;
  pieceLength: number;
  pieces: Uint8Array;
  files: readonly TorrentFile[];
  multiFile: boolean;
  totalLength: number;
  private: boolean;
  source?: string;
}

const SHA1_LEN = 20;

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

/** Text of a name: UTF-8, else the torrent's declared `encoding` if Node knows it, else lossy UTF-8. */
function nameText(bytes: Uint8Array, encoding: string | undefined): string {
  const utf8 = toTextStrict(bytes);
  if (utf8 !== undefined) return utf8;
  if (encoding !== undefined) {
    try {
      return new TextDecoder(encoding).decode(bytes);
    } catch {
      // unknown label: fall through
    }
  }
  return toText(bytes);
}

class InfoReader {
  constructor(
    readonly info: BencodeDict,
    readonly encoding: string | undefined,
    readonly rules: NameRules,
  ) {}

  /** A name component: `key.utf-8` when present, else `key`; both validated when present. */
  name(d: BencodeDict, path: string): string {
    const plain = nameText(reqBytes(d, 'name', path), this.encoding);
    assertSafeName(plain, at(path, 'name'), this.rules);
    const utf8 = optBytes(d, 'name.utf-8', path);
    if (utf8 === undefined) return plain;
    const text = toText(utf8);
    assertSafeName(text, at(path, 'name.utf-8'), this.rules);
    return text;
  }

  components(list: BencodeValue[], path: string): string[] {
    if (list.length === 0) throw new MetainfoError('EMPTY_PATH', path, 'a file path needs at least one component');
    return list.map((c, i) => {
      const text = path.endsWith('.utf-8') ? toText(bytesValue(c, at(path, i))) : nameText(bytesValue(c, at(path, i)), this.encoding);
      assertSafeName(text, at(path, i), this.rules);
      return text;
    });
  }

  filePath(d: BencodeDict, path: string): string[] {
    const plain = this.components(reqList(d, 'path', path), at(path, 'path'));
    const utf8 = d.get('path.utf-8');
    if (utf8 === undefined) return plain;
    return this.components(listValue(utf8, at(path, 'path.utf-8')), at(path, 'path.utf-8'));
  }

  read(): InfoFields {
    const info = this.info;
    const P = 'info';
    const pieceLength = reqInt(info, 'piece length', P, 1);
    const pieces = reqBytes(info, 'pieces', P);
    if (pieces.length % SHA1_LEN !== 0) {
      throw new MetainfoError('BAD_PIECES', at(P, 'pieces'), `length ${pieces.length} is not a multiple of 20`);
    }
    const name = this.name(info, P);
    const hasLength = info.has('length');
    const hasFiles = info.has('files');
    if (hasLength === hasFiles) {
      throw new MetainfoError('LENGTH_AND_FILES', P, hasLength ? 'has both length and files' : 'has neither length nor files');
    }
    const files: TorrentFile[] = [];
    let total = 0;
    if (hasLength) {
      total = reqInt(info, 'length', P, 0);
      files.push({ path: [name], length: total, offset: 0, padding: false });
    } else {
      const list = reqList(info, 'files', P);
      const seen = new Map<string, number>();
      list.forEach((entry, i) => {
        const fp = at(at(P, 'files'), i);
        const d = asDict(entry, fp);
        const length = reqInt(d, 'length', fp, 0);
        const path = this.filePath(d, fp);
        const attr = optBytes(d, 'attr', fp);
        const padding = attr !== undefined && attr.includes(0x70 /* p */);
        if (total + length > Number.MAX_SAFE_INTEGER) {
          throw new MetainfoError('TOO_LARGE', at(fp, 'length'), 'total length exceeds 2^53 - 1');
        }
        // Padding files (BEP 47) share paths like `.pad/16384` and are never written: skip the checks.
        if (!padding) {
          const key = path.join('/');
          const first = seen.get(key);
          if (first !== undefined) {
            throw new MetainfoError('DUPLICATE_PATH', at(fp, 'path'), `same path as info.files[${first}]: ${JSON.stringify(key)}`);
          }
          seen.set(key, i);
        }
        files.push({ path: [name, ...path], length, offset: total, padding });
        total += length;
      });
      checkConflicts(files);
    }
    const count = pieces.length / SHA1_LEN;
    const expected = Math.ceil(total / pieceLength);
    if (count !== expected) {
      throw new MetainfoError(
        'PIECE_COUNT_MISMATCH',
        at(P, 'pieces'),
        `${count} piece hashes, but ${total} bytes in pieces of ${pieceLength} need ${expected}`,
      );
    }
    const priv = info.get('private');
    if (priv !== undefined && typeof priv !== 'number' && typeof priv !== 'bigint') {
      throw new MetainfoError('WRONG_TYPE', at(P, 'private'), `expected an integer, found ${kind(priv)}`);
    }
    // files.slice(): an exact-size copy, kept for the torrent's life (a push-grown array keeps
    // spare slots: 17 for one file, ~130 bytes; a session holds thousands of these).
    const out: InfoFields = { name, pieceLength, pieces, files: files.slice(), multiFile: hasFiles, totalLength: total, private: priv === 1 };
    const source = optBytes(info, 'source', P);
    if (source !== undefined) out.source = toText(source);
    return out;
  }
}

/** A file used as a directory by another (`a` and `a/b`) cannot be laid out on disk. */
function checkConflicts(files: TorrentFile[]): void {
  const dirs = new Set<string>();
  for (const f of files) {
    if (f.padding) continue;
    for (let k = 2; k < f.path.length; k++) dirs.add(f.path.slice(1, k).join('/'));
  }
  files.forEach((f, i) => {
    if (!f.padding && dirs.has(f.path.slice(1).join('/'))) {
      throw new MetainfoError('PATH_CONFLICT', `info.files[${i}].path`, `${JSON.stringify(f.path.slice(1).join('/'))} is a file and also a directory of another file`);
    }
  });
}

function optString(d: BencodeDict, key: string): string | undefined {
  const b = optBytes(d, key, '');
  return b === undefined ? undefined : toText(b);
}

function urlList(v: BencodeValue | undefined, path: string): string[] {
  if (v === undefined) return [];
  if (isBytes(v)) return v.length === 0 ? [] : [toText(v)];
  if (!isList(v)) throw new MetainfoError('WRONG_TYPE', path, `expected a byte string or a list, found ${kind(v)}`);
  return v.map((u, i) => toText(bytesValue(u, at(path, i)))).filter((u) => u.length > 0);
}

function announceList(v: BencodeValue | undefined): string[][] {
  if (v === undefined) return [];
  const tiers = listValue(v, 'announce-list').map((tier, i) =>
    listValue(tier, `announce-list[${i}]`)
      .map((url, j) => toText(bytesValue(url, `announce-list[${i}][${j}]`)))
      .filter((url) => url.length > 0),
  );
  return tiers.filter((t) => t.length > 0);
}

/**
 * A validated torrent. Everything mainline's `check_info`/`check_message` verify holds, plus the
 * piece count fits the total length, paths are safe and unique, and the info-hash is SHA-1 of the
 * exact `info` bytes that were read.
 */
export class Metainfo implements InfoFields {
  /** Lower-case hex v1 info-hash. */
  readonly infoHash: string;
  /** The 20-byte v1 info-hash. */
  readonly infoHashBytes: Uint8Array;
  /** The exact bytes of the `info` dict as read (this object's own copy, nothing else of the input), e.g. for BEP 9 metadata exchange. */
  readonly infoBytes: Uint8Array;
  // Decoded again from infoBytes when first read: most users never look at it, and a session
  // with many torrents would otherwise keep every info dict twice (bytes and decoded form).
  #info: BencodeDict | undefined;
  readonly name: string;
  readonly pieceLength: number;
  /** Concatenated 20-byte SHA-1 piece hashes. */
  readonly pieces: Uint8Array;
  readonly pieceCount: number;
  readonly files: readonly TorrentFile[];
  readonly multiFile: boolean;
  readonly totalLength: number;
  /** BEP 27 `private` = 1. */
  readonly private: boolean;
  /** `info.source` (cross-seeding tag some creators add; part of the info-hash). */
  readonly source?: string;
  /** `announce`, when present (trackerless torrents have none). */
  readonly announce?: string;
  /** BEP 12 tiers as written (empty tiers and empty URLs dropped). */
  readonly announceList: readonly (readonly string[])[];
  /** BEP 19 web seeds. */
  readonly urlList: readonly string[];
  readonly comment?: string;
  readonly createdBy?: string;
  /** Seconds since the Unix epoch. */
  readonly creationDate?: number;

  /** `info`: the decoded dict when the caller has it; undefined decodes it from `infoBytes` when first read. */
  constructor(
    info: BencodeDict | undefined,
    infoBytes: Uint8Array,
    fields: InfoFields,
    outer?: { announce?: string; announceList: string[][]; urlList: string[]; comment?: string; createdBy?: string; creationDate?: number },
  ) {
    this.#info = info;
    this.infoBytes = infoBytes;
    this.infoHashBytes = new Uint8Array(createHash('sha1').update(infoBytes).digest());
    this.infoHash = hex(this.infoHashBytes);
    this.name = fields.name;
    this.pieceLength = fields.pieceLength;
    this.pieces = fields.pieces;
    this.pieceCount = fields.pieces.length / SHA1_LEN;
    this.files = fields.files;
    this.multiFile = fields.multiFile;
    this.totalLength = fields.totalLength;
    this.private = fields.private;
    if (fields.source !== undefined) this.source = fields.source;
    this.announceList = outer?.announceList ?? [];
    this.urlList = outer?.urlList ?? [];
    if (outer?.announce !== undefined) this.announce = outer.announce;
    if (outer?.comment !== undefined) this.comment = outer.comment;
    if (outer?.createdBy !== undefined) this.createdBy = outer.createdBy;
    if (outer?.creationDate !== undefined) this.creationDate = outer.creationDate;
  }

  /** The decoded `info` dict, for extension fields this class does not interpret. */
  get info(): BencodeDict {
    return (this.#info ??= asDict(decode(this.infoBytes, { strict: false }), 'info'));
  }

  /** Tracker tiers to use: `announce-list` when it has any URL (BEP 12), else `[[announce]]`, else none. */
  get trackers(): readonly (readonly string[])[] {
    if (this.announceList.length > 0) return this.announceList;
    return this.announce ? [[this.announce]] : [];
  }

  /** The 20-byte SHA-1 of piece `i` (a view). */
  pieceHash(i: number): Uint8Array {
    this.#check(i);
    return this.pieces.subarray(i * SHA1_LEN, (i + 1) * SHA1_LEN);
  }

  /** Length of piece `i`: `pieceLength`, except a shorter last piece. */
  pieceLengthAt(i: number): number {
    this.#check(i);
    return i === this.pieceCount - 1 ? this.totalLength - i * this.pieceLength : this.pieceLength;
  }

  #check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.pieceCount) {
      throw new RangeError(`piece index ${i} out of range [0, ${this.pieceCount})`);
    }
  }
}

function readInfo(infoValue: BencodeValue | undefined, encoding: string | undefined, options: ParseOptions): { fields: InfoFields } {
  const info = asDict(infoValue, 'info');
  return { fields: new InfoReader(info, encoding, options).read() };
}

/** A bencoded dict starts with `d`: anything else is left to asDict to name as the wrong kind. */
const isDictBytes = (raw: Uint8Array): boolean => raw[0] === 0x64;

/**
 * Parses and validates a .torrent file. Throws BencodeError for bad bencode and MetainfoError
 * (with a code and a path like `info.files[3].path[1]`) for a bad structure.
 */
export function parseTorrent(bytes: Uint8Array, options: ParseOptions = {}): Metainfo {
  // Decode our own copy, so `infoBytes`, `pieces` and the `info` dict never alias the caller's buffer.
  const own = new Uint8Array(bytes);
  const strict = options.strict ?? true;
  const top = asDict(decode(own, { strict }), '');
  const raw = top.raw('info');
  if (raw === undefined) throw new MetainfoError('MISSING_FIELD', 'info', 'required field is missing');
  const encoding = optString(top, 'encoding');
  // The info dict's bytes alone are kept (pieces and names are views into them), not the file's.
  const infoBytes = raw.slice();
  const { fields } = readInfo(isDictBytes(raw) ? decode(infoBytes, { strict }) : top.get('info'), encoding, options);
  const outer: { announce?: string; announceList: string[][]; urlList: string[]; comment?: string; createdBy?: string; creationDate?: number } = {
    announceList: announceList(top.get('announce-list')),
    urlList: urlList(top.get('url-list'), 'url-list'),
  };
  const announce = optString(top, 'announce');
  if (announce !== undefined && announce.length > 0) outer.announce = announce;
  const comment = optBytes(top, 'comment.utf-8', '') ?? optBytes(top, 'comment', '');
  if (comment !== undefined) outer.comment = nameText(comment, encoding);
  const createdBy = optString(top, 'created by');
  if (createdBy !== undefined) outer.createdBy = createdBy;
  const date = optInt(top, 'creation date', '', Number.MIN_SAFE_INTEGER);
  if (date !== undefined) outer.creationDate = date;
  return new Metainfo(undefined, infoBytes, fields, outer);
}

/**
 * Parses the bytes of a bare `info` dict (what BEP 9 metadata exchange delivers). When
 * `expectedInfoHash` is given (20 bytes or 40 hex), the bytes must hash to it.
 */
export function parseInfo(infoBytes: Uint8Array, options: ParseOptions & { expectedInfoHash?: Uint8Array | string } = {}): Metainfo {
  const own = new Uint8Array(infoBytes);
  const { fields } = readInfo(decode(own, { strict: options.strict ?? true }), undefined, options);
  const meta = new Metainfo(undefined, own, fields);
  const want = options.expectedInfoHash;
  if (want !== undefined) {
    const wantHex = typeof want === 'string' ? want.toLowerCase() : hex(want);
    if (wantHex !== meta.infoHash) {
      throw new MetainfoError('BAD_VALUE', 'info', `info-hash ${meta.infoHash} does not match the expected ${wantHex}`);
    }
  }
  return meta;
}
