import type { BencodeValue } from './types.js';
import { keyIdOfBytes, toBytes } from './text.js';

/** A bencode key given as text (UTF-8) or as raw bytes. */
export type BencodeKey = string | Uint8Array;

function idOf(key: BencodeKey): string {
  return typeof key === 'string' ? key : keyIdOfBytes(key);
}

/**
 * A bencode dictionary. Keys are byte strings kept byte-exact (keys that are not UTF-8
 * round-trip); look them up by text or by bytes. Values decoded from input remember their
 * raw byte span, so callers can hash the original bytes (the info-hash) instead of a re-encoding.
 */
export class BencodeDict implements Iterable<[Uint8Array, BencodeValue]> {
  // Parallel arrays instead of a Map of entry objects: decoded torrents hold thousands of
  // two-key dicts, and this layout allocates a fraction of what a Map per dict would.
  readonly #ids: string[] = [];
  readonly #values: BencodeValue[] = [];
  /** Per entry: keyStart, keyEnd, valueStart, valueEnd in #source; -1s when set by hand. */
  readonly #spans: number[] = [];
  /** Key bytes, made on demand from the spans (most dicts are only looked up by text). */
  #keys: (Uint8Array | undefined)[] | undefined;
  /** id → position, built only for large dicts. */
  #index: Map<string, number> | undefined;
  /** The decoded input, when this dict came from `decode`; spans index into it. */
  #source: Uint8Array | undefined;

  constructor(entries?: Iterable<readonly [BencodeKey, BencodeValue]>) {
    if (entries) for (const [k, v] of entries) this.set(k, v);
  }

  /** @internal used by the decoder: appends an entry (strict input has no duplicate keys). */
  _append(id: string, keyStart: number, keyEnd: number, value: BencodeValue, start: number, end: number, source: Uint8Array): void {
    this.#source = source;
    this.#index?.set(id, this.#ids.length);
    this.#ids.push(id);
    this.#values.push(value);
    this.#spans.push(keyStart, keyEnd, start, end);
    this.#keys?.push(undefined);
  }

  /** @internal used by the lenient decoder: a later duplicate key replaces the earlier value. */
  _put(id: string, keyStart: number, keyEnd: number, value: BencodeValue, start: number, end: number, source: Uint8Array): void {
    const i = this.#find(id);
    if (i < 0) return this._append(id, keyStart, keyEnd, value, start, end, source);
    this.#values[i] = value;
    this.#spans.splice(i * 4, 4, keyStart, keyEnd, start, end);
  }

  #find(id: string): number {
    const ids = this.#ids;
    if (ids.length <= 8) return ids.indexOf(id);
    if (!this.#index) this.#index = new Map(ids.map((k, i) => [k, i]));
    return this.#index.get(id) ?? -1;
  }

  #keyAt(i: number): Uint8Array {
    this.#keys ??= new Array<Uint8Array | undefined>(this.#ids.length);
    let key = this.#keys[i];
    if (!key) {
      key = this.#source!.subarray(this.#spans[i * 4]!, this.#spans[i * 4 + 1]!);
      this.#keys[i] = key;
    }
    return key;
  }

  get size(): number {
    return this.#ids.length;
  }

  get(key: BencodeKey): BencodeValue | undefined {
    const i = this.#find(idOf(key));
    return i < 0 ? undefined : this.#values[i];
  }

  has(key: BencodeKey): boolean {
    return this.#find(idOf(key)) >= 0;
  }

  set(key: BencodeKey, value: BencodeValue): this {
    const bytes = typeof key === 'string' ? toBytes(key) : key;
    const id = idOf(key);
    let i = this.#find(id);
    if (i < 0) {
      i = this.#ids.length;
      this.#index?.set(id, i);
      this.#ids.push(id);
      this.#values.push(value);
      this.#spans.push(-1, -1, -1, -1);
    } else {
      this.#values[i] = value;
      this.#spans.splice(i * 4, 4, -1, -1, -1, -1);
    }
    this.#keys ??= new Array<Uint8Array | undefined>(this.#ids.length);
    this.#keys[i] = bytes;
    return this;
  }

  delete(key: BencodeKey): boolean {
    const i = this.#find(idOf(key));
    if (i < 0) return false;
    this.#ids.splice(i, 1);
    this.#values.splice(i, 1);
    this.#spans.splice(i * 4, 4);
    this.#keys?.splice(i, 1);
    this.#index = undefined;
    return true;
  }

  /**
   * The exact bytes the value of `key` had in the decoded input (a view, not a copy), or
   * undefined when the key is absent or its value was set after decoding.
   */
  raw(key: BencodeKey): Uint8Array | undefined {
    const span = this.span(key);
    return span && this.#source?.subarray(span.start, span.end);
  }

  /** Byte span [start, end) of the value of `key` in the decoded input. */
  span(key: BencodeKey): { start: number; end: number } | undefined {
    const i = this.#find(idOf(key));
    if (i < 0 || this.#spans[i * 4 + 2]! < 0) return undefined;
    return { start: this.#spans[i * 4 + 2]!, end: this.#spans[i * 4 + 3]! };
  }

  /** Keys as raw bytes, in insertion order (sorted order for strictly decoded input). */
  *keys(): IterableIterator<Uint8Array> {
    for (let i = 0; i < this.#ids.length; i++) yield this.#keyAt(i);
  }

  *values(): IterableIterator<BencodeValue> {
    yield* this.#values;
  }

  *entries(): IterableIterator<[Uint8Array, BencodeValue]> {
    for (let i = 0; i < this.#ids.length; i++) yield [this.#keyAt(i), this.#values[i]!];
  }

  [Symbol.iterator](): IterableIterator<[Uint8Array, BencodeValue]> {
    return this.entries();
  }
}
