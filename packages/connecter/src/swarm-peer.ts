import type { Bitfield } from '@mainline/bitfield';
import type { ChokablePeer } from '@mainline/choker';
import type { BlockRequest } from '@mainline/piecepicker';
import { isLoopback } from '@mainline/rawserver';
import { RateMeasure, UPLOAD_RATE_FUDGE_MS, type Clock, type TokenTicket } from '@mainline/rate';
import type { PeerConnection } from './peer-connection.js';

/**
 * One connected peer of a swarm as the outside sees it (the daemon's peer list, the session's
 * peer bookkeeping, tests): read-only. The swarm's modules work on the state behind it.
 */
export interface PeerView {
  /** `remoteAddress:remotePort`. */
  readonly address: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** The peer dialled us. */
  readonly incoming: boolean;
  /** The transport the connection came on: 'tcp', 'memory' (later 'utp'). */
  readonly transport: string;
  /** Where its address came from, as the dialler said ('tracker', 'user', …; 'incoming' for incoming peers), if known. */
  readonly source: string | undefined;
  readonly peerId: Uint8Array | undefined;
  /** The client it names in its BEP 10 handshake (`v`), if it sent one. */
  readonly client: string | undefined;
  /** The port it listens on, as its BEP 10 handshake says (`p`), if it said. */
  readonly listenPort: number | undefined;
  /** Both sides set the BEP 6 fast bit / the BEP 10 extension-protocol bit. */
  readonly fast: boolean;
  readonly extended: boolean;
  readonly amChoking: boolean;
  readonly amInterested: boolean;
  readonly peerChoking: boolean;
  readonly peerInterested: boolean;
  /** It has every piece. */
  readonly seed: boolean;
  /** Pieces it has (all of them for a seed). */
  readonly piecesHave: number;
  /** Bytes/s it sends us, and we send it. */
  downloadRate(): number;
  uploadRate(): number;
  /** Bytes of accepted blocks from it, and of blocks we sent it. */
  readonly downloaded: number;
  readonly uploaded: number;
  /** Failed pieces it sent data for (counted per ban key, so across reconnects). */
  readonly hashFails: number;
  /** Our requests to it not answered yet, and its requests queued with us. */
  readonly outstanding: number;
  readonly queuedUploads: number;
  /** Clock time it joined the swarm. */
  readonly connectedAt: number;
  /**
   * BEP 6: rejects it sent for requests we were waiting for (not those answering our cancels or
   * its choke), and the pieces it allows us while it chokes us.
   */
  readonly rejected: number;
  readonly allowedFastIn: ReadonlySet<number>;
  /** Who a ban of this peer applies to (see banKey). */
  readonly banKey: string;
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/**
 * Who a ban applies to: the IP address, except on loopback, where every peer shares one
 * address (tests, local swarms) and the peer id is what tells them apart.
 */
export function banKey(address: string, peerId: Uint8Array | undefined): string {
  return (isLoopback(address) || address.startsWith('::ffff:127.')) && peerId ? `${address}/${hex(peerId)}` : address;
}

/** What choking a peer does (the swarm's choking glue); the choker calls it through the peer. */
export interface ChokeControl {
  setChoke(peer: SwarmPeer, choke: boolean): void;
}

/**
 * @internal The swarm's state for one peer, behind its PeerView: the wire, interest and choke
 * state, the request pipeline (download side), the upload queue (upload side) and the rates.
 */
export class SwarmPeer implements PeerView, ChokablePeer {
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
  /** Most requests in flight to it (its BEP 10 `reqq`, at most 250). */
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

  // --- BEP 6 fast extension ------------------------------------------------------------------
  /** Its allowed-fast set as we computed it (BEP 6's algorithm), once its opening message came. */
  fastSet: readonly number[] | undefined;
  /** The pieces of that set we told it about (allowed fast): served while we choke it. */
  readonly allowedFastOut = new Set<number>();
  /** Requests for each allowed-fast piece we accepted while choking it (bounded per piece). */
  readonly chokedServed = new Map<number, number>();
  /** Pieces it allows us while it chokes us (at most MAX_ALLOWED_FAST_IN, see the pipeline). */
  readonly allowedFastIn = new Set<number>();
  /**
   * Requests of ours whose answer (a reject, or the piece) is still due but whose block went back
   * to the picker: choked by this fast peer, or cancelled. Key → length, oldest first, bounded.
   */
  readonly awaitingAnswer = new Map<number, number>();
  /** Rejects for requests we never sent it, and rejects in a row with no block in between. */
  strayRejects = 0;
  rejectStreak = 0;
  /** Rejects it sent for requests we were waiting for (the PeerView's `rejected`). */
  rejected = 0;
  /**
   * Requests it showed it keeps (see RequestPipeline.rejected): a peer whose queue is shorter than
   * its `reqq` rejects what goes past it. Infinity until it rejects one while unchoking us.
   */
  queueCap = Infinity;
  /** Pieces we suggested to it that it does not have yet (at most MAX_SUGGESTIONS_OUT). */
  readonly suggestedOut = new Set<number>();
  readonly connectedAt: number;

  constructor(
    readonly conn: PeerConnection,
    private readonly control: ChokeControl,
    clock: Clock,
    private readonly pieceCount: number,
    readonly source: string | undefined,
  ) {
    this.downRate = new RateMeasure({ clock });
    this.upRate = new RateMeasure({ clock, fudgeMs: UPLOAD_RATE_FUDGE_MS });
    this.connectedAt = clock.now();
  }

  get address(): string {
    return `${this.conn.remoteAddress}:${this.conn.remotePort}`;
  }

  get remoteAddress(): string {
    return this.conn.remoteAddress;
  }

  get remotePort(): number {
    return this.conn.remotePort;
  }

  get incoming(): boolean {
    return this.conn.incoming;
  }

  get transport(): string {
    return this.conn.transport;
  }

  get peerId(): Uint8Array | undefined {
    return this.conn.peerId;
  }

  get client(): string | undefined {
    const v = this.conn.peerExtensions?.v;
    return typeof v === 'string' ? v : undefined;
  }

  get listenPort(): number | undefined {
    return this.conn.peerExtensions?.p;
  }

  get fast(): boolean {
    return this.conn.fast;
  }

  get extended(): boolean {
    return this.conn.extended;
  }

  get piecesHave(): number {
    return this.seed ? this.pieceCount : (this.have?.count() ?? 0);
  }

  /** Requests sent and not answered yet. */
  get outstanding(): number {
    return this.requests.size;
  }

  get queuedUploads(): number {
    return this.uploadQueue.length;
  }

  get banKey(): string {
    return banKey(this.conn.remoteAddress, this.conn.peerId);
  }

  /** The peer's BEP 10 `reqq`: we keep no more requests in flight to it. */
  limitRequests(reqq: number): void {
    if (reqq > 0) this.maxRequests = Math.min(this.maxRequests, reqq);
  }

  // --- ChokablePeer ------------------------------------------------------------------------

  isInterested(): boolean {
    return this.peerInterested;
  }
  isChoked(): boolean {
    return this.amChoking;
  }
  choke(): void {
    this.control.setChoke(this, true);
  }
  unchoke(): void {
    this.control.setChoke(this, false);
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

/** @internal The swarm's state behind a view it handed out (the picker hands peers back as views). */
export function stateOf(view: PeerView): SwarmPeer {
  if (!(view instanceof SwarmPeer)) throw new TypeError('not a peer of a Swarm');
  return view;
}
