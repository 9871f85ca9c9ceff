import { EventEmitter } from 'node:events';
import type { SeedChoking } from '@mainline/choker';
import type { PiecePicker } from '@mainline/piecepicker';
import type { Clock, Limiter, RateMeasure } from '@mainline/rate';
import { Bitfield } from '@mainline/bitfield';
import { StorageError, type PieceStore } from '@mainline/storage';
import { Blame } from './blame.js';
import { ChokingGlue } from './choking.js';
import type { ExtensionHandshake } from './extension.js';
import { ExtensionHost, type Extension } from './extension-host.js';
import type { HandedPeer, PeerHandOff } from './hand-off.js';
import { cancelWaits } from './limiters.js';
import type { Message } from './messages.js';
import { PieceAssembler } from './piece-assembly.js';
import { PeerAdmission } from './peer-admission.js';
import { ProtocolError } from './errors.js';
import { DEFAULT_MAX_INITIATE } from './constants.js';
import type { PeerCloseReason, PeerConnection, PeerHandler } from './peer-connection.js';
import { RequestPipeline } from './request-pipeline.js';
import { MetadataServing } from './metadata-extension.js';
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
  uploadLimiters?: Limiter[];
  downloadLimiters?: Limiter[];
  /** A peer that sent data for this many failed pieces is banned (default 3; sole sender of one: at once). */
  banAfterHashFails?: number;
  snubTimeMs?: number;
  /** How a seed rotates its upload slots (default 'round-robin'; 'upload-rate' is mainline's). */
  seedChoking?: SeedChoking;
  /** An unchoked peer to which nothing was uploaded for this long loses its slot (default 10 s; 0 = never). */
  idleUnchokeMs?: number;
  random?: () => number;
  /**
   * The exact info-dict bytes (the ones the info-hash is SHA-1 of): when given (and the torrent
   * is not private), our BEP 10 handshake advertises ut_metadata and metadata_size and peers may
   * fetch them (BEP 9).
   */
  metadata?: Uint8Array;
  /**
   * Wire extensions (BEP 10) besides ut_metadata: each is registered on the swarm's
   * ExtensionHost, which sends every peer with the extension bit our handshake and hands each
   * extension its own messages. This is where a new extension plugs in.
   */
  extensions?: readonly Extension[];
  /** A private torrent (BEP 27): public-only extensions (ut_metadata, ut_pex) are left out. */
  private?: boolean;
  /** Our listen port, for the `p` of our BEP 10 handshake (a function: it may be bound later). */
  listenPort?: number | (() => number | undefined);
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
 * the wire-extension host (ExtensionHost, BEP 10). Outside, a peer is a read-only PeerView.
 */
export class Swarm extends EventEmitter<SwarmEvents> implements TorrentWire {
  readonly limits: WireLimits;
  readonly #peers = new Set<SwarmPeer>();
  readonly #byConn = new Map<PeerConnection, SwarmPeer>();
  /** Where the addresses dialled by connect() came from (their PeerView's `source`). */
  readonly #sources = new WeakMap<PeerConnection, string>();
  readonly #o: Required<Omit<SwarmOptions, 'uploadLimiters' | 'downloadLimiters' | 'random' | 'metadata' | 'seedChoking' | 'idleUnchokeMs' | 'extensions' | 'private' | 'listenPort'>>;
  readonly #blame: Blame;
  readonly #pipeline: RequestPipeline;
  readonly #assembler: PieceAssembler;
  readonly #uploads: UploadServer;
  readonly #choking: ChokingGlue;
  readonly #admission: PeerAdmission;
  /** Every BEP 10 concern of the swarm goes through its wire-extension host. */
  readonly #extensions: ExtensionHost;
  #active = false;
  /** Every wanted piece was verified when last looked at (see finished / wantedChanged). */
  #finished: boolean;

  constructor(options: SwarmOptions) {
    super();
    this.#o = {
      maxPeers: 55,
      maxInitiate: DEFAULT_MAX_INITIATE,
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
    this.#extensions = new ExtensionHost({
      extensions: [...(options.metadata ? [new MetadataServing(options.metadata)] : []), ...(options.extensions ?? [])],
      private: options.private === true,
      reqq: MAX_QUEUED_REQUESTS,
      ...(options.listenPort !== undefined ? { listenPort: options.listenPort } : {}),
    });
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
      hubRoom: () => this.#o.hub.room,
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

  /**
   * Registers with the wire hub: incoming peers for this info-hash are accepted from now on.
   * With `handOff` (a magnet's metadata fetcher holding its connections), the swarm takes the
   * fetcher's place on the hub and adopts its open connections, with the pieces each peer
   * announced meanwhile: no connection is closed and nobody is dialled again.
   */
  start(handOff?: PeerHandOff): void {
    if (this.#active) return;
    this.#active = true;
    const { hub, infoHash } = this.#o;
    const handed = handOff ? handOff.take() : [];
    if (handed.length > 0 || (handOff && hub.hasTorrent(infoHash))) hub.replaceTorrent(infoHash, this);
    else if (!hub.hasTorrent(infoHash)) hub.addTorrent(infoHash, this);
    this.#choking.choker.start();
    for (const h of handed) this.#adopt(h);
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
   * or at `host:port` (its listen port, for one that dialled us) is connected already. `source`
   * (where the address came from) shows in the peer's view.
   */
  connect(host: string, port: number, peerId?: Uint8Array, source?: string): boolean {
    if (!this.#active || !this.#admission.mayDial(host, peerId) || this.#admission.connectedTo(host, port)) return false;
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
    const { store } = this.#o;
    const peer = this.#join(conn);
    // Opening message: our pieces (seed: only if we have any; fast peers get have-all/none).
    if (conn.fast && store.isComplete()) conn.send({ type: 'have-all' });
    else if (conn.fast && store.haveCount === 0) conn.send({ type: 'have-none' });
    else if (store.haveCount > 0) conn.send({ type: 'bitfield', bitfield: store.haveBitfield() });
    this.#o.picker.peerJoined(peer);
    this.#joined(peer);
    return this.#handler(peer);
  }

  /**
   * A connection handed over from a magnet's metadata fetcher: it is open, its opening messages
   * are exchanged (the fetcher sent have-none to fast peers), and what the peer said of its pieces
   * is checked now that the piece count is known, then replayed. Our pieces go as haves (a
   * bitfield is no longer allowed), and a new BEP 10 handshake tells it the metadata size and
   * every extension of the torrent.
   */
  #adopt(h: HandedPeer): void {
    const { conn } = h;
    if (conn.state !== 'open') return;
    const refusal = this.#admission.refusal(conn, this.#active);
    if (refusal) {
      conn.close();
      return;
    }
    const { store, picker } = this.#o;
    let bitfield;
    try {
      bitfield = h.bitfield ? Bitfield.fromBytes(h.bitfield, store.pieceCount) : undefined;
    } catch (err) {
      return conn.fail(new ProtocolError('BAD_BITFIELD', `bad bitfield before the metadata: ${(err as Error).message}`));
    }
    const badHave = h.haves.find((i) => i >= store.pieceCount);
    if (badHave !== undefined) return conn.fail(new ProtocolError('INDEX_OUT_OF_RANGE', `have for piece ${badHave} before the metadata, but there are ${store.pieceCount} pieces`));
    const peer = this.#join(conn);
    peer.peerChoking = h.peerChoking;
    peer.peerInterested = h.peerInterested;
    conn.attachHandler(this.#handler(peer));
    const ours = store.haveBitfield();
    for (let i = ours.nextSet(0); i !== -1; i = ours.nextSet(i + 1)) conn.send({ type: 'have', index: i });
    picker.peerJoined(peer);
    if (bitfield) {
      peer.have = bitfield;
      picker.peerBitfield(peer, bitfield);
    }
    if (h.haveAll) picker.peerHaveAll(peer);
    for (const i of h.haves) picker.peerHave(peer, i);
    this.#joined(peer);
    if (conn.extended) {
      if (conn.peerExtensions) this.#extensions.onHandshake(peer, conn.peerExtensions);
      if (conn.state === 'open') conn.send({ type: 'extended-handshake', handshake: this.#extensions.handshake(peer) });
    }
    if (conn.state === 'open' && (bitfield || h.haveAll || h.haves.length > 0)) this.#peerGotPieces(peer);
    // Its opening message came during the fetch: now the allowed-fast set (BEP 6) can be offered.
    if (conn.state === 'open' && !h.haveAll) this.#uploads.peerOpened(peer);
  }

  #join(conn: PeerConnection): SwarmPeer {
    const { store, clock } = this.#o;
    const source = this.#sources.get(conn) ?? (conn.incoming ? 'incoming' : undefined);
    const peer = new SwarmPeer(conn, this.#choking, clock, store.pieceCount, source);
    this.#peers.add(peer);
    this.#byConn.set(conn, peer);
    return peer;
  }

  #joined(peer: SwarmPeer): void {
    this.#choking.choker.peerConnected(peer);
    if (peer.peerInterested) this.#choking.choker.interestChanged(peer);
    if (this.#assembler.readingPaused) peer.conn.pause();
    this.emit('peer-connected', peer);
  }

  #handler(peer: SwarmPeer): PeerHandler {
    return {
      onMessage: (_c, message) => this.#onMessage(peer, message),
      onFlushed: () => this.#uploads.serve(peer),
      onClose: (_c, reason: PeerCloseReason, error?: Error) => this.#onClose(peer, reason, error),
      idle: () => this.#choking.isIdle(peer),
    };
  }

  /** Our BEP 10 handshake for a peer, from the extension host. */
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
      case 'invalid-request':
        return this.#uploads.onInvalidRequest(peer, m.index, m.begin, m.length);
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
    this.#extensions.onClose(peer);
    // Its limiter waits would otherwise still use up shared bandwidth.
    cancelWaits(peer);
    peer.requests.clear();
    const lost = this.#o.picker.peerLeft(peer);
    this.#choking.choker.peerDisconnected(peer);
    this.emit('peer-dropped', peer, peer.dropReason ?? (error ? `${reason}: ${error.message}` : reason));
    if (lost.length > 0) this.#pipeline.refillAll();
  }
}
