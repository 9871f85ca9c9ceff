import { TrackerError } from './errors.js';

/** Where a tiered request went: the URL that answered and the answer. */
export interface TierResult<T> {
  url: string;
  value: T;
}

/**
 * BEP 12 multitracker tiers: each tier is shuffled once (with the injected RNG), trackers are
 * tried tier by tier in order, and the one that answers moves to the front of its tier.
 */
export class TrackerTiers {
  readonly #tiers: string[][];

  /**
   * `announceList` (when non-empty) wins over `announce`, as BEP 12 says. Duplicate and empty URLs
   * are dropped, and so are empty tiers. Throws TrackerError `BAD_ARGUMENT` when no URL is left.
   */
  constructor(announce: string | undefined, announceList?: readonly (readonly string[])[], random: () => number = Math.random) {
    const seen = new Set<string>();
    const tiers: string[][] = [];
    const source = announceList && announceList.some((t) => t.length > 0) ? announceList : announce ? [[announce]] : [];
    for (const tier of source) {
      const urls = tier.filter((u) => typeof u === 'string' && u.length > 0 && !seen.has(u) && seen.add(u));
      if (urls.length === 0) continue;
      // Fisher-Yates with the injected RNG.
      for (let i = urls.length - 1; i > 0; i--) {
        const j = Math.min(i, Math.floor(random() * (i + 1)));
        [urls[i], urls[j]] = [urls[j]!, urls[i]!];
      }
      tiers.push(urls);
    }
    if (tiers.length === 0) throw new TrackerError('BAD_ARGUMENT', 'no tracker URL (announce and announce-list are empty)');
    // Exact-size copies: arrays grown by push() and filter() keep spare room (~150 B for a single
    // tracker), and a session holds these for every torrent.
    this.#tiers = tiers.map((t) => t.slice());
  }

  /** The tiers in their current order (copies). */
  get tiers(): string[][] {
    return this.#tiers.map((t) => [...t]);
  }

  /** Every URL, in the order they would be tried. */
  get urls(): string[] {
    return this.#tiers.flat();
  }

  /** Moves `url` to the front of its tier (BEP 12: after a successful reply). */
  promote(url: string): void {
    for (const tier of this.#tiers) {
      const i = tier.indexOf(url);
      if (i > 0) {
        tier.splice(i, 1);
        tier.unshift(url);
      }
      if (i >= 0) return;
    }
  }

  /**
   * Tries `attempt` on each URL in order until one resolves; that URL is promoted. Each failure is
   * passed to `onFailure`. When every URL fails, rejects with TrackerError `ALL_TRACKERS_FAILED`
   * whose `cause` is the last error. `shouldContinue` can stop the walk early (e.g. on abort).
   */
  async run<T>(
    attempt: (url: string) => Promise<T>,
    onFailure?: (url: string, error: unknown) => void,
    shouldContinue: () => boolean = () => true,
  ): Promise<TierResult<T>> {
    let last: unknown;
    const errors: string[] = [];
    for (const tier of this.#tiers) {
      for (const url of [...tier]) {
        if (!shouldContinue()) break;
        try {
          const value = await attempt(url);
          this.promote(url);
          return { url, value };
        } catch (e) {
          last = e;
          errors.push(e instanceof Error ? e.message : String(e));
          onFailure?.(url, e);
        }
      }
    }
    if (errors.length === 1 && last instanceof TrackerError) throw last;
    const summary = errors.length ? errors.join('; ') : 'no tracker tried';
    throw new TrackerError('ALL_TRACKERS_FAILED', `all ${this.urls.length} trackers failed: ${summary}`, '', { cause: last });
  }
}
