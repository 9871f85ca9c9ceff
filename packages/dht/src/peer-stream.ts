import type { Peer } from './compact.js';

/**
 * The peers one get_peers search finds, as an async iterable that ends when the search does.
 * Duplicates are dropped and at most `max` peers are kept, so a hostile node cannot fill memory.
 */
export class PeerStream implements AsyncIterable<Peer> {
  readonly #seen = new Set<string>();
  readonly #buffer: Peer[] = [];
  readonly #max: number;
  #waiter: (() => void) | undefined;
  #ended = false;

  constructor(max: number) {
    this.#max = max;
  }

  /** Peers found so far, in order. */
  get found(): readonly Peer[] {
    return this.#buffer;
  }

  /** Adds new peers; returns those that were new. */
  push(peers: readonly Peer[]): Peer[] {
    const fresh: Peer[] = [];
    for (const p of peers) {
      if (this.#ended || this.#buffer.length >= this.#max) break;
      if (p.port === 0) continue;
      const key = `${p.host}|${p.port}`;
      if (this.#seen.has(key)) continue;
      this.#seen.add(key);
      this.#buffer.push(p);
      fresh.push(p);
    }
    if (fresh.length > 0) this.#wake();
    return fresh;
  }

  end(): void {
    this.#ended = true;
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Peer> {
    let i = 0;
    for (;;) {
      while (i < this.#buffer.length) yield this.#buffer[i++]!;
      if (this.#ended) return;
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
  }
}
