/** What the registry needs of an entry: its id and the info-hash of its record. */
export interface Registered {
  readonly id: number;
  readonly record: { readonly infoHash: string };
}

/** How long a removed id is reported by `recently-active` (Transmission: one minute). */
const RECENT_MS = 60_000;

/**
 * The daemon's ids ↔ torrents: small ids stable for the daemon's lifetime, in the order of adding,
 * looked up by id or info-hash, and the ids removed in the last minute.
 */
export class Registry<E extends Registered> {
  readonly #byId = new Map<number, E>();
  readonly #byHash = new Map<string, E>();
  #nextId = 1;
  #removed: { id: number; at: number }[] = [];

  /** A new id, never handed out before in this daemon's life. */
  allocate(): number {
    return this.#nextId++;
  }

  /** Lists `entry` under its id and hash (replacing what was there: a magnet becoming its torrent). */
  set(entry: E): void {
    this.#byId.set(entry.id, entry);
    this.#byHash.set(entry.record.infoHash.toLowerCase(), entry);
  }

  /** Drops `entry` if it is the one listed under its id; false when it was not (removed already). */
  delete(entry: E, nowMs: number): boolean {
    if (this.#byId.get(entry.id) !== entry) return false;
    this.#byId.delete(entry.id);
    this.#byHash.delete(entry.record.infoHash.toLowerCase());
    this.#removed.push({ id: entry.id, at: nowMs });
    return true;
  }

  get entries(): E[] {
    return [...this.#byId.values()];
  }

  get size(): number {
    return this.#byId.size;
  }

  byId(id: number): E | undefined {
    return this.#byId.get(id);
  }

  byHash(infoHash: string): E | undefined {
    return this.#byHash.get(infoHash.toLowerCase());
  }

  /** Whether `entry` is still the one listed under its id. */
  holds(entry: E): boolean {
    return this.#byId.get(entry.id) === entry;
  }

  /** Ids removed in the last minute before `nowMs`. */
  recentlyRemoved(nowMs: number): number[] {
    this.#removed = this.#removed.filter((r) => r.at >= nowMs - RECENT_MS);
    return this.#removed.map((r) => r.id);
  }
}
