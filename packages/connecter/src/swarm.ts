import { EventEmitter } from 'node:events';
import type { SeedChoking } from '@mainline/choker';
import type { PiecePicker } from '@mainline/piecepicker';
import type { Clock, RateMeasure, TokenBucket } from '@mainline/rate';
import { StorageError, type PieceStore } from '@mainline/storage';
import { Blame } from './blame.js';
import { ChokingGlue } from './choking.js';
import type { ExtensionHandshake } from './extension.js';
import { cancelWaits } from './limiters.js';
import type { Message } from './messages.js';
import { PieceAssembler } from './piece-assembly.js';
import { PeerAdmission } from './peer-admission.js';
import type { PeerCloseReason, PeerConnection, PeerHandler } from './peer-connection.js';
import { RequestPipeline } from './request-pipeline.js';
import { MetadataExtensions, type SwarmExtensions } from './swarm-extensions.js';
import { stateOf, SwarmPeer, type PeerView } from './swarm-peer.js';

export { banKey } from './swarm-peer.js';
import { MAX_QUEUED_REQUESTS, UploadServer } from './upload-server.js';
import type { TorrentWire, WireHub } from './wire-hub.js';
import type { WireLimits } from './wire-reader.js';

export interface SwarmOptions {
  hub: WireHub;
  infoHash: Uint8Array;
  store: PieceStore;
  /** The torrent's picker; it sees peers as their PeerView. */
  picker: PiecePicker<PeerView>;
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
   * Ignored when `extensions` is given.
   */
  metadata?: Uint8Array;
  /** The BEP 10 side of the swarm (default: MetadataExtensions over `metadata`). */
  extensions?: SwarmExtensions;
}

export interface SwarmEvents {
  'peer-connected': [peer: PeerView];
  'peer-dropped': [peer: PeerView, reason: string];
  /**
   * A connection started by connect() did not become a peer: refused, timed out, a bad handshake,
   * or turned away by us after it (full, banned). `host`/`port` are the ones given to connect().
   */
  'connect-failed': [host: string, port: number, reason: string];
  piece: [index: number];
  hashfail: [index: number, peers: PeerView[]];
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

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/**
 * The peers of one torrent, doing what mainline's Connecter, Downloader and Uploader did. This
 * class is the wiring and the dispatch; the work is in its parts: RequestPipeline (download
 * side), PieceAssembler (blocks to pieces on disk), UploadServer (upload side), Blame (hash
 * failures and bans), ChokingGlue (the Choker on the wire), PeerAdmission (who may join) and
 * the BEP 10 delegate (SwarmExtensions). Outside, a peer is a read-only PeerView.
 */
export class Swarm extends EventEmitter<SwarmEvents> implements TorrentWire {
  readonly limits: WireLimits;
  readonly #peers = new Set<SwarmPeer>();
  readonly #byConn = new Map<PeerConnection, SwarmPeer>();
  /** Where the addresses dialled by connect() came from (their PeerView's `source`). */
  readonly #sources = new WeakMap<PeerConnection, string>();
  readonly #o: Required<Omit<SwarmOptions, 'uploadLimiters' | 'downloadLimiters' | 'random' | 'metadata' | 'seedChoking' | 'idleUnchokeMs' | 'extensions'>>;
  readonly #blame: Blame;
  readonly #pipeline: RequestPipeline;
  readonly #assembler: PieceAssembler;
  readonly #uploads: UploadServer;
  readonly #choking: ChokingGlue;
  readonly #admission: PeerAdmission;
  /** Every BEP 10 concern of the swarm goes through this one delegate. */
  readonly #extensions: SwarmExtensions;
  #active = false;
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
    const { store, picker, clock } = options;
    this.limits = { numPieces: store.pieceCount, pieceLength: store.pieceLength, totalLength: store.totalLength };
    this.#extensions = options.extensions ?? new MetadataExtensions(options.metadata, MAX_QUEUED_REQUESTS);
    this.#finished = picker.isWantedComplete;
    const drop = (peer: SwarmPeer, reason: string): void => this.#drop(peer, reason);
    this.#blame = new Blame(this.#o.banAfterHashFails);
    this.#assembler = new PieceAssembler(store, {
      verified: (i) => this.#pieceVerified(i),
      failed: (i) => this.#pieceFailed(i),
      duplicate: (bytes) => (this.#pipeline.wasted += bytes),
      reading: (paused) => {
        for (const p of this.#peers) {
          if (paused) p.conn.pause();
          else p.conn.resume();
        }
      },
      error: (e) => this.#diskError(e),
    });
    this.#pipeline = new RequestPipeline({
      picker,
      store,
      clock,
      limiters: options.downloadLimiters ?? [],
      requestBacklog: this.#o.requestBacklog,
      requestQueueSeconds: this.#o.requestQueueSeconds,
      peers: this.#peers,
      accepted: (peer, index, begin, block) => {
        this.#blame.sent(index, peer);
        this.#assembler.add(index, begin, block);
      },
      drop,
    });
    this.#uploads = new UploadServer({
      store,
      clock,
      limiters: options.uploadLimiters ?? [],
      drop,
      diskError: (e) => this.#diskError(e),
      infoHash: options.infoHash,
      peers: this.#peers,
      peerHas: (peer, piece) => picker.peerHasPiece(peer, piece),
      suggesting: () => this.#finished && this.#interestedPeers() > this.#o.maxUploads,
    });
    this.#choking = new ChokingGlue(
      {
        clock,
        maxUploads: this.#o.maxUploads,
        minUploads: this.#o.minUploads,
        snubTimeMs: this.#o.snubTimeMs,
        isSeeding: () => picker.isWantedComplete,
        // A turn of a round-robin seed: libtorrent's seeding_piece_quota of 20 pieces.
        seedTurnBytes: 20 * store.pieceLength,
        ...(options.seedChoking ? { seedChoking: options.seedChoking } : {}),
        ...(options.idleUnchokeMs !== undefined ? { idleUnchokeMs: options.idleUnchokeMs } : {}),
        ...(options.random ? { random: options.random } : {}),
      },
      this.#uploads,
    );
    this.#admission = new PeerAdmission({
      peers: this.#peers,
      maxPeers: this.#o.maxPeers,
      maxInitiate: this.#o.maxInitiate,
      blame: this.#blame,
      isIdle: (p) => this.#choking.isIdle(p),
      drop,
    });
  }

  /** The connected peers, read-only. */
  get peers(): ReadonlySet<PeerView> {
    return this.#peers;
  }

  get store(): PieceStore {
    return this.#o.store;
  }

  get picker(): PiecePicker<PeerView> {
    return this.#o.picker;
  }

  /** Bytes of accepted blocks, of blocks uploaded, and received but dropped (duplicates, unrequested, failed pieces). */
  get downloaded(): number {
    return this.#pipeline.downloaded;
  }

  get uploaded(): number {
    return this.#uploads.uploaded;
  }

  get wasted(): number {
    return this.#pipeline.wasted;
  }

  /** The swarm's download and upload rates (read them with `rate()`). */
  get downRate(): Pick<RateMeasure, 'rate'> {
    return this.#pipeline.downRate;
  }

  get upRate(): Pick<RateMeasure, 'rate'> {
    return this.#uploads.upRate;
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
    else this.#pipeline.refillAll();
  }

  /** Registers with the wire hub: incoming peers for this info-hash are accepted from now on. */
  start(): void {
    if (this.#active) return;
    this.#active = true;
    if (!this.#o.hub.hasTorrent(this.#o.infoHash)) this.#o.hub.addTorrent(this.#o.infoHash, this);
    this.#choking.choker.start();
  }

  /** Drops every peer and leaves the hub. */
  stop(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#choking.choker.stop();
    this.#o.hub.removeTorrent(this.#o.infoHash);
    for (const p of [...this.#peers]) p.conn.close();
    this.#uploads.clear();
    this.#assembler.clear();
  }

  get active(): boolean {
    return this.#active;
  }

  get seedCount(): number {
    let n = 0;
    for (const p of this.#peers) if (p.seed) n++;
    return n;
  }

  isBanned(key: string): boolean {
    return this.#blame.isBanned(key);
  }

  /** Outgoing connections that may start now: maxInitiate minus the open connections (a dialler subtracts its dials in progress). */
  get outgoingSlots(): number {
    return this.#admission.outgoingSlots(this.#active);
  }

  /**
   * Dials one peer (whom to dial and when is the caller's choice: the session's peer list). The
   * outcome is a `peer-connected` or a `connect-failed` event. Returns false, with no event, when
   * the dial cannot start: the swarm is stopped, the address is banned, or a peer with `peerId`
   * is connected already. `source` (where the address came from) shows in the peer's view.
   */
  connect(host: string, port: number, peerId?: Uint8Array, source?: string): boolean {
    if (!this.#active || !this.#admission.mayDial(host, peerId)) return false;
    if (peerId && this.#o.hub.isConnected(this.#o.infoHash, peerId)) return false;
    try {
      const conn = this.#o.hub.connect(this.#o.infoHash, host, port, peerId ? { peerId } : {});
      if (source !== undefined) this.#sources.set(conn, source);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The peer is of no use now: it let an upload slot go unused (the choker took it back), or
   * neither side has been interested since it connected a while ago (what eviction goes by).
   */
  isIdle(peer: PeerView): boolean {
    return this.#choking.isIdle(stateOf(peer));
  }

  /** Bans an IP (or, on loopback, one peer id: see banKey) from this torrent and drops its connections. */
  ban(key: string, reason: string): void {
    if (this.#blame.ban(key)) this.#banned(key, reason);
  }

  /** Hex info-hash, for logs. */
  get id(): string {
    return hex(this.#o.infoHash);
  }

  // --- TorrentWire -------------------------------------------------------------------------

  onConnectFailed(host: string, port: number, reason: PeerCloseReason, error?: Error): void {
    this.emit('connect-failed', host, port, error ? `${reason}: ${error.message}` : reason);
  }

  onPeer(conn: PeerConnection): PeerHandler | undefined {
    const refusal = this.#admission.refusal(conn, this.#active);
    if (refusal) {
      // The handshake went through, so the hub reports no failure: our dialler must hear of it.
      if (!conn.incoming) this.emit('connect-failed', conn.remoteAddress, conn.remotePort, refusal);
      return undefined;
    }
    const { store, picker, clock } = this.#o;
    const source = this.#sources.get(conn) ?? (conn.incoming ? 'incoming' : undefined);
    const peer = new SwarmPeer(conn, this.#choking, clock, store.pieceCount, source);
    this.#peers.add(peer);
    this.#byConn.set(conn, peer);
    // Opening message: our pieces (seed: only if we have any; fast peers get have-all/none).
    if (conn.fast && store.isComplete()) conn.send({ type: 'have-all' });
    else if (conn.fast && store.haveCount === 0) conn.send({ type: 'have-none' });
    else if (store.haveCount > 0) conn.send({ type: 'bitfield', bitfield: store.haveBitfield() });
    picker.peerJoined(peer);
    this.#choking.choker.peerConnected(peer);
    if (this.#assembler.readingPaused) conn.pause();
    this.emit('peer-connected', peer);
    return {
      onMessage: (_c, message) => this.#onMessage(peer, message),
      onFlushed: () => this.#uploads.serve(peer),
      onClose: (_c, reason: PeerCloseReason, error?: Error) => this.#onClose(peer, reason, error),
      idle: () => this.#choking.isIdle(peer),
    };
  }

  /** Our BEP 10 handshake for a peer, from the extensions delegate. */
  extensionHandshake(conn: PeerConnection): ExtensionHandshake | undefined {
    const peer = this.#byConn.get(conn);
    return peer ? this.#extensions.handshake(peer) : undefined;
  }

  // --- messages ----------------------------------------------------------------------------

  #onMessage(peer: SwarmPeer, m: Message): void {
    const { picker } = this.#o;
    switch (m.type) {
      case 'bitfield':
        peer.have = m.bitfield;
        picker.peerBitfield(peer, m.bitfield);
        this.#peerGotPieces(peer);
        return this.#uploads.peerOpened(peer);
      case 'have-all':
        picker.peerHaveAll(peer);
        return this.#peerGotPieces(peer);
      case 'have':
        picker.peerHave(peer, m.index);
        this.#uploads.peerGot(peer, m.index);
        return this.#peerGotPieces(peer);
      case 'have-none':
        return this.#uploads.peerOpened(peer);
      case 'interested':
        peer.peerInterested = true;
        this.#choking.choker.interestChanged(peer);
        return;
      case 'not-interested':
        peer.peerInterested = false;
        this.#uploads.onNotInterested(peer);
        this.#choking.choker.interestChanged(peer);
        return;
      case 'choke':
        return this.#pipeline.choked(peer);
      case 'unchoke':
        return this.#pipeline.unchoked(peer);
      case 'request':
        return this.#uploads.onRequest(peer, m.index, m.begin, m.length);
      case 'cancel':
        return this.#uploads.onCancel(peer, m.index, m.begin, m.length);
      case 'piece':
        return this.#pipeline.received(peer, m.index, m.begin, m.block);
      case 'reject':
        return this.#pipeline.rejected(peer, m.index, m.begin, m.length);
      case 'allowed-fast':
        return this.#pipeline.allowedFast(peer, m.index);
      case 'suggest':
        return picker.peerSuggested(peer, m.index);
      case 'extended-handshake':
        return this.#extensions.onHandshake(peer, m.handshake);
      case 'extended':
        return this.#extensions.onMessage(peer, m.id, m.payload);
      default:
        return; // keep-alive, port: nothing to do
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
    this.#pipeline.fill(peer);
  }

  // --- pieces ------------------------------------------------------------------------------

  #pieceVerified(index: number): void {
    const { picker, store } = this.#o;
    this.#assembler.settled(index);
    picker.pieceVerified(index);
    this.#blame.verified(index);
    // No HAVE to peers that have the piece themselves (seeds above all): it tells them nothing, and
    // from a seed it is one send per piece, which on loopback costs as much as the piece's requests.
    for (const p of this.#peers) if (p.conn.state === 'open' && !p.seed && p.have?.get(index) !== true) p.conn.send({ type: 'have', index });
    this.#uploads.pieceAdded(index);
    this.emit('piece', index);
    if (!this.#finished && picker.isWantedComplete) {
      this.#finished = true;
      this.#becameFinished();
    }
    if (store.isComplete()) this.emit('complete');
  }

  #interestedPeers(): number {
    let n = 0;
    for (const p of this.#peers) if (p.peerInterested) n++;
    return n;
  }

  /** Every wanted piece is here: lose interest in everyone, close seeds, tell the owner. */
  #becameFinished(): void {
    for (const p of [...this.#peers]) {
      if (p.seed) p.conn.close();
      else if (p.amInterested && p.outstanding === 0) {
        p.amInterested = false;
        p.conn.send({ type: 'not-interested' });
      } else this.#pipeline.fill(p);
    }
    this.emit('finished');
  }

  #pieceFailed(index: number): void {
    this.#assembler.settled(index);
    this.#pipeline.pieceFailed(index);
    const { senders, bans } = this.#blame.failed(index);
    this.emit('hashfail', index, senders);
    for (const b of bans) this.#banned(b.key, b.reason);
    this.#pipeline.refillAll();
  }

  /** A ban was recorded: tell the owner, drop the peers it applies to. */
  #banned(key: string, reason: string): void {
    this.emit('banned', key, reason);
    for (const p of [...this.#peers]) if (p.banKey === key || p.conn.remoteAddress === key) p.conn.close();
  }

  #diskError(err: unknown): void {
    // Closed store: the torrent is being stopped; nothing to report.
    if (err instanceof StorageError && err.code === 'CLOSED') return;
    this.emit('error', err instanceof Error ? err : new Error(String(err)));
  }

  // --- peers -------------------------------------------------------------------------------

  #drop(peer: SwarmPeer, reason: string): void {
    peer.dropReason = reason;
    peer.conn.close();
  }

  #onClose(peer: SwarmPeer, reason: PeerCloseReason, error?: Error): void {
    if (!this.#peers.delete(peer)) return;
    this.#byConn.delete(peer.conn);
    // Its limiter waits would otherwise still use up shared bandwidth.
    cancelWaits(peer);
    peer.requests.clear();
    const lost = this.#o.picker.peerLeft(peer);
    this.#choking.choker.peerDisconnected(peer);
    this.emit('peer-dropped', peer, peer.dropReason ?? (error ? `${reason}: ${error.message}` : reason));
    if (lost.length > 0) this.#pipeline.refillAll();
  }
}
