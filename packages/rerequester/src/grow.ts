/**
 * `list` with `items` added, in a new array of exactly that size: push() and spreads leave room
 * for ~16 more (~150 B), and an announcer's few small lists are kept for every torrent of a session.
 */
export function grown<T>(list: readonly T[] | undefined, ...items: T[]): T[] {
  return list ? list.concat(items) : items;
}
