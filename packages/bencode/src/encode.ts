import { BencodeDict } from './dict.js';
import { BencodeError } from './types.js';

/** Bytes emitted verbatim by `encode`, e.g. an info dict kept exactly as it was read. */
export class Preencoded {
  constructor(readonly bytes: Uint8Array) {}
}

/**
 * What `encode` accepts: decoded values, plus JS conveniences. Strings become UTF-8 byte
 * strings, booleans become 1/0, Maps and plain objects become dicts (keys sorted by raw bytes),
 * object properties that are `undefined` are left out.
 */
export type Encodable =
  | number
  | bigint
  | boolean
  | string
  | Uint8Array
  | Preencoded
  | BencodeDict
  | readonly Encodable[]
  | ReadonlyMap<string | Uint8Array, Encodable>
  | { readonly [key: string]: Encodable | undefined };

const CH_i = 0x69;
const CH_l = 0x6c;
const CH_d = 0x64;
const CH_e = 0x65;
const CH_colon = 0x3a;

class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(b: number): void {
    this.reserve(1);
    this.buf[this.pos++] = b;
  }

  ascii(s: string): void {
    this.reserve(s.length);
    this.pos += this.buf.write(s, this.pos, 'latin1');
  }

  bytes(b: Uint8Array): void {
    this.ascii(String(b.length));
    this.byte(CH_colon);
    this.reserve(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  text(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.ascii(String(n));
    this.byte(CH_colon);
    this.reserve(n);
    this.pos += this.buf.write(s, this.pos, n, 'utf8');
  }
}

function compareKeys(a: [Uint8Array, unknown], b: [Uint8Array, unknown]): number {
  return Buffer.compare(a[0], b[0]);
}

function unencodable(what: string): never {
  throw new BencodeError('UNENCODABLE', -1, `cannot bencode ${what}`);
}

const keyBytesCache = new Map<string, Buffer>();

function keyBytes(key: string): Buffer {
  let bytes = keyBytesCache.get(key);
  if (!bytes) {
    bytes = Buffer.from(key, 'utf8');
    if (keyBytesCache.size < 4096) keyBytesCache.set(key, bytes);
  }
  return bytes;
}

function encodeInto(w: Writer, value: unknown, depth: number): void {
  if (depth > 1024) unencodable('a structure nested deeper than 1024 (is it cyclic?)');
  if (value instanceof Uint8Array) return w.bytes(value);
  switch (typeof value) {
    case 'string':
      return w.text(value);
    case 'number':
      if (!Number.isInteger(value)) unencodable(`the non-integer number ${value}`);
      w.byte(CH_i);
      w.ascii(value === 0 ? '0' : String(value));
      return w.byte(CH_e);
    case 'bigint':
      w.byte(CH_i);
      w.ascii(value.toString());
      return w.byte(CH_e);
    case 'boolean':
      w.byte(CH_i);
      w.byte(value ? 0x31 : 0x30);
      return w.byte(CH_e);
    case 'object':
      break;
    default:
      return unencodable(`a value of type ${typeof value}`);
  }
  if (value === null) return unencodable('null');
  if (Array.isArray(value)) {
    w.byte(CH_l);
    for (const item of value) encodeInto(w, item, depth + 1);
    return w.byte(CH_e);
  }
  if (value instanceof Preencoded) {
    w.reserve(value.bytes.length);
    w.buf.set(value.bytes, w.pos);
    w.pos += value.bytes.length;
    return;
  }
  let entries: [Uint8Array, unknown][];
  if (value instanceof BencodeDict) {
    entries = [...value.entries()];
  } else if (value instanceof Map) {
    entries = [];
    for (const [k, v] of value as Map<unknown, unknown>) {
      if (typeof k === 'string') entries.push([keyBytes(k), v]);
      else if (k instanceof Uint8Array) entries.push([k, v]);
      else unencodable(`a dictionary key of type ${typeof k}`);
    }
  } else if (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null) {
    entries = [];
    for (const k of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[k];
      if (v !== undefined) entries.push([keyBytes(k), v]);
    }
  } else {
    return unencodable(`an object of class ${value.constructor?.name ?? 'unknown'}`);
  }
  entries.sort(compareKeys);
  w.byte(CH_d);
  for (let i = 0; i < entries.length; i++) {
    const [k, v] = entries[i]!;
    if (i > 0 && Buffer.compare(entries[i - 1]![0], k) === 0) unencodable('a dictionary with a duplicate key');
    w.bytes(k);
    encodeInto(w, v, depth + 1);
  }
  w.byte(CH_e);
}

/**
 * Encodes a value canonically (dict keys in raw byte order). Returns a Buffer (a Uint8Array).
 * @throws BencodeError (code UNENCODABLE) for null, floats, symbols, functions, class instances.
 */
export function encode(value: Encodable): Buffer {
  const w = new Writer(1024);
  encodeInto(w, value, 0);
  return w.buf.subarray(0, w.pos);
}
