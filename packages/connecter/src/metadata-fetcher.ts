import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '@mainline/rate';
import { ConnecterError, ProtocolError } from './errors.js';
import type { ExtensionHandshake } from './extension.js';
import { ExtensionHost, type ExtensionPeer } from './extension-host.js';
import { MAX_HELD_HAVES, type HandedPeer, type PeerHandOff } from './hand-off.js';
import { MetadataServer } from './metadata-server.js';
import type { Message } from './messages.js';
import type { PeerCloseReason, PeerConnection, PeerHandler } from './peer-connection.js';
import { banKey } from './swarm.js';
import {
  MAX_METADATA_SIZE,
  METADATA_PIECE_LENGTH,
  UT_METADATA,
  UT_METADATA_ID,
  encodeMetadataMessage,
  metadataPieceCount,
  validMetadataSize,
} from './ut-metadata.js';
import type { TorrentWire, WireHub } from './wire-hub.js';
import type { WireLimits } from './wire-reader.js';

export interface MetadataFetcherOptions {
  hub: WireHub;
  /** The 20-byte info-hash whose info dict we want. */
  infoHash: Uint8Array;
  /** Time source for request timeouts (default: the hub's). */
  clock?: Clock;
  /** Most connections while fetching (default 30). */
  maxConnections?: number;
  /** Peers asked for pieces at the same time (default 3). */
  maxActivePeers?: number;
  /** Outstanding piece requests per peer (default 2). */
  requestsPerPeer?: number;
  /** A request unanswered this long goes to another peer (default 10 s). */
  requestTimeoutMs?: number;
  /** A peer that rejected or timed out is asked again after this long (default 5 s). */
  retryAfterMs?: number;
  /** Largest metadata_size we accept (default 8 MiB). */
  maxMetadataSize?: number;
  /** Our listen port, for the `p` of our BEP 10 handshake. */
  listenPort?: number | (() => number | undefined);
  /**
   * When the metadata is verified, keep the connections open (still registered on the hub) for
   * the torrent's Swarm to take (`take()`, see PeerHandOff), with what each peer said of its
   * pieces meanwhile, instead of closing them. `release()` closes them if nobody takes them.
   */
  holdConnections?: boolean;
}

export interface MetadataFetcherEvents {
  'peer-connected': [address: string];
  'peer-dropped': [address: string, reason: string];
  /**
   * For the peer list that dials through the fetcher (as Swarm's events are for a torrent's):
   * a connection was taken on (`incoming`: the peer dialled us).
   */
  connected: [host: string, port: number, incoming: boolean];
  /** A dial started by connect() did not become a connection of ours (refused, timed out, turned away). */
  'connect-failed': [host: string, port: number, reason: string];
  /**
   * A connection reported by `connected` is over, or a handshaken peer was of no use for the
   * metadata (no BEP 10, the fetcher full): the list waits its backoff before dialling it again.
   */
  closed: [host: string, port: number];
  /** A metadata piece arrived: pieces held of the total. */
  progress: [received: number, total: number];
  /** Metadata from these peers did not hash to the info-hash and was thrown away. */
  'bad-metadata': [addresses: string[]];
}

/** A snapshot for status displays. */
export interface MetadataFetcherStatus {
  state: 'idle' | 'fetching' | 'done' | 'cancelled';
  /** Handshaken peers. */
  peers: number;
  /** Of those, the ones offering metadata (ut_metadata with a metadata_size). */
  metadataPeers: number;
  /** Outgoing connections started by connect() and not yet handshaken. */
  dialing: number;
  piecesReceived: number;
  /** Pieces of the metadata being assembled (undefined until a peer has told its size). */
  pieceCount: number | undefined;
}

class FetchPeer {
  /** The peer's metadata_size, if it offers metadata within our limit. */
  size: number | undefined;
  /** The peer's ut_metadata side (sends under the id it asked for), once it advertised ut_metadata. */
  ext: ExtensionPeer | undefined;
  /** Pieces requested from this peer → their timeout. */
  readonly requested = new Map<number, TimerHandle>();
  /** Not asked again before this time (after a reject or a timeout). */
  retryAt = 0;
  /** What it said of its pieces and its choking, for the hand-off. */
  bitfield: Uint8Array | undefined;
  haveAll = false;
  readonly haves: number[] = [];
  peerChoking = true;
  peerInterested = false;
  constructor(readonly conn: PeerConnection) {}

  get address(): string {
    return `${this.conn.remoteAddress}:${this.conn.remotePort}`;
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/**
 * BEP 9 metadata download for a magnet link: registers as the info-hash's torrent on the WireHub,
 * dials the peers its caller chooses (connect(), as a Swarm: whom and when is the session's peer
 * list's decision; `connected`, `connect-failed` and `closed` tell it the outcome), takes incoming
 * ones, sends our extension handshake with
 * ut_metadata, and asks a few peers that offer the metadata for its 16 KiB pieces. A piece that is
 * rejected, unanswered or lost with its peer is asked of another. The assembled bytes must hash to
 * the info-hash: a peer that alone sent bad metadata is dropped and not taken again; when several
 * peers contributed, the pieces are discarded and from then on each attempt takes every piece from
 * a single peer, so the liar is found. When done or cancelled it unregisters from the hub (closing
 * its connections), so the torrent's Swarm can register; with `holdConnections` the connections
 * stay open when done, and the torrent's Swarm takes them over (`take()`, Swarm.start).
 */
export class MetadataFetcher extends EventEmitter<MetadataFetcherEvents> implements TorrentWire, PeerHandOff {
  readonly limits: WireLimits = { numPieces: 0, piecesUnknown: true };
  readonly #hub: WireHub;
  readonly #infoHash: Uint8Array;
  readonly #clock: Clock;
  readonly #o: Required<Omit<MetadataFetcherOptions, 'hub' | 'infoHash' | 'clock' | 'listenPort'>>;
  /** Done, and the connections kept open for take(). */
  #holding = false;
  /** Answers the peers' own ut_metadata requests: with rejects, as we have nothing yet. */
  readonly #server = new MetadataServer(undefined);
  /** Our BEP 10 side: ut_metadata (fetching) on the wire-extension host. */
  readonly #extensions: ExtensionHost;
  readonly #peers = new Map<PeerConnection, FetchPeer>();
  /** Connections given away by take(): one the taker closes before attaching its handler still ends here. */
  readonly #taken = new WeakSet<PeerConnection>();
  /** Dials started by connect() and not handshaken yet, by `host:port`. */
  readonly #dialing = new Set<string>();
  /** Ban keys and dialled addresses of peers that sent bad metadata. */
  readonly #bad = new Set<string>();
  #state: MetadataFetcherStatus['state'] = 'idle';
  /** The metadata being assembled: its size, pieces held and who sent each. */
  #size: number | undefined;
  #pieces: (Uint8Array | undefined)[] = [];
  #sources: (FetchPeer | undefined)[] = [];
  #received = 0;
  /** After metadata from several peers failed: take every piece from one peer at a time. */
  #singleSource = false;
  #retryTimer: TimerHandle | undefined;
  #registered = false;
  #resolve: (metadata: Uint8Array) => void = () => undefined;
  #reject: (err: Error) => void = () => undefined;
  /** Resolves with the verified info-dict bytes; rejects (ConnecterError CLOSED) when cancelled. */
  readonly metadata: Promise<Uint8Array>;

  constructor(options: MetadataFetcherOptions) {
    super();
    if (!(options.infoHash instanceof Uint8Array) || options.infoHash.length !== 20) {
      throw new ConnecterError('BAD_ARGUMENT', 'infoHash must be 20 bytes');
    }
    this.#hub = options.hub;
    this.#infoHash = Uint8Array.from(options.infoHash);
    this.#clock = options.clock ?? options.hub.clock;
    this.#o = {
      maxConnections: options.maxConnections ?? 30,
      maxActivePeers: options.maxActivePeers ?? 3,
      requestsPerPeer: options.requestsPerPeer ?? 2,
      requestTimeoutMs: options.requestTimeoutMs ?? 10_000,
      retryAfterMs: options.retryAfterMs ?? 5_000,
      maxMetadataSize: options.maxMetadataSize ?? MAX_METADATA_SIZE,
      holdConnections: options.holdConnections ?? false,
    };
    this.#extensions = new ExtensionHost({
      extensions: [
        {
          name: UT_METADATA,
          preferredId: UT_METADATA_ID,
          onHandshake: (ext, hs) => this.#peerHandshake(ext, hs),
          onMessage: (ext, payload) => this.#metadataMessage(ext, payload),
        },
      ],
      ...(options.listenPort !== undefined ? { listenPort: options.listenPort } : {}),
    });
    this.metadata = new Promise<Uint8Array>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A caller that only cancels must not see an unhandled rejection.
    this.metadata.catch(() => undefined);
  }

  /** Hex info-hash. */
  get id(): string {
    return hex(this.#infoHash);
  }

  get infoHash(): Uint8Array {
    return this.#infoHash;
  }

  /**
   * Registers with the hub (incoming peers for the info-hash come to us from now on) and resolves
   * like `metadata`.
   * @throws ConnecterError DUPLICATE_TORRENT when the info-hash is already registered
   */
  start(): Promise<Uint8Array> {
    if (this.#state === 'idle') {
      this.#hub.addTorrent(this.#infoHash, this);
      this.#registered = true;
      this.#state = 'fetching';
    }
    return this.metadata;
  }

  /** Stops fetching: closes every connection and timer, leaves the hub, rejects `metadata`. */
  cancel(): void {
    if (this.#state === 'done') return this.release();
    if (this.#state === 'cancelled') return;
    this.#finish('cancelled');
    this.#reject(new ConnecterError('CLOSED', `metadata fetch for ${this.id} cancelled`));
  }

  /**
   * The connections held since the metadata was verified (holdConnections), with what each peer
   * said of its pieces: the caller (the torrent's Swarm) takes the hub registration over at once
   * (WireHub.replaceTorrent), before anything else can arrive. Empty when nothing is held.
   */
  take(): HandedPeer[] {
    if (!this.#holding) return [];
    this.#holding = false;
    this.#registered = false;
    const peers = [...this.#peers.values()].filter((p) => p.conn.state === 'open');
    for (const p of this.#peers.values()) this.#extensions.onClose(p);
    for (const p of peers) this.#taken.add(p.conn);
    this.#peers.clear();
    return peers.map((p) => ({
      conn: p.conn,
      bitfield: p.bitfield,
      haveAll: p.haveAll,
      haves: p.haves,
      peerChoking: p.peerChoking,
      peerInterested: p.peerInterested,
    }));
  }

  /** The held connections will not be taken: close them and leave the hub. */
  release(): void {
    if (!this.#holding) return;
    this.#holding = false;
    const held = [...this.#peers.values()];
    this.#peers.clear();
    for (const p of held) this.emit('closed', p.conn.remoteAddress, p.conn.remotePort);
    if (this.#registered) this.#hub.removeTorrent(this.#infoHash);
    this.#registered = false;
  }

  /** Connections are held for take() (the metadata is verified and holdConnections is set). */
  get holding(): boolean {
    return this.#holding;
  }

  /** Outgoing connections that may start now (a dialler subtracts its dials in progress): none once fetched. */
  get outgoingSlots(): number {
    return this.#state === 'fetching' ? Math.max(0, this.#o.maxConnections - this.#peers.size) : 0;
  }

  /** Never: any peer, a seed above all, may have the metadata (a PeerDialer's question). */
  get finished(): boolean {
    return false;
  }

  /**
   * Dials one peer for the metadata; the outcome is a `connected` or a `connect-failed` event.
   * False, with no event, when the dial cannot start: not fetching, already dialling that
   * address, or the address sent bad metadata.
   */
  connect(host: string, port: number): boolean {
    const key = `${host}:${port}`;
    if (this.#state !== 'fetching' || this.#dialing.has(key) || this.#bad.has(key)) return false;
    this.#dialing.add(key);
    try {
      this.#hub.connect(this.#infoHash, host, port);
    } catch {
      this.#dialing.delete(key);
      return false;
    }
    return true;
  }

  status(): MetadataFetcherStatus {
    let metadataPeers = 0;
    for (const p of this.#peers.values()) if (p.size !== undefined && p.ext !== undefined) metadataPeers++;
    return {
      state: this.#state,
      peers: this.#peers.size,
      metadataPeers,
      dialing: this.#dialing.size,
      piecesReceived: this.#received,
      pieceCount: this.#size === undefined ? undefined : metadataPieceCount(this.#size),
    };
  }

  // --- TorrentWire -------------------------------------------------------------------------

  onConnectFailed(host: string, port: number, reason?: PeerCloseReason, error?: Error): void {
    this.#dialing.delete(`${host}:${port}`);
    this.emit('connect-failed', host, port, error ? `${reason ?? 'failed'}: ${error.message}` : (reason ?? 'failed'));
  }

  onPeer(conn: PeerConnection): PeerHandler | undefined {
    const { remoteAddress: host, remotePort: port, incoming } = conn;
    this.#dialing.delete(`${host}:${port}`);
    const accepting = this.#state === 'fetching' || this.#holding;
    if (!accepting || this.#bad.has(banKey(host, conn.peerId))) {
      if (!incoming) this.emit('connect-failed', host, port, accepting ? 'sent bad metadata before' : 'not fetching');
      return undefined;
    }
    if (!conn.extended || this.#peers.size >= this.#o.maxConnections) {
      // It got through the handshake, so it is no failure of the address: only no use now.
      this.emit('connected', host, port, incoming);
      this.emit('closed', host, port);
      return undefined;
    }
    const peer = new FetchPeer(conn);
    this.#peers.set(conn, peer);
    this.emit('connected', host, port, incoming);
    // BEP 6 wants an opening have message from fast peers; we have nothing.
    if (conn.fast) conn.send({ type: 'have-none' });
    this.emit('peer-connected', peer.address);
    return {
      onMessage: (_c, m) => this.#onMessage(peer, m),
      onClose: (_c, reason: PeerCloseReason, error?: Error) => this.#onClose(peer, error ? `${reason}: ${error.message}` : reason),
    };
  }

  extensionHandshake(conn: PeerConnection): ExtensionHandshake {
    return this.#extensions.handshake({ conn });
  }

  // --- internals ---------------------------------------------------------------------------

  #onMessage(peer: FetchPeer, m: Message): void {
    // Pieces and choking: kept for the torrent that takes the connection over.
    switch (m.type) {
      case 'bitfield':
        peer.bitfield = m.bitfield.toBytes();
        return;
      case 'have-all':
        peer.haveAll = true;
        return;
      case 'have':
        if (peer.haves.length < MAX_HELD_HAVES) peer.haves.push(m.index);
        return;
      case 'choke':
      case 'unchoke':
        peer.peerChoking = m.type === 'choke';
        return;
      case 'interested':
      case 'not-interested':
        peer.peerInterested = m.type === 'interested';
        return;
    }
    if (this.#state !== 'fetching') return;
    if (m.type === 'extended-handshake') this.#extensions.onHandshake(peer, m.handshake);
    else if (m.type === 'extended') this.#extensions.onMessage(peer, m.id, m.payload);
  }

  #peerHandshake(ext: ExtensionPeer, hs: ExtensionHandshake): void {
    const peer = this.#peers.get(ext.conn);
    if (!peer) return;
    const size = hs.metadataSize;
    peer.ext = ext.supported ? ext : undefined;
    peer.size = size !== undefined && validMetadataSize(size, this.#o.maxMetadataSize) ? size : undefined;
    this.#schedule();
  }

  #metadataMessage(ext: ExtensionPeer, payload: Uint8Array): void {
    const peer = this.#peers.get(ext.conn);
    if (!peer) return;
    const msg = this.#server.onExtended(peer.conn, UT_METADATA_ID, payload, peer.size);
    if (!msg || msg.type === 'request') return;
    const timer = peer.requested.get(msg.piece);
    if (timer === undefined) return; // not asked of this peer (or already timed out): ignore
    this.#clock.clearTimeout(timer);
    peer.requested.delete(msg.piece);
    if (msg.type === 'reject') {
      peer.retryAt = this.#clock.now() + this.#o.retryAfterMs;
      this.#schedule();
      return;
    }
    // decodeMetadataMessage checked total_size == the peer's metadata_size and the piece's length.
    if (msg.totalSize === this.#size && this.#pieces[msg.piece] === undefined) {
      this.#pieces[msg.piece] = Uint8Array.from(msg.data);
      this.#sources[msg.piece] = peer;
      this.#received++;
      this.emit('progress', this.#received, this.#pieces.length);
      if (this.#received === this.#pieces.length) return this.#verify();
    }
    this.#schedule();
  }

  #onClose(peer: FetchPeer, reason: string): void {
    const taken = this.#taken.delete(peer.conn);
    if (!this.#peers.delete(peer.conn) && !taken) return;
    this.emit('closed', peer.conn.remoteAddress, peer.conn.remotePort);
    if (taken) return;
    this.#extensions.onClose(peer);
    for (const t of peer.requested.values()) this.#clock.clearTimeout(t);
    peer.requested.clear();
    if (this.#state !== 'fetching') return;
    this.emit('peer-dropped', peer.address, reason);
    // In single-source mode the pieces held are all this peer's: they go with it.
    if (this.#singleSource && this.#sources.includes(peer)) this.#discard();
    this.#schedule();
  }

  #discard(): void {
    this.#size = undefined;
    this.#pieces = [];
    this.#sources = [];
    this.#received = 0;
  }

  #usable(p: FetchPeer, now: number): boolean {
    return p.conn.state === 'open' && p.ext !== undefined && p.size !== undefined && p.retryAt <= now;
  }

  /** Sends requests for missing pieces to peers that can take them. */
  #schedule(): void {
    if (this.#state !== 'fetching') return;
    const now = this.#clock.now();
    const peers = [...this.#peers.values()];
    // Nobody left offering the size being assembled: start over with whatever is on offer.
    if (this.#size !== undefined && !peers.some((p) => p.size === this.#size && p.ext !== undefined)) this.#discard();
    if (this.#size === undefined) {
      const first = peers.find((p) => this.#usable(p, now));
      if (!first) return this.#retryLater(peers);
      this.#size = first.size as number;
      const n = metadataPieceCount(this.#size);
      this.#pieces = new Array<Uint8Array | undefined>(n).fill(undefined);
      this.#sources = new Array<FetchPeer | undefined>(n).fill(undefined);
    }
    const missing: number[] = [];
    const asked = new Set<number>();
    for (const p of peers) for (const i of p.requested.keys()) asked.add(i);
    for (let i = 0; i < this.#pieces.length; i++) if (this.#pieces[i] === undefined && !asked.has(i)) missing.push(i);
    const owner = this.#singleSource ? this.#sources.find((s) => s !== undefined) : undefined;
    let active = peers.filter((p) => p.requested.size > 0).length;
    const maxActive = this.#singleSource ? 1 : this.#o.maxActivePeers;
    for (const p of peers) {
      if (missing.length === 0) break;
      if (!this.#usable(p, now) || p.size !== this.#size) continue;
      if (owner !== undefined && p !== owner) continue;
      if (p.requested.size === 0) {
        if (active >= maxActive) continue;
        active++;
      }
      while (p.requested.size < this.#o.requestsPerPeer && missing.length > 0) this.#request(p, missing.shift() as number);
    }
    if (missing.length > 0) this.#retryLater(peers);
  }

  #request(peer: FetchPeer, piece: number): void {
    const timer = this.#clock.setTimeout(() => {
      if (peer.requested.get(piece) !== timer) return;
      peer.requested.delete(piece);
      peer.retryAt = this.#clock.now() + this.#o.retryAfterMs;
      this.#schedule();
    }, this.#o.requestTimeoutMs);
    peer.requested.set(piece, timer);
    peer.ext?.send(encodeMetadataMessage({ type: 'request', piece }));
  }

  /** Peers waiting out a reject or timeout: schedule again when the first may be asked. */
  #retryLater(peers: FetchPeer[]): void {
    const waits = peers.filter((p) => p.ext !== undefined && p.size !== undefined && p.retryAt > this.#clock.now()).map((p) => p.retryAt);
    if (waits.length === 0 || this.#retryTimer !== undefined) return;
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#schedule();
    }, Math.min(...waits) - this.#clock.now());
  }

  #verify(): void {
    const size = this.#size as number;
    const metadata = new Uint8Array(size);
    this.#pieces.forEach((piece, i) => metadata.set(piece as Uint8Array, i * METADATA_PIECE_LENGTH));
    const digest = createHash('sha1').update(metadata).digest();
    if (digest.equals(this.#infoHash)) {
      this.#finish('done');
      this.#resolve(metadata);
      return;
    }
    const senders = [...new Set(this.#sources)].filter((p): p is FetchPeer => p !== undefined);
    this.#discard();
    this.emit('bad-metadata', senders.map((p) => p.address));
    if (senders.length === 1) {
      const liar = senders[0] as FetchPeer;
      this.#bad.add(banKey(liar.conn.remoteAddress, liar.conn.peerId));
      if (!liar.conn.incoming) this.#bad.add(liar.address);
      liar.conn.fail(new ProtocolError('BAD_METADATA', `metadata of ${size} bytes does not hash to ${this.id}`));
    } else {
      this.#singleSource = true;
    }
    this.#schedule();
  }

  #finish(state: 'done' | 'cancelled'): void {
    this.#state = state;
    if (this.#retryTimer !== undefined) this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    for (const p of this.#peers.values()) {
      for (const t of p.requested.values()) this.#clock.clearTimeout(t);
      p.requested.clear();
    }
    // Dials still under way when done end in onPeer (held, for the swarm) or in the swarm's hands.
    if (state === 'cancelled') this.#dialing.clear();
    if (state === 'done' && this.#o.holdConnections) {
      this.#holding = true;
      return;
    }
    if (this.#registered) this.#hub.removeTorrent(this.#infoHash);
    this.#registered = false;
    this.#peers.clear();
  }
}
