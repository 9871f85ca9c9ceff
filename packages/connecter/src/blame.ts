import type { SwarmPeer } from './swarm-peer.js';

/** Recent failed pieces with several senders remembered for clearing the co-senders of a banned peer. */
const MAX_SHARED_FAILURES = 256;

/** What a failed piece comes to: who sent data for it, and whom to ban for it (with the reason). */
export interface FailedPiece {
  readonly senders: SwarmPeer[];
  readonly bans: { key: string; reason: string }[];
}

/**
 * Hash-failure blame and bans for one swarm: who sent data for each piece in progress, failed
 * and verified pieces per ban key (not per connection: reconnecting does not wipe the slate),
 * and the decision whom to ban. The sole sender of a bad piece is banned at once; a shared one
 * after `banAfterHashFails`, worst first; a ban clears its co-senders of the failures they
 * shared with it, and a piece a banned peer had a hand in counts against it alone.
 */
export class Blame {
  readonly #contributors = new Map<number, Set<SwarmPeer>>();
  readonly #banned = new Set<string>();
  /** Failed pieces each ban key sent data for. */
  readonly #failsByKey = new Map<string, number>();
  /** Ban keys of the senders of recent failed pieces that had more than one sender (see ban). */
  readonly #sharedFailures: Set<string>[] = [];
  /** Verified pieces each ban key sent data for: breaks ties in shared blame. */
  readonly #goodByKey = new Map<string, number>();

  constructor(private readonly banAfterHashFails: number) {}

  isBanned(key: string): boolean {
    return this.#banned.has(key);
  }

  /** `peer` sent an accepted block of piece `index`. */
  sent(index: number, peer: SwarmPeer): void {
    let senders = this.#contributors.get(index);
    if (!senders) this.#contributors.set(index, (senders = new Set()));
    senders.add(peer);
  }

  /** Piece `index` verified: a good mark for each ban key that sent data for it. */
  verified(index: number): void {
    for (const key of new Set([...(this.#contributors.get(index) ?? [])].map((p) => p.banKey))) {
      this.#goodByKey.set(key, (this.#goodByKey.get(key) ?? 0) + 1);
    }
    this.#contributors.delete(index);
  }

  /**
   * Piece `index` failed its hash check: counts it against its senders (their `hashFails` are
   * updated) and says whom to ban. The caller applies the bans (`ban`), worst offender first.
   */
  failed(index: number): FailedPiece {
    const senders = [...(this.#contributors.get(index) ?? [])];
    this.#contributors.delete(index);
    const keys = [...new Set(senders.map((p) => p.banKey))];
    // A piece a banned peer had a hand in is blamed on that peer alone: a fast corrupt peer mixes
    // its blocks into pieces honest peers also send, and those must not count against them.
    if (keys.some((k) => this.#banned.has(k))) return { senders, bans: [] };
    for (const key of keys) this.#failsByKey.set(key, (this.#failsByKey.get(key) ?? 0) + 1);
    for (const p of senders) p.hashFails = this.#failsByKey.get(p.banKey) ?? 0;
    if (keys.length > 1) {
      this.#sharedFailures.push(new Set(keys));
      if (this.#sharedFailures.length > MAX_SHARED_FAILURES) this.#sharedFailures.shift();
    }
    // The only sender of a bad piece is certainly to blame; a shared one after repeated failures.
    // Worst first (most failures, then fewest verified pieces): its ban clears its co-senders of
    // the failures they shared with it, so an honest peer is not banned along with it. Peers
    // that cannot be told apart are banned together.
    const threshold = keys.length === 1 ? 1 : this.banAfterHashFails;
    const fails = (k: string): number => this.#failsByKey.get(k) ?? 0;
    const good = (k: string): number => this.#goodByKey.get(k) ?? 0;
    const bans: { key: string; reason: string }[] = [];
    for (;;) {
      const over = keys.filter((k) => !this.#banned.has(k) && fails(k) >= threshold);
      if (over.length === 0) break;
      const most = Math.max(...over.map(fails));
      const least = Math.min(...over.filter((k) => fails(k) === most).map(good));
      for (const key of over.filter((k) => fails(k) === most && good(k) === least)) {
        const reason = `sent data for ${most} piece(s) that failed the hash check`;
        if (this.ban(key)) bans.push({ key, reason });
      }
    }
    return { senders, bans };
  }

  /** Records a ban (false if it was one already); failed pieces shared with it are its fault, not its co-senders'. */
  ban(key: string): boolean {
    if (this.#banned.has(key)) return false;
    this.#banned.add(key);
    for (let i = this.#sharedFailures.length - 1; i >= 0; i--) {
      const keys = this.#sharedFailures[i]!;
      if (!keys.has(key)) continue;
      this.#sharedFailures.splice(i, 1);
      for (const other of keys) {
        const fails = this.#failsByKey.get(other);
        if (other !== key && fails !== undefined) this.#failsByKey.set(other, Math.max(0, fails - 1));
      }
    }
    return true;
  }
}
