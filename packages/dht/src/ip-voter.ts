// Our external IP, learned from the `ip` field (BEP 42) of the replies we get: each responding IP
// has one vote (its latest), the table of voters is bounded, and an address wins once at least
// `minVotes` distinct voters agree and it has a majority.

export class IpVoter {
  readonly #votes = new Map<string, string>();
  readonly #maxVoters: number;
  readonly #minVotes: number;
  #winner: string | undefined;

  constructor(minVotes = 3, maxVoters = 64) {
    this.#minVotes = minVotes;
    this.#maxVoters = maxVoters;
  }

  get address(): string | undefined {
    return this.#winner;
  }

  /** Records that `voter` saw us as `address`; returns the new winner when it changed. */
  vote(voter: string, address: string): string | undefined {
    this.#votes.delete(voter);
    this.#votes.set(voter, address);
    if (this.#votes.size > this.#maxVoters) this.#votes.delete(this.#votes.keys().next().value!);
    const tally = new Map<string, number>();
    for (const a of this.#votes.values()) tally.set(a, (tally.get(a) ?? 0) + 1);
    let best: string | undefined;
    let bestVotes = 0;
    for (const [a, n] of tally) if (n > bestVotes) [best, bestVotes] = [a, n];
    if (best === undefined || bestVotes < this.#minVotes || bestVotes * 2 <= this.#votes.size || best === this.#winner) return undefined;
    this.#winner = best;
    return best;
  }
}
