// Peers that others announced to us (announce_peer), with caps on every dimension so a hostile
// swarm cannot grow our memory: torrents, peers per torrent, age.
import { decodePeer, encodePeer, familyOf, type Family, type Peer } from './compact.js';
import { toHex } from './id.js';

export interface PeerStoreOptions {
  /** Info-hashes kept at most (default 2000); when full, announces for new ones are refused. */
  readonly maxTorrents?: number;
  /** Peers kept per info-hash and family (default 500, libtorrent's); when full a random one is replaced. */
  readonly maxPeersPerTorrent?: number;
  /** How long an announce is kept (default 30 min). */
  readonly peerTtlMs?: number;
  /** Values per get_peers reply at most (default 100 for IPv4, half that for IPv6 to stay under ~1 KB). */
  readonly maxValues?: number;
  /** Random source in [0, 1) (tests inject one). */
  readonly random?: () => number;
}

interface Stored {
  /** Compact address (6 or 18 bytes) → when it was announced. */
  readonly peers: Map<string, number>;
}

export class PeerStore {
  readonly maxTorrents: number;
  readonly maxPeersPerTorrent: number;
  readonly peerTtlMs: number;
  readonly maxValues: number;
  readonly #random: () => number;
  /** info-hash hex + family → its peers. */
  readonly #torrents = new Map<string, Stored>();
  #peerCount = 0;

  constructor(options: PeerStoreOptions = {}) {
    this.maxTorrents = options.maxTorrents ?? 2000;
    this.maxPeersPerTorrent = options.maxPeersPerTorrent ?? 500;
    this.peerTtlMs = options.peerTtlMs ?? 30 * 60_000;
    this.maxValues = options.maxValues ?? 100;
    this.#random = options.random ?? Math.random;
  }

  get torrents(): number {
    return this.#torrents.size;
  }

  get peers(): number {
    return this.#peerCount;
  }

  /** Whether an announce for `infoHash` would be kept (the store is not full, or already has it). */
  accepts(infoHash: Uint8Array, family: Family): boolean {
    return this.#torrents.has(key(infoHash, family)) || this.#torrents.size < this.maxTorrents;
  }

  /** Stores `peer` for `infoHash`; false when the store is full of other torrents. */
  add(infoHash: Uint8Array, peer: { host: string; port: number }, now: number): boolean {
    const family = familyOf(peer.host);
    const compact = family === undefined ? undefined : encodePeer(peer, family);
    if (!compact || family === undefined) return false;
    const k = key(infoHash, family);
    let stored = this.#torrents.get(k);
    if (!stored) {
      if (this.#torrents.size >= this.maxTorrents) return false;
      stored = { peers: new Map() };
      this.#torrents.set(k, stored);
    }
    const id = Buffer.from(compact).toString('latin1');
    if (!stored.peers.has(id)) {
      if (stored.peers.size >= this.maxPeersPerTorrent) {
        // Replace a random one: neither the first nor the latest announcers can hold the list.
        const victim = [...stored.peers.keys()][Math.floor(this.#random() * stored.peers.size)]!;
        stored.peers.delete(victim);
        this.#peerCount--;
      }
      this.#peerCount++;
    } else stored.peers.delete(id); // re-insert: Map order is announce order
    stored.peers.set(id, now);
    return true;
  }

  /** Up to `maxValues` peers announced for `infoHash` (a random window when there are more). */
  get(infoHash: Uint8Array, family: Family, now: number): Uint8Array[] {
    const stored = this.#torrents.get(key(infoHash, family));
    if (!stored) return [];
    this.#expire(stored, now);
    const limit = family === 4 ? this.maxValues : Math.max(1, this.maxValues >> 1);
    const all = [...stored.peers.keys()];
    const start = all.length > limit ? Math.floor(this.#random() * all.length) : 0;
    const out: Uint8Array[] = [];
    for (let i = 0; i < Math.min(limit, all.length); i++) out.push(Buffer.from(all[(start + i) % all.length]!, 'latin1'));
    return out;
  }

  /** The peers for `infoHash` as addresses (for tests and stats). */
  list(infoHash: Uint8Array, family: Family, now: number): Peer[] {
    return this.get(infoHash, family, now).map(decodePeer);
  }

  /** Drops every announce older than the TTL, and torrents left empty. */
  expire(now: number): void {
    for (const [k, stored] of this.#torrents) {
      this.#expire(stored, now);
      if (stored.peers.size === 0) this.#torrents.delete(k);
    }
  }

  #expire(stored: Stored, now: number): void {
    // Map order is announce order, so the expired ones are at the front.
    for (const [id, at] of stored.peers) {
      if (now - at < this.peerTtlMs) break;
      stored.peers.delete(id);
      this.#peerCount--;
    }
  }
}

const key = (infoHash: Uint8Array, family: Family): string => `${toHex(infoHash)}/${family}`;
