import { BencodeError, decode, encode, isBytes, isDict, type BencodeValue } from '@mainline/bencode';
import { addressBytes } from '@mainline/rawserver';
import type { Clock, TimerHandle } from '@mainline/rate';
import { ProtocolError } from './errors.js';
import type { Extension, ExtensionPeer } from './extension-host.js';
import type { ExtensionHandshake } from './extension.js';
import type { PeerConnection } from './peer-connection.js';

/** The extension name in the BEP 10 `m` dictionary, and the id libtorrent and Transmission use for it. */
export const UT_PEX = 'ut_pex';
export const UT_PEX_ID = 1;

/** BEP 11 flags of an `added` entry. */
export const PexFlags = { encryption: 0x01, seed: 0x02, utp: 0x04, holepunch: 0x08, reachable: 0x10 } as const;

/** At most this many added and this many dropped entries per message (BEP 11). */
export const PEX_MAX_ENTRIES = 50;
/** One message per peer per this long at most, each way (BEP 11). */
export const PEX_INTERVAL_MS = 60_000;
/** A peer sending more than this many messages within PEX_INTERVAL_MS is dropped (libtorrent: the 7th). */
export const PEX_MAX_MESSAGES_PER_INTERVAL = 6;
/** Addresses taken from one peer over its connection (libtorrent's max_pex_peers). */
export const PEX_MAX_PEERS_PER_CONNECTION = 50;

/** One peer in a PEX message. */
export interface PexPeer {
  ip: string;
  port: number;
  /** PexFlags bits (0 for dropped entries). */
  flags: number;
}

export interface PexMessage {
  added: PexPeer[];
  dropped: PexPeer[];
}

/** A connected peer as PEX lists it (a swarm's PeerView has all of it). */
export interface PexCandidate {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly incoming: boolean;
  /** The port it listens on (its BEP 10 `p`), needed to list an incoming peer. */
  readonly listenPort: number | undefined;
  readonly seed: boolean;
  readonly transport: string;
  readonly peerId: Uint8Array | undefined;
}

const family = (ip: string): 4 | 6 | undefined => {
  const b = addressBytes(ip);
  return b?.length === 4 ? 4 : b?.length === 16 ? 6 : undefined;
};

function compact(peers: readonly PexPeer[], size: 6 | 18): Buffer {
  const out = Buffer.alloc(peers.length * size);
  peers.forEach((p, i) => {
    out.set(addressBytes(p.ip) as Uint8Array, i * size);
    out.writeUInt16BE(p.port, i * size + size - 2);
  });
  return out;
}

/** Bencodes a ut_pex message: all six keys, always (libtorrent ignores `added` without `added.f`). */
export function encodePex(msg: PexMessage): Buffer {
  const split = (list: readonly PexPeer[]) => ({
    v4: list.filter((p) => family(p.ip) === 4),
    v6: list.filter((p) => family(p.ip) === 6),
  });
  const added = split(msg.added);
  const dropped = split(msg.dropped);
  return encode({
    added: compact(added.v4, 6),
    'added.f': Buffer.from(added.v4.map((p) => p.flags & 0xff)),
    added6: compact(added.v6, 18),
    'added6.f': Buffer.from(added.v6.map((p) => p.flags & 0xff)),
    dropped: compact(dropped.v4, 6),
    dropped6: compact(dropped.v6, 18),
  });
}

function ipv6Text(b: Uint8Array, off: number): string {
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(((b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!).toString(16));
  return groups.join(':');
}

/**
 * Reads up to `max` entries of a compact list (and their flags, if the flags string has one byte
 * per entry; else flags 0): entries past `max` are not even parsed. Port 0 is left out.
 */
function readList(value: BencodeValue | undefined, flags: BencodeValue | undefined, size: 6 | 18, max: number): PexPeer[] {
  if (!isBytes(value)) return [];
  const n = Math.floor(value.length / size);
  const f = isBytes(flags) && flags.length === n ? flags : undefined;
  const out: PexPeer[] = [];
  for (let i = 0; i < n && out.length < max; i++) {
    const off = i * size;
    const port = (value[off + size - 2]! << 8) | value[off + size - 1]!;
    if (port === 0) continue;
    const ip = size === 6 ? `${value[off]}.${value[off + 1]}.${value[off + 2]}.${value[off + 3]}` : ipv6Text(value, off);
    // libtorrent's internal 0x80 bit and unknown bits are not ours to believe.
    out.push({ ip, port, flags: f ? f[i]! & 0x1f : 0 });
  }
  return out;
}

/**
 * Parses a ut_pex payload, taking at most `max` added and `max` dropped entries (IPv4 first).
 * @throws ProtocolError EXTENSION_ERROR for a payload that is not a bencoded dictionary
 */
export function decodePex(payload: Uint8Array, max = PEX_MAX_ENTRIES): PexMessage {
  let value: BencodeValue;
  try {
    value = decode(payload, { strict: false, maxDepth: 4 });
  } catch (err) {
    if (err instanceof BencodeError) throw new ProtocolError('EXTENSION_ERROR', `ut_pex: not bencode: ${err.message}`);
    throw err;
  }
  if (!isDict(value)) throw new ProtocolError('EXTENSION_ERROR', 'ut_pex: not a dictionary');
  const added = readList(value.get('added'), value.get('added.f'), 6, max);
  added.push(...readList(value.get('added6'), value.get('added6.f'), 18, max - added.length));
  const dropped = readList(value.get('dropped'), undefined, 6, max);
  dropped.push(...readList(value.get('dropped6'), undefined, 18, max - dropped.length));
  return { added, dropped };
}

export interface PexOptions {
  clock: Clock;
  /** The torrent's connected peers now (a Swarm's `peers`). */
  peers(): Iterable<PexCandidate>;
  /** Addresses a peer told us of (deduplicated, at most PEX_MAX_ENTRIES a message, PEX_MAX_PEERS_PER_CONNECTION a connection). */
  onPeers(peers: PexPeer[], from: PeerConnection): void;
  /** Our own peer id: we are never listed back to anyone, nor is a peer listed to itself. */
  peerId?: Uint8Array;
  /** Delay of the first message to a peer after its handshake (default 1 s, as libtorrent). */
  firstMessageMs?: number;
  intervalMs?: number;
}

interface PexState {
  /** ip:port → entry, as we last told the peer. */
  readonly advertised: Map<string, PexPeer>;
  timer: TimerHandle | undefined;
  /** When its last messages came (at most PEX_MAX_MESSAGES_PER_INTERVAL kept). */
  readonly received: number[];
  /** Addresses taken from it so far. */
  readonly taken: Set<string>;
}

const key = (p: { ip: string; port: number }): string => `${p.ip}:${p.port}`;
const sameId = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean =>
  a !== undefined && b !== undefined && Buffer.from(a).equals(Buffer.from(b));

/**
 * Peer exchange (BEP 11) as a wire extension, for public torrents only. To each peer that
 * advertises ut_pex: a first message a second after its handshake, then every minute the
 * peers connected since (added, with truthful flags) and those gone since (dropped), at most 50
 * of each, nothing when nothing changed. Only peers we are connected to are listed: outgoing ones
 * at the address we dialled, incoming ones only if they told their listen port (`p`). From each
 * peer: at most 6 messages a minute (more drops it), 50 entries a message, 50 addresses in all.
 */
export class PexExtension implements Extension {
  readonly name = UT_PEX;
  readonly preferredId = UT_PEX_ID;
  readonly publicOnly = true;
  readonly #o: Required<Omit<PexOptions, 'peerId'>> & Pick<PexOptions, 'peerId'>;
  readonly #state = new WeakMap<PeerConnection, PexState>();

  constructor(options: PexOptions) {
    this.#o = { firstMessageMs: 1000, intervalMs: PEX_INTERVAL_MS, ...options };
  }

  onHandshake(peer: ExtensionPeer, _theirs: ExtensionHandshake): void {
    const state = this.#stateOf(peer.conn);
    if (!peer.supported) {
      this.#stop(state);
      return;
    }
    if (state.timer === undefined) this.#schedule(peer, state, this.#o.firstMessageMs);
  }

  onMessage(peer: ExtensionPeer, payload: Uint8Array): void {
    const state = this.#stateOf(peer.conn);
    const now = this.#o.clock.now();
    const recent = state.received.filter((t) => now - t < this.#o.intervalMs);
    if (recent.length >= PEX_MAX_MESSAGES_PER_INTERVAL) {
      throw new ProtocolError('EXTENSION_ERROR', `ut_pex: more than ${PEX_MAX_MESSAGES_PER_INTERVAL} messages within ${this.#o.intervalMs / 1000} s`);
    }
    state.received.splice(0, state.received.length, ...recent, now);
    const msg = decodePex(payload);
    const fresh: PexPeer[] = [];
    for (const p of msg.added) {
      const k = key(p);
      if (state.taken.has(k)) continue;
      if (state.taken.size >= PEX_MAX_PEERS_PER_CONNECTION) break;
      state.taken.add(k);
      fresh.push(p);
    }
    if (fresh.length > 0) this.#o.onPeers(fresh, peer.conn);
  }

  onClose(peer: ExtensionPeer): void {
    const state = this.#state.get(peer.conn);
    if (state) this.#stop(state);
    this.#state.delete(peer.conn);
  }

  /** The peers we would list to `to` now, by ip:port. */
  #listed(to: PeerConnection): Map<string, PexPeer> {
    const out = new Map<string, PexPeer>();
    for (const c of this.#o.peers()) {
      if (sameId(c.peerId, to.peerId) || sameId(c.peerId, this.#o.peerId)) continue;
      const port = c.incoming ? c.listenPort : c.remotePort;
      if (port === undefined || port <= 0 || port > 65535 || family(c.remoteAddress) === undefined) continue;
      let flags = 0;
      if (c.seed) flags |= PexFlags.seed;
      if (c.transport === 'utp') flags |= PexFlags.utp;
      if (!c.incoming) flags |= PexFlags.reachable;
      const p = { ip: c.remoteAddress, port, flags };
      if (key(p) === `${to.remoteAddress}:${to.remotePort}`) continue;
      out.set(key(p), p);
    }
    return out;
  }

  #send(peer: ExtensionPeer, state: PexState): void {
    if (peer.conn.state !== 'open' || !peer.supported) return;
    const now = this.#listed(peer.conn);
    const added: PexPeer[] = [];
    const dropped: PexPeer[] = [];
    for (const [k, p] of now) {
      const before = state.advertised.get(k);
      if (added.length < PEX_MAX_ENTRIES && (before === undefined || before.flags !== p.flags)) added.push(p);
    }
    for (const [k, p] of state.advertised) if (!now.has(k) && dropped.length < PEX_MAX_ENTRIES) dropped.push({ ...p, flags: 0 });
    if (added.length === 0 && dropped.length === 0) return;
    for (const p of added) state.advertised.set(key(p), p);
    for (const p of dropped) state.advertised.delete(key(p));
    peer.send(encodePex({ added, dropped }));
  }

  #schedule(peer: ExtensionPeer, state: PexState, ms: number): void {
    state.timer = this.#o.clock.setTimeout(() => {
      state.timer = undefined;
      if (peer.conn.state !== 'open') return;
      try {
        this.#send(peer, state);
      } catch {
        // a congested or closing socket: the next round tries again
      }
      this.#schedule(peer, state, this.#o.intervalMs);
    }, ms);
  }

  #stop(state: PexState): void {
    if (state.timer !== undefined) this.#o.clock.clearTimeout(state.timer);
    state.timer = undefined;
  }

  #stateOf(conn: PeerConnection): PexState {
    let s = this.#state.get(conn);
    if (!s) {
      s = { advertised: new Map(), timer: undefined, received: [], taken: new Set() };
      this.#state.set(conn, s);
    }
    return s;
  }
}
