import { EventEmitter } from 'node:events';
import type { Bitfield } from '@mainline/bitfield';
import { Choker, type ChokablePeer, type SeedChoking } from '@mainline/choker';
import { isLoopback } from '@mainline/rawserver';
import type { Message } from './messages.js';
import type { PeerCloseReason, PeerConnection, PeerHandler } from './peer-connection.js';
import type { TorrentWire, WireHub } from './wire-hub.js';
import type { WireLimits } from './wire-reader.js';
import type { PiecePicker, BlockRequest } from '@mainline/piecepicker';
import { RateMeasure, TokenBucket, UPLOAD_RATE_FUDGE_MS, type Clock, type TokenTicket } from '@mainline/rate';
import { StorageError, type PieceStore, type PieceWriteResult } from '@mainline/storage';
import { ReadCache } from './read-cache.js';
import { RequestKeys } from './request-key.js';
import { BufferPool } from './buffer-pool.js';
import { MetadataServer } from './metadata-server.js';
import type { ExtensionHandshake } from './extension.js';

export interface SwarmOptions {
  hub: WireHub;
  infoHash: Uint8Array;
  store: PieceStore;
  picker: PiecePicker<SwarmPeer>;
  clock: Clock;
  /** Most connections for this torrent (seed: max_allow_in 55). */
  maxPeers?: number;
  /** Stop dialling out at this many connections (seed: max_initiate 35). */
  maxInitiate?: number;
  /** Unchoke slots (seed: max_uploads 7) and the floor of optimistic unchokes (min_uploads 4). */
  maxUploads?: number;
  minUploads?: number;
  /**
   * Fewest outstanding requests per peer (default 16; mainline's fixed request_backlog was 5,
   * too few for fast links); the queue grows with the peer's rate.
   */
  requestBacklog?: number;
  /** Seconds of data to keep requested from a peer at its current rate (sizes the queue). */
  requestQueueSeconds?: number;
  /** Upload limiters shared with other torrents (e.g. [torrent, global]); all must grant. */
  uploadLimiters?: TokenBucket[];
  downloadLimiters?: TokenBucket[];
  /** A peer that sent data for this many failed pieces is banned (default 3; sole sender of one: at once). */
  banAfterHashFails?: number;
  snubTimeMs?: number;
  /** How a seed rotates its upload slots (default 'round-robin'; 'upload-rate' is mainline's). */
  seedChoking?: SeedChoking;
  /** An unchoked peer to which nothing was uploaded for this long loses its slot (default 10 s; 0 = never). */
  idleUnchokeMs?: number;
  random?: () => number;
  /**
   * The exact info-dict bytes (the ones the info-hash is SHA-1 of): when given, our BEP 10
   * handshake advertises ut_metadata and metadata_size and peers may fetch them (BEP 9).
   */
  metadata?: Uint8Array;
}

export interface SwarmEvents {
  'peer-connected': [peer: SwarmPeer];
  'peer-dropped': [peer: SwarmPeer, reason: string];
  /**
   * A connection started by connect() did not become a peer: refused, timed out, a bad handshake,
   * or turned away by us after it (full, banned). `host`/`port` are the ones given to connect().
   */
  'connect-failed': [host: string, port: number, reason: string];
  piece: [index: number];
  hashfail: [index: number, peers: SwarmPeer[]];
  banned: [address: string, reason: string];
  /**
   * Every wanted piece is verified (the picker's non-skipped pieces; all pieces when nothing is
   * skipped). Emitted once per transition: again only after priorities made more pieces wanted
   * (see wantedChanged) and those were verified too. Emitted before `complete`.
   */
  finished: [];
  /** Every piece of the torrent is verified. */
  complete: [];
  error: [error: Error];
}

const MAX_QUEUED_REQUESTS = 1024;
/**
 * Requests we will not answer (sent while choked, or for pieces we lack) allowed between two
 * unchokes. A peer may have a full queue (our reqq) in flight when we choke it, so twice that is
 * never an accident: it is a peer making us send one reject per request (issue 13).
 */
const MAX_UNANSWERED_REQUESTS = 2 * MAX_QUEUED_REQUESTS;
const MAX_READS_IN_FLIGHT = 4;
/**
 * A peer neither side is interested in counts as idle (of no use now: it may be evicted to make
 * room for a newcomer) once connected this long: time for the bitfield and interest exchange.
 */
const IDLE_GRACE_MS = 10_000;
/** Wrong-sized answers to our requests tolerated from one peer before dropping it. */
const MAX_BAD_ANSWERS = 3;
/** Recent failed pieces with several senders remembered for clearing the co-senders of a banned peer. */
const MAX_SHARED_FAILURES = 256;
/** Received bytes allowed to wait for the disk before we stop reading from peers. */
const MAX_PENDING_WRITE_BYTES = 8 * 1024 * 1024;
/** Memory for pieces collected before one write each, and the largest piece collected so. */
const ASSEMBLY_BUDGET = 32 * 1024 * 1024;
const MAX_ASSEMBLED_PIECE = 4 * 1024 * 1024;
const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/**
 * Who a ban applies to: the IP address, except on loopback, where every peer shares one
 * address (tests, local swarms) and the peer id is what tells them apart.
 */
export function banKey(address: string, peerId: Uint8Array | undefined): string {
  return (isLoopback(address) || address.startsWith('::ffff:127.')) && peerId ? `${address}/${hex(peerId)}` : address;
}

/** One connected peer of a torrent: its wire, our view of its state, and its rates. */
export class SwarmPeer implements ChokablePeer {
  amChoking = true;
  amInterested = false;
  peerChoking = true;
  peerInterested = false;
  /** What the peer has; adopted by the picker (it updates it on HAVEs). */
  have: Bitfield | undefined;
  seed = false;
  readonly downRate: RateMeasure;
  readonly upRate: RateMeasure;
  lastBlock: number | null = null;
  /** Requests sent to this peer and not yet answered: key (see RequestKeys) → length. */
  readonly requests = new Map<number, number>();
  /** Answers of the wrong size to our requests. */
  badAnswers = 0;
  /** Limiter waits of this peer's transfers, cancelled when it goes. */
  readonly tickets = new Set<TokenTicket>();
  maxRequests = 250;
  readonly uploadQueue: BlockRequest[] = [];
  /** Disk reads in flight for this peer's requests, and whether one waits for limiter tokens. */
  reading = 0;
  waitingForTokens = false;
  downloaded = 0;
  uploaded = 0;
  hashFails = 0;
  /** Why we closed the connection, when it was our decision. */
  dropReason: string | undefined;
  /** Requests waiting for download-limiter tokens. */
  pendingTokens = 0;
  /** Requests we refused or ignored since we last unchoked the peer (see MAX_UNANSWERED_REQUESTS). */
  unanswered = 0;
  /** Clock time the peer joined the swarm. */
  readonly connectedAt: number;

  constructor(
    readonly conn: PeerConnection,
    readonly swarm: Swarm,
    clock: Clock,
  ) {
    this.downRate = new RateMeasure({ clock });
    this.upRate = new RateMeasure({ clock, fudgeMs: UPLOAD_RATE_FUDGE_MS });
    this.connectedAt = clock.now();
  }

  get address(): string {
    return `${this.conn.remoteAddress}:${this.conn.remotePort}`;
  }

  /** Requests sent and not answered yet. */
  get outstanding(): number {
    return this.requests.size;
  }

  get banKey(): string {
    return banKey(this.conn.remoteAddress, this.conn.peerId);
  }

  isInterested(): boolean {
    return this.peerInterested;
  }
  isChoked(): boolean {
    return this.amChoking;
  }
  choke(): void {
    this.swarm.setChoke(this, true);
  }
  unchoke(): void {
    this.swarm.setChoke(this, false);
  }
  downloadRate(): number {
    return this.downRate.rate();
  }
  uploadRate(): number {
    return this.upRate.rate();
  }
  lastBlockAt(): number | null {
    return this.lastBlock;
  }
  bytesUploaded(): number {
    return this.uploaded;
  }
}

/**
 * The peers of one torrent, doing what mainline's Connecter, Downloader and Uploader did:
 * interest, request pipelining sized by rate, serving requests from disk under rate limits,
 * endgame cancels, HAVE broadcast, hash-failure blame and bans, choking through the Choker.
 */
export class Swarm extends EventEmitter<SwarmEvents> implements TorrentWire {
  readonly limits: WireLimits;
  readonly peers = new Set<SwarmPeer>();
  readonly choker: Choker<SwarmPeer>;
  readonly downRate: RateMeasure;
  readonly upRate: RateMeasure;
  downloaded = 0;
  uploaded = 0;
  /** Bytes received that were dropped (duplicates, unrequested, failed pieces). */
  wasted = 0;
  readonly #o: Required<Omit<SwarmOptions, 'uploadLimiters' | 'downloadLimiters' | 'random' | 'metadata' | 'seedChoking' | 'idleUnchokeMs'>> &
    Pick<SwarmOptions, 'random'>;
  readonly #uploadLimiters: TokenBucket[];
  readonly #downloadLimiters: TokenBucket[];
  readonly #contributors = new Map<number, Set<SwarmPeer>>();
  readonly #banned = new Set<string>();
  /** Failed pieces each ban key sent data for (not per connection, so reconnecting does not wipe the slate). */
  readonly #failsByKey = new Map<string, number>();
  /**
   * Ban keys of the senders of recent failed pieces that had more than one sender: when one of
   * them is banned, the others are cleared of those failures (see #pieceFailed).
   */
  readonly #sharedFailures: Set<string>[] = [];
  /** Verified pieces each ban key sent data for: breaks ties in shared blame. */
  readonly #goodByKey = new Map<string, number>();
  #active = false;
  #pendingWriteBytes = 0;
  /** Pieces being collected in memory (see #assemble), their total size, and pieces written block by block. */
  readonly #assemblies = new Map<number, { data: Buffer; missing: number }>();
  #assembledBytes = 0;
  /** Piece buffers for #assemble, reused once their piece is written. */
  readonly #pieceBuffers: BufferPool;
  readonly #blockByBlock = new Set<number>();
  readonly #readCache: ReadCache;
  readonly #keys: RequestKeys;
  #readingPaused = false;
  readonly #metadata: MetadataServer | undefined;
  /** Every wanted piece was verified when last looked at (see finished / wantedChanged). */
  #finished: boolean;

  constructor(options: SwarmOptions) {
    super();
    this.#o = {
      maxPeers: 55,
      maxInitiate: 35,
      maxUploads: 7,
      minUploads: 4,
      requestBacklog: 16,
      requestQueueSeconds: 3,
      banAfterHashFails: 3,
      snubTimeMs: 60_000,
      ...options,
    };
    this.#uploadLimiters = options.uploadLimiters ?? [];
    this.#downloadLimiters = options.downloadLimiters ?? [];
    this.#metadata = options.metadata ? new MetadataServer(options.metadata) : undefined;
    const { store } = options;
    this.limits = { numPieces: store.pieceCount, pieceLength: store.pieceLength, totalLength: store.totalLength };
    this.#keys = new RequestKeys(store.pieceLength, options.picker.blockSize);
    this.#readCache = new ReadCache(
      (piece, begin, length) => store.readBlock(piece, begin, length),
      (piece) => store.pieceSize(piece),
    );
    // Enough idle buffers to cover the pieces that can wait for the disk at once.
    this.#pieceBuffers = new BufferPool(store.pieceLength, Math.ceil(MAX_PENDING_WRITE_BYTES / store.pieceLength) + 1);
    this.downRate = new RateMeasure({ clock: options.clock });
    this.upRate = new RateMeasure({ clock: options.clock, fudgeMs: UPLOAD_RATE_FUDGE_MS });
    this.#finished = options.picker.isWantedComplete;
    this.choker = new Choker<SwarmPeer>({
      clock: options.clock,
      maxUploads: this.#o.maxUploads,
      minUploads: this.#o.minUploads,
      snubTimeMs: this.#o.snubTimeMs,
      // A finished torrent downloads nothing: it chokes as a seed does.
      isSeeding: () => options.picker.isWantedComplete,
      // A turn of a round-robin seed: libtorrent's seeding_piece_quota of 20 pieces.
      seedTurnBytes: 20 * store.pieceLength,
      ...(options.seedChoking ? { seedChoking: options.seedChoking } : {}),
      ...(options.idleUnchokeMs !== undefined ? { idleUnchokeMs: options.idleUnchokeMs } : {}),
      ...(options.random ? { random: options.random } : {}),
    });
  }

  get store(): PieceStore {
    return this.#o.store;
  }

  get picker(): PiecePicker<SwarmPeer> {
    return this.#o.picker;
  }

  /** Every wanted piece is verified (nothing left to download unless priorities change). */
  get finished(): boolean {
    return this.#finished;
  }

  /**
   * The picker's piece priorities were changed: interest in every peer is set again (a finished
   * torrent that wants more becomes interested, one whose remaining pieces were all skipped
   * loses interest), and `finished` is emitted if every wanted piece is now verified.
   */
  wantedChanged(): void {
    const finished = this.#o.picker.isWantedComplete;
    const was = this.#finished;
    this.#finished = finished;
    if (finished && !was) this.#becameFinished();
    else this.#refillAll();
  }

  /** Registers with the wire hub: incoming peers for this info-hash are accepted from now on. */
  start(): void {
    if (this.#active) return;
    this.#active = true;
    if (!this.#o.hub.hasTorrent(this.#o.infoHash)) this.#o.hub.addTorrent(this.#o.infoHash, this);
    this.choker.start();
  }

  /** Drops every peer and leaves the hub. */
  stop(): void {
    if (!this.#active) return;
    this.#active = false;
    this.choker.stop();
    this.#o.hub.removeTorrent(this.#o.infoHash);
    for (const p of [...this.peers]) p.conn.close();
    this.#readCache.clear();
    this.#assemblies.clear();
    this.#blockByBlock.clear();
    this.#assembledBytes = 0;
    this.#pieceBuffers.clear();
  }

  get active(): boolean {
    return this.#active;
  }

  get seedCount(): number {
    let n = 0;
    for (const p of this.peers) if (p.seed) n++;
    return n;
  }

  isBanned(key: string): boolean {
    return this.#banned.has(key);
  }

  /** Outgoing connections that may start now: maxInitiate minus the open connections (a dialler subtracts its dials in progress). */
  get outgoingSlots(): number {
    return this.#active ? Math.max(0, this.#o.maxInitiate - this.peers.size) : 0;
  }

  /**
   * Dials one peer (whom to dial and when is the caller's choice: the session's peer list). The
   * outcome is a `peer-connected` or a `connect-failed` event. Returns false, with no event, when
   * the dial cannot start: the swarm is stopped, the address is banned, or a peer with `peerId`
   * is connected already.
   */
  connect(host: string, port: number, peerId?: Uint8Array): boolean {
    if (!this.#active || this.#banned.has(host) || (peerId && this.#banned.has(banKey(host, peerId)))) return false;
    if (peerId && this.#o.hub.isConnected(this.#o.infoHash, peerId)) return false;
    try {
      this.#o.hub.connect(this.#o.infoHash, host, port, peerId ? { peerId } : {});
      return true;
    } catch {
      return false;
    }
  }

  // --- TorrentWire -------------------------------------------------------------------------

  onConnectFailed(host: string, port: number, reason: PeerCloseReason, error?: Error): void {
    this.emit('connect-failed', host, port, error ? `${reason}: ${error.message}` : reason);
  }

  onPeer(conn: PeerConnection): PeerHandler | undefined {
    const refusal = !this.#active
      ? 'no free connection slot'
      : this.#banned.has(conn.remoteAddress) || this.#banned.has(banKey(conn.remoteAddress, conn.peerId))
        ? 'banned'
        : this.peers.size >= this.#o.maxPeers && !this.#evictFor(conn)
          ? 'no free connection slot'
          : undefined;
    if (refusal) {
      // The handshake went through, so the hub reports no failure: our dialler must hear of it.
      if (!conn.incoming) this.emit('connect-failed', conn.remoteAddress, conn.remotePort, refusal);
      return undefined;
    }
    const peer = new SwarmPeer(conn, this, this.#o.clock);
    this.peers.add(peer);
    const { store, picker } = this.#o;
    // Opening message: our pieces (seed: only if we have any; fast peers get have-all/none).
    if (conn.fast && store.isComplete()) conn.send({ type: 'have-all' });
    else if (conn.fast && store.haveCount === 0) conn.send({ type: 'have-none' });
    else if (store.haveCount > 0) conn.send({ type: 'bitfield', bitfield: store.haveBitfield() });
    picker.peerJoined(peer);
    this.choker.peerConnected(peer);
    if (this.#readingPaused) conn.pause();
    this.emit('peer-connected', peer);
    return {
      onMessage: (_c, message) => this.#onMessage(peer, message),
      onFlushed: () => this.#serve(peer),
      onClose: (_c, reason: PeerCloseReason, error?: Error) => this.#onClose(peer, reason, error),
      idle: () => this.isIdle(peer),
    };
  }

  /**
   * The peer is of no use now: it let an upload slot go unused (the choker took it back), or
   * neither side has been interested since it connected a while ago. Such peers make room for
   * newcomers when the torrent (or the server) is full.
   */
  isIdle(peer: SwarmPeer): boolean {
    if (this.choker.isIdle(peer)) return true;
    return !peer.peerInterested && !peer.amInterested && this.#o.clock.now() - peer.connectedAt >= IDLE_GRACE_MS;
  }

  /** The torrent is full: drops its oldest idle incoming peer for `conn`, if it has one. */
  #evictFor(conn: PeerConnection): boolean {
    let victim: SwarmPeer | undefined;
    for (const p of this.peers) {
      if (p.conn.incoming && this.isIdle(p) && (!victim || p.connectedAt < victim.connectedAt)) victim = p;
    }
    if (!victim) return false;
    this.#drop(victim, `evicted: the torrent has ${this.#o.maxPeers} peers and this one was idle, for ${conn.remoteAddress}:${conn.remotePort}`);
    return this.peers.size < this.#o.maxPeers;
  }

  /** BEP 10: sent only when we serve metadata (BEP 9). */
  extensionHandshake(): ExtensionHandshake | undefined {
    return this.#metadata?.handshake({ reqq: MAX_QUEUED_REQUESTS });
  }

  // --- messages ----------------------------------------------------------------------------

  #onMessage(peer: SwarmPeer, m: Message): void {
    const { picker } = this.#o;
    switch (m.type) {
      case 'bitfield':
        peer.have = m.bitfield;
        picker.peerBitfield(peer, m.bitfield);
        return this.#peerGotPieces(peer);
      case 'have-all':
        picker.peerHaveAll(peer);
        return this.#peerGotPieces(peer);
      case 'have':
        picker.peerHave(peer, m.index);
        return this.#peerGotPieces(peer);
      case 'have-none':
        return;
      case 'interested':
        peer.peerInterested = true;
        this.choker.interestChanged(peer);
        return;
      case 'not-interested':
        peer.peerInterested = false;
        peer.uploadQueue.length = 0;
        this.choker.interestChanged(peer);
        return;
      case 'choke': {
        peer.peerChoking = true;
        // Without the fast extension a choke drops every outstanding request; with it the peer
        // rejects each explicitly, but we re-request elsewhere at once either way.
        const lost = picker.peerChoked(peer);
        peer.requests.clear();
        if (lost.length > 0) this.#refillAll(peer);
        return;
      }
      case 'unchoke':
        peer.peerChoking = false;
        return this.#fill(peer);
      case 'request':
        return this.#onRequest(peer, m.index, m.begin, m.length);
      case 'cancel': {
        const i = peer.uploadQueue.findIndex((r) => r.piece === m.index && r.begin === m.begin && r.length === m.length);
        if (i >= 0) peer.uploadQueue.splice(i, 1);
        return;
      }
      case 'piece':
        return this.#onPiece(peer, m.index, m.begin, m.block);
      case 'reject': {
        // Only a reject of a request we actually sent means anything.
        const key = this.#keys.match(m.index, m.begin);
        if (key === undefined || peer.requests.get(key) !== m.length) return;
        peer.requests.delete(key);
        picker.requestLost(m.index, m.begin, peer);
        return this.#fill(peer);
      }
      case 'extended-handshake': {
        const reqq = (m.handshake as { reqq?: number }).reqq;
        if (typeof reqq === 'number' && reqq > 0) peer.maxRequests = Math.min(peer.maxRequests, reqq);
        return;
      }
      case 'extended':
        this.#metadata?.onExtended(peer.conn, m.id, m.payload);
        return;
      default:
        return; // keep-alive, port, suggest, allowed-fast: nothing to do
    }
  }

  #peerGotPieces(peer: SwarmPeer): void {
    peer.seed = this.#o.picker.isSeed(peer);
    // A seed has nothing to get from us, and once finished we want nothing from it: mainline
    // closes such connections (libtorrent too, for a torrent finished with files skipped).
    if (peer.seed && this.#finished) {
      peer.conn.close();
      return;
    }
    this.#fill(peer);
  }

  // --- download side -----------------------------------------------------------------------

  /** Sets interest and tops up the request pipeline of one peer. */
  #fill(peer: SwarmPeer): void {
    if (peer.conn.state !== 'open') return;
    const { picker } = this.#o;
    const interesting = !this.#o.store.isComplete() && picker.isInteresting(peer);
    if (interesting !== peer.amInterested) {
      if (!interesting && peer.outstanding > 0) return; // stay interested until the pipeline drains
      peer.amInterested = interesting;
      peer.conn.send({ type: interesting ? 'interested' : 'not-interested' });
    }
    if (!interesting || peer.peerChoking) return;
    const target = this.#queueTarget(peer);
    let want = target - peer.outstanding - peer.pendingTokens;
    // Top up in batches (a quarter of the queue, at most 32 requests): one write per batch
    // instead of one per block received (on loopback each write costs the receiver's work too).
    if (want <= 0 || (peer.outstanding > 0 && want < Math.min(32, Math.ceil(target / 4)))) return;
    const blocks = picker.pickBlocks(peer, want, { endgame: true });
    want = blocks.length;
    if (want === 0) return;
    if (this.#downloadLimiters.every((l) => l.rate === 0)) {
      // Unlimited: the whole batch of requests goes out in one write.
      for (const b of blocks) peer.requests.set(this.#keys.of(b.piece, b.begin), b.length);
      peer.conn.sendMany(blocks.map((b) => ({ type: 'request', index: b.piece, begin: b.begin, length: b.length })));
      return;
    }
    // Download limit: a request is sent only once the limiters granted its bytes.
    for (const b of blocks) {
      peer.pendingTokens++;
      this.#takeAll(peer, this.#downloadLimiters, b.length, () => {
        peer.pendingTokens--;
        if (peer.conn.state === 'open' && !peer.peerChoking) this.#sendRequest(peer, b);
        else if (picker.requestLost(b.piece, b.begin, peer)) this.#refillAll(peer);
      });
    }
  }

  #sendRequest(peer: SwarmPeer, b: BlockRequest): void {
    peer.requests.set(this.#keys.of(b.piece, b.begin), b.length);
    peer.conn.send({ type: 'request', index: b.piece, begin: b.begin, length: b.length });
  }

  /** Outstanding requests to keep with a peer: `requestQueueSeconds` of its rate, at least the backlog. */
  #queueTarget(peer: SwarmPeer): number {
    const byRate = Math.ceil((peer.downRate.rate() * this.#o.requestQueueSeconds) / this.#keys.blockSize);
    return Math.max(this.#o.requestBacklog, Math.min(peer.maxRequests, byRate));
  }

  /** Blocks came free (choke, reject, drop, failed piece): offer them to the other peers. */
  #refillAll(except?: SwarmPeer): void {
    for (const p of this.peers) if (p !== except) this.#fill(p);
  }

  #onPiece(peer: SwarmPeer, index: number, begin: number, block: Uint8Array): void {
    const { picker, store, clock } = this.#o;
    // Like mainline, accept only the answer to a request we sent this peer, at its exact length:
    // a peer must not be able to slip unrequested (or short) data into pieces others are sending.
    const key = this.#keys.match(index, begin);
    const asked = key === undefined ? undefined : peer.requests.get(key);
    if (key === undefined || asked === undefined) {
      this.wasted += block.length;
      return;
    }
    peer.requests.delete(key);
    if (asked !== block.length) {
      // A wrong-sized answer: ask again (a few times), then give up on the peer.
      this.wasted += block.length;
      picker.requestLost(index, begin, peer);
      if (++peer.badAnswers > MAX_BAD_ANSWERS) return this.#drop(peer, `answered ${peer.badAnswers} requests with blocks of the wrong size`);
      return this.#fill(peer);
    }
    const result = picker.blockReceived(index, begin, peer);
    for (const d of result.duplicateRequestsToCancel) {
      d.peer.requests.delete(this.#keys.of(d.piece, d.begin));
      if (d.peer.conn.state === 'open') {
        d.peer.conn.send({ type: 'cancel', index: d.piece, begin: d.begin, length: d.length });
        this.#fill(d.peer);
      }
    }
    if (!result.accepted) {
      this.wasted += block.length;
      return this.#fill(peer);
    }
    peer.lastBlock = clock.now();
    peer.downRate.update(block.length);
    peer.downloaded += block.length;
    this.downRate.update(block.length);
    this.downloaded += block.length;
    let senders = this.#contributors.get(index);
    if (!senders) this.#contributors.set(index, (senders = new Set()));
    senders.add(peer);
    this.#fill(peer);
    if (this.#assemble(index, begin, block)) return;
    // The block may be a view of a shared read buffer (transient reads): keep a copy.
    const own = Buffer.from(block);
    this.#write(block.length, () => store.writeBlock(index, begin, own));
  }

  /**
   * Collects a piece's blocks in memory while the budget allows, then writes it with one call
   * (PieceStore.writePiece hashes it in memory first: no read-back, and corrupt data never
   * reaches the disk). Pieces that do not fit the budget go to disk block by block.
   * Returns false when the block must be written on its own.
   */
  #assemble(index: number, begin: number, block: Uint8Array): boolean {
    const store = this.#o.store;
    let a = this.#assemblies.get(index);
    if (!a) {
      if (this.#blockByBlock.has(index)) return false;
      const size = store.pieceSize(index);
      if (size > MAX_ASSEMBLED_PIECE || this.#assembledBytes + size > ASSEMBLY_BUDGET || !store.writtenBlocks(index).isEmpty()) {
        this.#blockByBlock.add(index);
        return false;
      }
      a = { data: size === this.#pieceBuffers.size ? this.#pieceBuffers.take() : Buffer.allocUnsafe(size), missing: store.blockCount(index) };
      this.#assemblies.set(index, a);
      this.#assembledBytes += size;
    }
    a.data.set(block, begin);
    if (--a.missing > 0) return true;
    const data = a.data;
    this.#assemblies.delete(index);
    this.#assembledBytes -= data.length;
    // The buffer moves to the store's hashing thread and comes back in the result for reuse.
    this.#write(data.length, () => store.writePiece(index, data, { transfer: true }));
    return true;
  }

  /**
   * Runs a store write, with back-pressure accounting, and acts on its result. A piece buffer
   * handed back goes to the pool (after a disk error, part of a multi-file write may still be in
   * flight, so that buffer is left to the GC).
   */
  #write(bytes: number, write: () => Promise<PieceWriteResult>): void {
    this.#writesPending(bytes);
    write().then(
      (w) => {
        if (w.data) this.#pieceBuffers.give(w.data);
        this.#writesPending(-bytes);
        if (w.status === 'verified') this.#pieceVerified(w.piece);
        else if (w.status === 'hashfail') this.#pieceFailed(w.piece);
        else if (w.status === 'duplicate') this.wasted += bytes;
      },
      (err: unknown) => {
        this.#writesPending(-bytes);
        this.#diskError(err);
      },
    );
  }

  /**
   * Disk back-pressure: received blocks wait in memory until written, so when the disk falls
   * behind we stop reading from every peer's socket (TCP then slows the senders) and resume
   * once the backlog is down to half.
   */
  #writesPending(delta: number): void {
    this.#pendingWriteBytes += delta;
    if (!this.#readingPaused && this.#pendingWriteBytes > MAX_PENDING_WRITE_BYTES) {
      this.#readingPaused = true;
      for (const p of this.peers) p.conn.pause();
    } else if (this.#readingPaused && this.#pendingWriteBytes <= MAX_PENDING_WRITE_BYTES / 2) {
      this.#readingPaused = false;
      for (const p of this.peers) p.conn.resume();
    }
  }

  #pieceVerified(index: number): void {
    const { picker, store } = this.#o;
    this.#blockByBlock.delete(index);
    picker.pieceVerified(index);
    for (const key of new Set([...(this.#contributors.get(index) ?? [])].map((p) => p.banKey))) {
      this.#goodByKey.set(key, (this.#goodByKey.get(key) ?? 0) + 1);
    }
    this.#contributors.delete(index);
    // No HAVE to peers that have the piece themselves (seeds above all): it tells them nothing, and
    // from a seed it is one send per piece, which on loopback costs as much as the piece's requests.
    for (const p of this.peers) if (p.conn.state === 'open' && !p.seed && p.have?.get(index) !== true) p.conn.send({ type: 'have', index });
    this.emit('piece', index);
    if (!this.#finished && picker.isWantedComplete) {
      this.#finished = true;
      this.#becameFinished();
    }
    if (store.isComplete()) this.emit('complete');
  }

  /** Every wanted piece is here: lose interest in everyone, close seeds, tell the owner. */
  #becameFinished(): void {
    for (const p of [...this.peers]) {
      if (p.seed) p.conn.close();
      else if (p.amInterested && p.outstanding === 0) {
        p.amInterested = false;
        p.conn.send({ type: 'not-interested' });
      } else this.#fill(p);
    }
    this.emit('finished');
  }

  #pieceFailed(index: number): void {
    const { picker } = this.#o;
    this.#blockByBlock.delete(index);
    const stale = picker.pieceFailed(index);
    for (const r of stale) {
      r.peer.requests.delete(this.#keys.of(r.piece, r.begin));
      if (r.peer.conn.state === 'open') {
        r.peer.conn.send({ type: 'cancel', index: r.piece, begin: r.begin, length: r.length });
      }
    }
    const senders = [...(this.#contributors.get(index) ?? [])];
    this.#contributors.delete(index);
    this.wasted += this.#o.store.pieceSize(index);
    this.emit('hashfail', index, senders);
    const keys = [...new Set(senders.map((p) => p.banKey))];
    // A piece a banned peer had a hand in is blamed on that peer alone: a fast corrupt peer mixes
    // its blocks into pieces honest peers also send, and those must not count against them.
    if (keys.some((k) => this.#banned.has(k))) return this.#refillAll();
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
    const threshold = keys.length === 1 ? 1 : this.#o.banAfterHashFails;
    const fails = (k: string): number => this.#failsByKey.get(k) ?? 0;
    const good = (k: string): number => this.#goodByKey.get(k) ?? 0;
    for (;;) {
      const over = keys.filter((k) => !this.#banned.has(k) && fails(k) >= threshold);
      if (over.length === 0) break;
      const most = Math.max(...over.map(fails));
      const least = Math.min(...over.filter((k) => fails(k) === most).map(good));
      const worst = over.filter((k) => fails(k) === most && good(k) === least);
      for (const key of worst) this.ban(key, `sent data for ${most} piece(s) that failed the hash check`);
    }
    this.#refillAll();
  }

  /** Bans an IP (or, on loopback, one peer id: see banKey) from this torrent and drops its connections. */
  ban(key: string, reason: string): void {
    if (this.#banned.has(key)) return;
    this.#banned.add(key);
    // Failed pieces shared with the banned peer are its fault, not its co-senders'.
    for (let i = this.#sharedFailures.length - 1; i >= 0; i--) {
      const keys = this.#sharedFailures[i]!;
      if (!keys.has(key)) continue;
      this.#sharedFailures.splice(i, 1);
      for (const other of keys) {
        const fails = this.#failsByKey.get(other);
        if (other !== key && fails !== undefined) this.#failsByKey.set(other, Math.max(0, fails - 1));
      }
    }
    this.emit('banned', key, reason);
    for (const p of [...this.peers]) if (p.banKey === key || p.conn.remoteAddress === key) p.conn.close();
  }

  #diskError(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    // Closed store: the torrent is being stopped; nothing to report.
    if (err instanceof StorageError && err.code === 'CLOSED') return;
    this.emit('error', error);
  }

  // --- upload side -------------------------------------------------------------------------

  #onRequest(peer: SwarmPeer, index: number, begin: number, length: number): void {
    const { store } = this.#o;
    if (!store.hasPiece(index) && !peer.amChoking && !peer.conn.fast) {
      // We never said we have it (mainline closes here too: get_piece had nothing).
      return this.#drop(peer, `request for piece ${index}, which we do not have`);
    }
    if (peer.amChoking || !store.hasPiece(index)) {
      if (++peer.unanswered > MAX_UNANSWERED_REQUESTS) {
        return this.#drop(peer, `more than ${MAX_UNANSWERED_REQUESTS} requests while choked or for pieces we do not have`);
      }
      // Fast peers learn at once; others lose the request silently, as BEP 3 says.
      if (peer.conn.fast) peer.conn.send({ type: 'reject', index, begin, length });
      return;
    }
    // Mainline closes on a request from a peer that is not interested; and a flood of requests
    // is how a hostile peer would make us queue unbounded work.
    if (!peer.peerInterested) return this.#drop(peer, 'request from a peer that is not interested');
    if (peer.uploadQueue.length >= MAX_QUEUED_REQUESTS) return this.#drop(peer, `more than ${MAX_QUEUED_REQUESTS} requests queued`);
    peer.uploadQueue.push({ piece: index, begin, length });
    this.#serve(peer);
  }

  /**
   * Sends queued blocks while the socket takes them and the limiters allow. A few disk reads
   * run at once per peer: one at a time would leave the link idle for each read's latency.
   */
  #serve(peer: SwarmPeer): void {
    while (
      peer.reading < MAX_READS_IN_FLIGHT &&
      !peer.waitingForTokens &&
      !peer.amChoking &&
      peer.conn.state === 'open' &&
      !peer.conn.congested
    ) {
      const next = peer.uploadQueue.shift();
      if (!next) return;
      peer.reading++;
      peer.waitingForTokens = true;
      let granted = false;
      let inLoop = true;
      this.#takeAll(peer, this.#uploadLimiters, next.length, () => {
        granted = true;
        peer.waitingForTokens = false;
        this.#sendBlock(peer, next);
        if (!inLoop) this.#serve(peer);
      });
      inLoop = false;
      if (!granted) return; // the limiter calls back later and serving resumes from there
    }
  }

  /** BEP 6: a fast peer is told about every request we will not answer, even one already in progress. */
  #unanswered(peer: SwarmPeer, r: BlockRequest): void {
    if (peer.conn.state === 'open' && peer.conn.fast) peer.conn.send({ type: 'reject', index: r.piece, begin: r.begin, length: r.length });
  }

  #sendBlock(peer: SwarmPeer, request: BlockRequest): void {
    if (peer.amChoking || peer.conn.state !== 'open') {
      peer.reading--;
      return this.#unanswered(peer, request);
    }
    this.#readCache.get(request.piece, request.begin, request.length).then(
      (block) => {
        peer.reading--;
        if (peer.conn.state !== 'open') return;
        if (peer.amChoking) return this.#unanswered(peer, request);
        peer.conn.sendPiece(request.piece, request.begin, block);
        peer.upRate.update(block.length);
        peer.uploaded += block.length;
        this.upRate.update(block.length);
        this.uploaded += block.length;
        this.#serve(peer);
      },
      (err: unknown) => {
        peer.reading--;
        this.#diskError(err);
      },
    );
  }

  /** Waits until every limiter granted `bytes`; the waits are the peer's, cancelled if it goes. */
  #takeAll(peer: SwarmPeer, limiters: TokenBucket[], bytes: number, done: () => void): void {
    let i = 0;
    let ticket: TokenTicket | undefined;
    const step = (): void => {
      if (ticket) peer.tickets.delete(ticket);
      if (i === limiters.length) return done();
      ticket = limiters[i++]!.take(bytes, step);
      if (ticket.pending) peer.tickets.add(ticket);
    };
    step();
  }

  #drop(peer: SwarmPeer, reason: string): void {
    peer.dropReason = reason;
    peer.conn.close();
  }

  /** Called by SwarmPeer.choke()/unchoke() (the Choker decides). */
  setChoke(peer: SwarmPeer, choke: boolean): void {
    if (peer.amChoking === choke || peer.conn.state !== 'open') {
      peer.amChoking = choke;
      return;
    }
    peer.amChoking = choke;
    if (choke) {
      if (peer.conn.fast) {
        for (const r of peer.uploadQueue) peer.conn.send({ type: 'reject', index: r.piece, begin: r.begin, length: r.length });
      }
      peer.uploadQueue.length = 0;
      peer.conn.send({ type: 'choke' });
    } else {
      peer.unanswered = 0;
      peer.conn.send({ type: 'unchoke' });
      this.#serve(peer);
    }
  }

  #onClose(peer: SwarmPeer, reason: PeerCloseReason, error?: Error): void {
    if (!this.peers.delete(peer)) return;
    // Its limiter waits would otherwise still use up shared bandwidth.
    for (const t of peer.tickets) t.cancel();
    peer.tickets.clear();
    peer.pendingTokens = 0;
    peer.requests.clear();
    const lost = this.#o.picker.peerLeft(peer);
    this.choker.peerDisconnected(peer);
    this.emit('peer-dropped', peer, peer.dropReason ?? (error ? `${reason}: ${error.message}` : reason));
    if (lost.length > 0) this.#refillAll();
  }

  /** Hex info-hash, for logs. */
  get id(): string {
    return hex(this.#o.infoHash);
  }
}
