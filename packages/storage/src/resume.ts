import { Bitfield } from '@mainline/bitfield';
import { StorageError } from './errors.js';
import type { FileStamp } from './storage.js';

/**
 * What a PieceStore needs to skip the recheck on restart: the verified pieces, the blocks written
 * in unfinished pieces, and the size and mtime of every file (null: not created) and of the parts
 * file, as they were when the record was taken. It is trusted only if every stamp still matches.
 */
export interface ResumeRecord {
  readonly version: 1;
  readonly pieceLength: number;
  readonly totalLength: number;
  /** Verified pieces, in wire bitfield form. */
  readonly have: Uint8Array;
  readonly files: readonly (FileStamp | null)[];
  readonly parts: FileStamp | null;
  /** Written blocks of unfinished pieces, each a bitfield over the piece's 16 KiB blocks. */
  readonly partial: readonly { readonly piece: number; readonly blocks: Uint8Array }[];
}

/** A ResumeRecord as plain bencodable data: integers, byte strings, lists and string-keyed dicts. */
export interface ResumeData {
  readonly version: number;
  readonly 'piece length': number;
  readonly 'total length': number;
  readonly have: Uint8Array;
  /** Per file: [size, mtime ms], or [] when the file does not exist. */
  readonly files: readonly (readonly number[])[];
  readonly parts: readonly number[];
  readonly partial: readonly { readonly piece: number; readonly blocks: Uint8Array }[];
}

const stampToList = (s: FileStamp | null): number[] => (s === null ? [] : [s.size, s.mtimeMs]);

/** Turns a record into plain data for bencode (or JSON with the byte strings handled). */
export function encodeResume(record: ResumeRecord): ResumeData {
  return {
    version: record.version,
    'piece length': record.pieceLength,
    'total length': record.totalLength,
    have: record.have,
    files: record.files.map(stampToList),
    parts: stampToList(record.parts),
    partial: record.partial.map((p) => ({ piece: p.piece, blocks: p.blocks })),
  };
}

function bad(message: string): StorageError {
  return new StorageError('BAD_RESUME', `resume data: ${message}`, { operation: 'resume' });
}

/** Looks a key up in a plain object or in anything with get(key) (a Map, a decoded bencode dict). */
function field(obj: unknown, key: string): unknown {
  if (typeof obj !== 'object' || obj === null) throw bad('expected a dictionary');
  const getter = (obj as { get?: unknown }).get;
  if (typeof getter === 'function') return (getter as (k: string) => unknown).call(obj, key);
  return (obj as Record<string, unknown>)[key];
}

function int(v: unknown, what: string): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw bad(`${what} must be a non-negative integer`);
  return n;
}

function bytes(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw bad(`${what} must be a byte string`);
  return v;
}

function list(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw bad(`${what} must be a list`);
  return v;
}

function stamp(v: unknown, what: string): FileStamp | null {
  const l = list(v, what);
  if (l.length === 0) return null;
  if (l.length !== 2) throw bad(`${what} must be [size, mtime] or []`);
  return { size: int(l[0], `${what} size`), mtimeMs: int(l[1], `${what} mtime`) };
}

/**
 * Reads plain resume data back (as produced by encodeResume, or as decoded by a bencode decoder:
 * dicts may be Map-like, integers bigint). Throws BAD_RESUME on anything malformed.
 */
export function decodeResume(data: unknown): ResumeRecord {
  // An already decoded ResumeRecord is validated the same way.
  if (typeof data === 'object' && data !== null && 'pieceLength' in data) return decodeResume(encodeResume(data as ResumeRecord));
  const version = int(field(data, 'version'), 'version');
  if (version !== 1) throw bad(`unsupported version ${version}`);
  const pieceLength = int(field(data, 'piece length'), 'piece length');
  const totalLength = int(field(data, 'total length'), 'total length');
  if (pieceLength === 0) throw bad('piece length must be positive');
  const pieceCount = Math.ceil(totalLength / pieceLength);
  const have = bytes(field(data, 'have'), 'have');
  try {
    Bitfield.fromBytes(have, pieceCount);
  } catch (err) {
    throw bad(`have: ${(err as Error).message}`);
  }
  const files = list(field(data, 'files'), 'files').map((f, i) => stamp(f, `files[${i}]`));
  const parts = stamp(field(data, 'parts'), 'parts');
  const partial = list(field(data, 'partial'), 'partial').map((p, i) => {
    const piece = int(field(p, 'piece'), `partial[${i}].piece`);
    if (piece >= pieceCount) throw bad(`partial[${i}].piece ${piece} is out of range`);
    return { piece, blocks: bytes(field(p, 'blocks'), `partial[${i}].blocks`) };
  });
  return { version: 1, pieceLength, totalLength, have: new Uint8Array(have), files, parts, partial };
}
