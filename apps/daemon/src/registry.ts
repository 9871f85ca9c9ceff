/** What the registry needs of an entry: its id and the info-hash of its record. */
export interface Registered {
  readonly id: number;
  readonly record: { readonly infoHash: string };
}

/** How long a removed id is reported by `recently-active` (Transmission: one minute). */
const RECENT_MS = 60_000;

/**
 * The daemon's ids ↔ torrents: small ids stable for the daemon's lifetime, in the order of adding,
 * looked up by id or info-hash, and the ids removed in the last minute. By id it is a plain list
 * in id order (ids only grow), searched by halves: no second hash table per torrent.
 */
export class Registry<E extends Registered> {
  /** Every entry, in increasing id order. */
  readonly #list: E[] = [];
  readonly #byHash = new Map<string, E>();
  #nextId = 1;
  #removed: { id: number; at: number }[] = [];

  /** A new id, never handed out before in this daemon's life. */
  allocate(): number {
    return this.#nextId++;
  }

  /** Lists `entry` under its id and hash (replacing what was there: a magnet becoming its torrent). */
  set(entry: E): void {
    const i = this.#indexOf(entry.id);
    if (this.#list[i]?.id === entry.id) this.#list[i] = entry;
    else this.#list.splice(i, 0, entry);
    // toLowerCase of a lower-case hash is the same string: the key is the record's, no copy.
    this.#byHash.set(entry.record.infoHash.toLowerCase(), entry);
  }

  /** Drops `entry` if it is the one listed under its id; false when it was not (removed already). */
  delete(entry: E, nowMs: number): boolean {
    const i = this.#indexOf(entry.id);
    if (this.#list[i] !== entry) return false;
    this.#list.splice(i, 1);
    this.#byHash.delete(entry.record.infoHash.toLowerCase());
    this.#removed.push({ id: entry.id, at: nowMs });
    return true;
  }

  /** A copy of the list, in id order (callers may sort it). */
  get entries(): E[] {
    return this.#list.slice();
  }

  get size(): number {
    return this.#list.length;
  }

  byId(id: number): E | undefined {
    const e = this.#list[this.#indexOf(id)];
    return e?.id === id ? e : undefined;
  }

  byHash(infoHash: string): E | undefined {
    return this.#byHash.get(infoHash.toLowerCase());
  }

  /** Whether `entry` is still the one listed under its id. */
  holds(entry: E): boolean {
    return this.byId(entry.id) === entry;
  }

  /** Where `id` is in the list, or where it would go. */
  #indexOf(id: number): number {
    let lo = 0;
    let hi = this.#list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#list[mid]!.id < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Ids removed in the last minute before `nowMs`. */
  recentlyRemoved(nowMs: number): number[] {
    this.#removed = this.#removed.filter((r) => r.at >= nowMs - RECENT_MS);
    return this.#removed.map((r) => r.id);
  }
}
