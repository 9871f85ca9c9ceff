// The BEP 5 routing table: buckets of K nodes by shared-prefix length with our id, where only the
// bucket that holds our own id splits; good / questionable / bad node states; a replacement cache
// per bucket. It holds only nodes that answered us (verified), never mere hearsay.
import { addressKey, type Address, type NodeInfo } from './compact.js';
import { commonPrefixBits, compareDistance, ID_BITS, randomIdAtDepth, sameBytes } from './id.js';

/** BEP 5's bucket size. */
export const K = 8;
/** A node unheard from for this long is questionable; a bucket unchanged for this long is refreshed. */
export const QUESTIONABLE_AFTER_MS = 15 * 60_000;
/** Failed queries in a row after which a node is bad. */
export const BAD_AFTER_FAILURES = 2;

export type NodeState = 'good' | 'questionable' | 'bad';

/** A node in the table, with what we know of its liveness. */
export interface TableNode extends NodeInfo {
  /** When it last answered one of our queries. */
  lastReply: number;
  /** When it last sent us a query (-Infinity: never). */
  lastQuery: number;
  /** Our queries to it that failed since its last answer. */
  failures: number;
}

interface Bucket {
  nodes: TableNode[];
  /** Verified nodes waiting for a slot, most recent last. */
  replacements: TableNode[];
  /** When a node was last added to it or answered from it. */
  lastChanged: number;
}

export interface RoutingTableOptions {
  /** Our node id. */
  readonly id: Uint8Array;
  /** Nodes per bucket (default K = 8). */
  readonly k?: number;
  /**
   * Accepts or refuses a node for the table (e.g. BEP 42's id check, one node per IP); refused
   * nodes are still usable in lookups.
   */
  readonly admit?: (node: NodeInfo) => boolean;
  /** Hosts for which the table keeps at most one node (libtorrent's `dht_restrict_routing_ips`). */
  readonly onePerHost?: (host: string) => boolean;
}

/** What `add` did with a node. */
export type AddResult =
  | { readonly added: true }
  /** The bucket is full of good or questionable nodes; `ping` is the one to check, if any. */
  | { readonly added: false; readonly ping?: TableNode; readonly reason: 'full' | 'refused' };

export interface TableStats {
  /** Nodes in the table, by state. */
  readonly good: number;
  readonly questionable: number;
  readonly bad: number;
  readonly buckets: number;
  readonly replacements: number;
}

export class RoutingTable {
  readonly id: Uint8Array;
  readonly k: number;
  readonly #admit: (node: NodeInfo) => boolean;
  readonly #onePerHost: (host: string) => boolean;
  /** Nodes per host, for onePerHost. */
  readonly #hosts = new Map<string, number>();
  readonly #buckets: Bucket[];
  /** Every node in a bucket (not replacements), by address. */
  readonly #byAddress = new Map<string, TableNode>();
  /** Addresses of replacement entries, so they are not duplicated. */
  readonly #replacementAddresses = new Set<string>();

  constructor(options: RoutingTableOptions, now = 0) {
    this.id = options.id;
    this.k = options.k ?? K;
    this.#admit = options.admit ?? (() => true);
    this.#onePerHost = options.onePerHost ?? (() => false);
    this.#buckets = [{ nodes: [], replacements: [], lastChanged: now }];
  }

  get size(): number {
    return this.#byAddress.size;
  }

  /** The node at `addr`, if it is in the table. */
  get(addr: Address): TableNode | undefined {
    return this.#byAddress.get(addressKey(addr));
  }

  state(node: TableNode, now: number): NodeState {
    if (node.failures >= BAD_AFTER_FAILURES) return 'bad';
    if (now - node.lastReply < QUESTIONABLE_AFTER_MS) return 'good';
    // BEP 5: one that has answered before (all in the table have) and queried us within 15 minutes is good too.
    if (now - node.lastQuery < QUESTIONABLE_AFTER_MS) return 'good';
    return 'questionable';
  }

  #bucketIndex(id: Uint8Array): number {
    return Math.min(commonPrefixBits(this.id, id), this.#buckets.length - 1);
  }

  /**
   * A node answered one of our queries: refresh it, or add it (splitting our own bucket, or taking
   * the place of a bad node). When the bucket is full it goes to the replacement cache and the
   * least recently heard questionable node is returned for the caller to ping.
   */
  heardFrom(node: NodeInfo, now: number): AddResult {
    if (sameBytes(node.id, this.id)) return { added: false, reason: 'refused' };
    const key = addressKey(node);
    const known = this.#byAddress.get(key);
    if (known) {
      if (sameBytes(known.id, node.id)) {
        known.lastReply = now;
        known.failures = 0;
        this.#buckets[this.#bucketIndex(known.id)]!.lastChanged = now;
        return { added: true };
      }
      // Same address, new id (libtorrent does the same): the old entry goes.
      this.remove(known);
    }
    if (!this.#admits(node)) return { added: false, reason: 'refused' };
    const entry: TableNode = { id: Uint8Array.from(node.id), host: node.host, port: node.port, lastReply: now, lastQuery: -Infinity, failures: 0 };
    for (;;) {
      const index = this.#bucketIndex(entry.id);
      const bucket = this.#buckets[index]!;
      if (bucket.nodes.length < this.k) {
        this.#insert(bucket, entry, now);
        return { added: true };
      }
      if (index === this.#buckets.length - 1 && this.#buckets.length < ID_BITS) {
        this.#split();
        continue;
      }
      const bad = bucket.nodes.find((n) => this.state(n, now) === 'bad');
      if (bad) {
        this.remove(bad);
        this.#insert(bucket, entry, now);
        return { added: true };
      }
      this.#addReplacement(bucket, entry);
      let oldest: TableNode | undefined;
      for (const n of bucket.nodes) {
        if (this.state(n, now) === 'questionable' && (!oldest || n.lastReply < oldest.lastReply)) oldest = n;
      }
      return oldest ? { added: false, reason: 'full', ping: oldest } : { added: false, reason: 'full' };
    }
  }

  #admits(node: NodeInfo): boolean {
    if (this.#onePerHost(node.host) && this.#hosts.has(node.host)) return false;
    return this.#admit(node);
  }

  /** Whether `heardFrom(node)` would put it in the table now (or make room for it by a ping): worth verifying. */
  wouldTake(node: NodeInfo, now: number): boolean {
    if (sameBytes(node.id, this.id) || this.#byAddress.has(addressKey(node)) || !this.#admits(node)) return false;
    const index = this.#bucketIndex(node.id);
    const bucket = this.#buckets[index]!;
    if (bucket.nodes.length < this.k || (index === this.#buckets.length - 1 && this.#buckets.length < ID_BITS)) return true;
    return bucket.nodes.some((n) => this.state(n, now) !== 'good');
  }

  /** A node in the table sent us a query (keeps a node that answered before good, BEP 5). */
  queriedBy(addr: Address, id: Uint8Array, now: number): void {
    const n = this.#byAddress.get(addressKey(addr));
    if (n && sameBytes(n.id, id)) n.lastQuery = now;
  }

  /** A query to `addr` timed out; a node that turns bad gives its slot to the newest replacement. */
  failed(addr: Address, now: number): void {
    const n = this.#byAddress.get(addressKey(addr));
    if (!n) return;
    n.failures++;
    if (this.state(n, now) !== 'bad') return;
    const bucket = this.#buckets[this.#bucketIndex(n.id)]!;
    const replacement = bucket.replacements.pop();
    if (!replacement) return; // keep the bad node until something better comes (it may be back)
    this.#replacementAddresses.delete(addressKey(replacement));
    this.remove(n);
    this.#insert(bucket, replacement, now);
  }

  remove(node: NodeInfo): void {
    const key = addressKey(node);
    const n = this.#byAddress.get(key);
    if (!n) return;
    const bucket = this.#buckets[this.#bucketIndex(n.id)]!;
    const i = bucket.nodes.indexOf(n);
    if (i >= 0) bucket.nodes.splice(i, 1);
    this.#byAddress.delete(key);
    const left = (this.#hosts.get(n.host) ?? 1) - 1;
    if (left > 0) this.#hosts.set(n.host, left);
    else this.#hosts.delete(n.host);
  }

  #insert(bucket: Bucket, entry: TableNode, now: number): void {
    bucket.nodes.push(entry);
    bucket.lastChanged = now;
    this.#byAddress.set(addressKey(entry), entry);
    this.#hosts.set(entry.host, (this.#hosts.get(entry.host) ?? 0) + 1);
    this.#dropReplacement(entry);
  }

  #addReplacement(bucket: Bucket, entry: TableNode): void {
    const key = addressKey(entry);
    if (this.#replacementAddresses.has(key)) this.#dropReplacement(entry);
    bucket.replacements.push(entry);
    this.#replacementAddresses.add(key);
    if (bucket.replacements.length > this.k) this.#replacementAddresses.delete(addressKey(bucket.replacements.shift()!));
  }

  #dropReplacement(entry: NodeInfo): void {
    const key = addressKey(entry);
    if (!this.#replacementAddresses.has(key)) return;
    for (const b of this.#buckets) {
      const i = b.replacements.findIndex((r) => addressKey(r) === key);
      if (i >= 0) {
        b.replacements.splice(i, 1);
        break;
      }
    }
    this.#replacementAddresses.delete(key);
  }

  /** Splits the last bucket (the one holding our id) in two. */
  #split(): void {
    const last = this.#buckets[this.#buckets.length - 1]!;
    const depth = this.#buckets.length - 1;
    const near: Bucket = { nodes: [], replacements: [], lastChanged: last.lastChanged };
    const far: Bucket = { nodes: [], replacements: [], lastChanged: last.lastChanged };
    for (const n of last.nodes) (commonPrefixBits(this.id, n.id) > depth ? near : far).nodes.push(n);
    for (const n of last.replacements) (commonPrefixBits(this.id, n.id) > depth ? near : far).replacements.push(n);
    this.#buckets[depth] = far;
    this.#buckets.push(near);
  }

  /** The `count` nodes closest to `target`, closest first, bad ones left out. */
  closest(target: Uint8Array, count: number, now: number): TableNode[] {
    // Buckets nearer the target's prefix hold the closer nodes; gather until enough, then sort.
    // A table holds at most ~160·K nodes: sorting them all is simple and cheap enough.
    const all: TableNode[] = [];
    for (const b of this.#buckets) for (const n of b.nodes) if (this.state(n, now) !== 'bad') all.push(n);
    all.sort((a, b) => compareDistance(target, a.id, b.id));
    return all.slice(0, count);
  }

  /** Every node in the table. */
  nodes(): TableNode[] {
    return this.#buckets.flatMap((b) => b.nodes);
  }

  /** Random targets for buckets unchanged since `before` (one per bucket, for find_node refreshes). */
  staleBuckets(before: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    this.#buckets.forEach((b, i) => {
      // Depth i lands in bucket i, the last (our own) bucket included.
      if (b.lastChanged <= before) out.push(randomIdAtDepth(this.id, i));
    });
    return out;
  }

  /**
   * Kademlia's join: one random target for each depth short of our closest neighbour's that holds
   * fewer than K nodes. By depth, not by bucket, so a table that has not split yet gets them too.
   */
  sparseDepths(): Uint8Array[] {
    const counts: number[] = [];
    let deepest = -1;
    for (const n of this.#byAddress.values()) {
      const d = commonPrefixBits(this.id, n.id);
      counts[d] = (counts[d] ?? 0) + 1;
      deepest = Math.max(deepest, d);
    }
    const out: Uint8Array[] = [];
    for (let d = 0; d < deepest; d++) if ((counts[d] ?? 0) < this.k) out.push(randomIdAtDepth(this.id, d));
    return out;
  }

  /** Marks the bucket that `target` falls in as refreshed. */
  touchBucket(target: Uint8Array, now: number): void {
    this.#buckets[this.#bucketIndex(target)]!.lastChanged = now;
  }

  /** The questionable nodes: to be pinged. */
  questionable(now: number): TableNode[] {
    return this.nodes().filter((n) => this.state(n, now) === 'questionable');
  }

  stats(now: number): TableStats {
    let good = 0;
    let questionable = 0;
    let bad = 0;
    let replacements = 0;
    for (const b of this.#buckets) {
      replacements += b.replacements.length;
      for (const n of b.nodes) {
        const s = this.state(n, now);
        if (s === 'good') good++;
        else if (s === 'questionable') questionable++;
        else bad++;
      }
    }
    return { good, questionable, bad, buckets: this.#buckets.length, replacements };
  }
}
