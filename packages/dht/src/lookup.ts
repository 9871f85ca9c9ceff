// The iterative lookup of BEP 5 / Kademlia: keep the candidates sorted by XOR distance to the
// target, query the α closest not yet asked, merge the nodes they return, and stop once the K
// closest that are alive have all answered. Bounded in queries and time.
import type { Clock, TimerHandle } from '@mainline/rate';
import { addressKey, type NodeInfo, type Peer } from './compact.js';
import { compareDistance, sameBytes, toHex } from './id.js';
import type { Response } from './krpc.js';
import type { QueryOutcome } from './transactions.js';

export interface LookupParams {
  readonly target: Uint8Array;
  readonly k: number;
  readonly alpha: number;
  /** Queries sent at most. */
  readonly maxQueries: number;
  /** The whole lookup ends after this. */
  readonly timeoutMs: number;
  /** A query unanswered this long no longer holds one of the α slots (libtorrent's short timeout). */
  readonly slowMs: number;
  /** Candidates kept at most (the closest). */
  readonly maxCandidates: number;
  /** Sends the query to `node`; `done` is called once with the outcome. */
  readonly query: (node: NodeInfo, done: (outcome: QueryOutcome) => void) => void;
  /** The nodes a response points to (`nodes` or `nodes6`, as the family wants). */
  readonly nodesOf: (response: Response) => readonly NodeInfo[];
  readonly onPeers?: (peers: readonly Peer[], from: NodeInfo) => void;
  readonly onDone: (result: LookupResult) => void;
}

/** A node that answered, with the token it gave (get_peers). */
export interface Responder extends NodeInfo {
  readonly token?: Uint8Array;
}

export interface LookupResult {
  /** The K closest nodes that answered, closest first. */
  readonly closest: readonly Responder[];
  /** Queries sent, and answers received. */
  readonly queries: number;
  readonly responses: number;
  /** Depth of the deepest query: 1 when only the starting nodes were asked. */
  readonly rounds: number;
  readonly durationMs: number;
  /**
   * Why it ended: the K closest answered, nobody was left to ask, the query budget, the deadline,
   * cancelled, or never started because too many lookups were waiting.
   */
  readonly end: 'converged' | 'exhausted' | 'max-queries' | 'timeout' | 'cancelled' | 'overloaded';
}

type State = 'new' | 'pending' | 'slow' | 'answered' | 'failed';

interface Candidate {
  readonly node: NodeInfo;
  readonly depth: number;
  state: State;
  token?: Uint8Array;
  slowTimer?: TimerHandle;
}

export class Lookup {
  readonly #p: LookupParams;
  readonly #clock: Clock;
  readonly #started: number;
  readonly #candidates: Candidate[] = [];
  readonly #seen = new Set<string>();
  #queries = 0;
  #responses = 0;
  #rounds = 0;
  #active = 0; // pending and not yet slow
  #outstanding = 0; // pending or slow
  #finished = false;
  readonly #deadline: TimerHandle;

  constructor(clock: Clock, params: LookupParams, seeds: readonly NodeInfo[]) {
    this.#clock = clock;
    this.#p = params;
    this.#started = clock.now();
    this.#deadline = clock.setTimeout(() => this.#finish('timeout'), params.timeoutMs);
    this.#merge(seeds, 0);
    this.#step();
  }

  get finished(): boolean {
    return this.#finished;
  }

  cancel(): void {
    this.#finish('cancelled');
  }

  #merge(nodes: readonly NodeInfo[], depth: number): void {
    const target = this.#p.target;
    for (const node of nodes) {
      if (node.port === 0) continue;
      const key = addressKey(node);
      const idKey = toHex(node.id);
      if (this.#seen.has(key) || this.#seen.has(idKey)) continue;
      this.#seen.add(key);
      this.#seen.add(idKey);
      const c: Candidate = { node, depth, state: 'new' };
      // Binary search for the insertion point.
      let lo = 0;
      let hi = this.#candidates.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (compareDistance(target, this.#candidates[mid]!.node.id, node.id) <= 0) lo = mid + 1;
        else hi = mid;
      }
      if (lo >= this.#p.maxCandidates) continue;
      this.#candidates.splice(lo, 0, c);
      // The farthest goes; if it was in flight its answer still settles through its closure.
      if (this.#candidates.length > this.#p.maxCandidates) this.#candidates.pop();
    }
  }

  #step(): void {
    if (this.#finished) return;
    // The window is the K closest candidates still worth waiting for: failed ones and slow ones
    // (unanswered after slowMs) do not count, so a slow node lets the next one in.
    let inWindow = 0;
    let answered = 0;
    let blocked = false;
    for (const c of this.#candidates) {
      if (c.state === 'failed' || c.state === 'slow') continue;
      if (inWindow >= this.#p.k) break;
      inWindow++;
      if (c.state === 'answered') answered++;
      else if (c.state === 'new') {
        if (this.#queries >= this.#p.maxQueries) blocked = true;
        else if (this.#active < this.#p.alpha) this.#send(c);
        if (this.#finished) return;
      }
    }
    if (inWindow > 0 && answered === inWindow) return this.#finish('converged');
    if (this.#active > 0) return;
    if (blocked) return this.#finish('max-queries');
    // Nothing in the window is waiting: only slow queries (if any) can still change the result.
    if (this.#outstanding === 0) this.#finish(answered > 0 ? 'converged' : 'exhausted');
  }

  #send(c: Candidate): void {
    c.state = 'pending';
    this.#queries++;
    this.#active++;
    this.#outstanding++;
    this.#rounds = Math.max(this.#rounds, c.depth + 1);
    c.slowTimer = this.#clock.setTimeout(() => {
      if (c.state !== 'pending') return;
      c.state = 'slow';
      this.#active--;
      this.#step();
    }, this.#p.slowMs);
    this.#p.query(c.node, (outcome) => this.#settle(c, outcome));
  }

  #settle(c: Candidate, outcome: QueryOutcome): void {
    if (c.state !== 'pending' && c.state !== 'slow') return;
    if (c.state === 'pending') this.#active--;
    this.#outstanding--;
    if (c.slowTimer) this.#clock.clearTimeout(c.slowTimer);
    if (this.#finished) return;
    if (outcome.ok && sameBytes(outcome.response.id, c.node.id)) {
      c.state = 'answered';
      this.#responses++;
      const r = outcome.response;
      if (r.token) c.token = Uint8Array.from(r.token);
      if (r.values && r.values.length > 0) this.#p.onPeers?.(r.values, c.node);
      this.#merge(this.#p.nodesOf(r), c.depth + 1);
    } else {
      // An error, a timeout, or an answer under another id than the one we were told (stale or lying).
      c.state = 'failed';
    }
    this.#step();
  }

  #finish(end: LookupResult['end']): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#clock.clearTimeout(this.#deadline);
    for (const c of this.#candidates) if (c.slowTimer) this.#clock.clearTimeout(c.slowTimer);
    const closest: Responder[] = [];
    for (const c of this.#candidates) {
      if (closest.length >= this.#p.k) break;
      if (c.state === 'answered') closest.push(c.token ? { ...c.node, token: c.token } : c.node);
    }
    this.#p.onDone({
      closest,
      queries: this.#queries,
      responses: this.#responses,
      rounds: this.#rounds,
      durationMs: this.#clock.now() - this.#started,
      end,
    });
  }
}
