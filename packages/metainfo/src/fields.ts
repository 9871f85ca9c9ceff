import { BencodeDict, isBytes, isDict, isList, toText, type BencodeValue } from '@mainline/bencode';
import { MetainfoError } from './errors.js';

/** Joins a parent path and a key: `info` + `files` → `info.files`. */
export function at(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent ? `${parent}.${key}` : key;
}

export function kind(v: BencodeValue | undefined): string {
  if (v === undefined) return 'nothing';
  if (isBytes(v)) return 'a byte string';
  if (isList(v)) return 'a list';
  if (isDict(v)) return 'a dictionary';
  return 'an integer';
}

export function asDict(v: BencodeValue | undefined, path: string): BencodeDict {
  if (!isDict(v)) throw new MetainfoError('NOT_A_DICT', path, `expected a dictionary, found ${kind(v)}`);
  return v;
}

function wrongType(path: string, what: string, v: BencodeValue): never {
  throw new MetainfoError('WRONG_TYPE', path, `expected ${what}, found ${kind(v)}`);
}

function missing(path: string): never {
  throw new MetainfoError('MISSING_FIELD', path, 'required field is missing');
}

/** A bencode integer as a JS number, range-checked; bigints beyond 2^53 are TOO_LARGE. */
export function intValue(v: BencodeValue, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v === 'bigint') {
    if (v < BigInt(min)) throw new MetainfoError('BAD_INTEGER', path, `must be at least ${min}, found ${v}`);
    throw new MetainfoError('TOO_LARGE', path, `${v} is larger than ${max}`);
  }
  if (typeof v !== 'number') return wrongType(path, 'an integer', v);
  if (v < min) throw new MetainfoError('BAD_INTEGER', path, `must be at least ${min}, found ${v}`);
  if (v > max) {
    const code = max === Number.MAX_SAFE_INTEGER ? 'TOO_LARGE' : 'BAD_INTEGER';
    throw new MetainfoError(code, path, `must be at most ${max}, found ${v}`);
  }
  return v;
}

export function reqInt(d: BencodeDict, key: string, path: string, min: number, max?: number): number {
  const v = d.get(key);
  if (v === undefined) return missing(at(path, key));
  return intValue(v, at(path, key), min, max);
}

export function optInt(d: BencodeDict, key: string, path: string, min: number, max?: number): number | undefined {
  const v = d.get(key);
  return v === undefined ? undefined : intValue(v, at(path, key), min, max);
}

export function bytesValue(v: BencodeValue, path: string): Uint8Array {
  if (!isBytes(v)) return wrongType(path, 'a byte string', v);
  return v;
}

export function reqBytes(d: BencodeDict, key: string, path: string): Uint8Array {
  const v = d.get(key);
  if (v === undefined) return missing(at(path, key));
  return bytesValue(v, at(path, key));
}

export function optBytes(d: BencodeDict, key: string, path: string): Uint8Array | undefined {
  const v = d.get(key);
  return v === undefined ? undefined : bytesValue(v, at(path, key));
}

export function optText(d: BencodeDict, key: string, path: string): string | undefined {
  const b = optBytes(d, key, path);
  return b === undefined ? undefined : toText(b);
}

export function listValue(v: BencodeValue, path: string): BencodeValue[] {
  if (!isList(v)) return wrongType(path, 'a list', v);
  return v;
}

export function reqList(d: BencodeDict, key: string, path: string): BencodeValue[] {
  const v = d.get(key);
  if (v === undefined) return missing(at(path, key));
  return listValue(v, at(path, key));
}
