import type { CloseReason, PeerSocket, SocketHandler } from '@mainline/rawserver';
import type { TimerHandle } from '@mainline/rate';
import { ConnecterError, ProtocolError } from './errors.js';
import type { ExtensionHandshake } from './extension.js';
import { encodeHandshake } from './handshake.js';
import { encodeMessage, encodeMessages, encodePieceHeader, FAST_MESSAGES, type Message } from './messages.js';
import { WireReader, type WireLimits } from './wire-reader.js';

/** Why a peer connection ended: the socket's reason, or the peer broke the protocol. */
export type PeerCloseReason = CloseReason | 'protocol-error';

/** What a torrent is told about one connected (handshaken) peer. */
export interface PeerHandler {
  /** A validated message from the peer (keep-alives included). */
  onMessage(peer: PeerConnection, message: Message): void;
  /** The peer's send queue drained below the low-water mark: send more. */
  onFlushed?(peer: PeerConnection): void;
  /** The connection is gone (once). `error` is the ProtocolError for 'protocol-error'. */
  onClose(peer: PeerConnection, reason: PeerCloseReason, error?: Error): void;
  /**
   * Whether the torrent has no use for this peer now (e.g. neither side interested, or it let an
   * upload slot go unused): when the server is full, the hub may close it ('evicted') to make room
   * for a new incoming peer.
   */
  idle?(peer: PeerConnection): boolean;
}

/** @internal The hub's side of a connection. */
export interface ConnectionOwner {
  readonly now: () => number;
  readonly localPeerId: Uint8Array;
  readonly localReserved: Uint8Array;
  onInfoHash(conn: PeerConnection, infoHash: Uint8Array): void;
  onPeerId(conn: PeerConnection, peerId: Uint8Array): void;
  onClosed(conn: PeerConnection, reason: PeerCloseReason, error?: Error): void;
  /** An outgoing connect completed (the handshake deadline starts). */
  onConnected(conn: PeerConnection): void;
  /** The first message after the handshake that is not a keep-alive or a port arrived. */
  onFirstMessage(conn: PeerConnection): void;
  /** A BEP 5 `port` message arrived (before the torrent's handler sees it). */
  onPort?(conn: PeerConnection, port: number): void;
}

export type PeerConnectionState = 'handshaking' | 'open' | 'closed';

/**
 * One peer-wire connection over a PeerSocket (TCP, in-memory, later uTP or an MSE-wrapped one):
 * reads the handshake and messages through a WireReader, sends messages without concatenating
 * payloads, and drops the peer on the first ProtocolError.
 */
export class PeerConnection {
  /** The peer's info-hash (set once read, or at once for outgoing connections). */
  infoHash: Uint8Array | undefined;
  /** The peer's id, once the handshake is complete. */
  peerId: Uint8Array | undefined;
  /** The peer's last extension handshake (BEP 10), if any. */
  peerExtensions: ExtensionHandshake | undefined;
  /** Clock time of the last message we sent. */
  lastSentAt: number;
  /** Messages sent and received, keep-alives included. */
  messagesSent = 0;
  messagesReceived = 0;

  /** @internal The pending handshake or first-message deadline (WireHub's). */
  deadline: TimerHandle | undefined;
  /** @internal Open, and nothing but keep-alives (and port) received yet. */
  awaitingFirstMessage = false;

  private stateValue: PeerConnectionState = 'handshaking';
  private handler: PeerHandler | undefined;
  private handshakeSent = false;
  /** @internal */
  readonly reader: WireReader;

  /** @internal Created by WireHub. */
  constructor(
    private readonly owner: ConnectionOwner,
    readonly socket: PeerSocket,
    readonly incoming: boolean,
    /** For outgoing connections: the id the tracker gave, which the peer must present. */
    readonly expectedPeerId: Uint8Array | undefined,
  ) {
    this.lastSentAt = owner.now();
    this.reader = new WireReader(
      {
        onInfoHash: (infoHash) => this.owner.onInfoHash(this, infoHash),
        onPeerId: (peerId) => this.owner.onPeerId(this, peerId),
        onMessage: (message) => this.received(message),
      },
      { localReserved: owner.localReserved, transient: socket.transientReads },
    );
  }

  get state(): PeerConnectionState {
    return this.stateValue;
  }

  get remoteAddress(): string {
    return this.socket.remoteAddress;
  }

  get remotePort(): number {
    return this.socket.remotePort;
  }

  /** The transport the connection came on ('tcp', 'memory', later 'utp'). */
  get transport(): string {
    return this.socket.transport;
  }

  /** The peer's reserved handshake bytes, once read. */
  get remoteReserved(): Uint8Array | undefined {
    return this.reader.remoteReserved;
  }

  /** Both sides set the BEP 6 fast bit. */
  get fast(): boolean {
    return this.reader.fast;
  }

  /** Both sides set the BEP 10 extension-protocol bit. */
  get extended(): boolean {
    return this.reader.extended;
  }

  /** Bytes waiting in the socket's send queue; `congested` when over the server's threshold. */
  get writableLength(): number {
    return this.socket.writableLength;
  }

  get congested(): boolean {
    return this.socket.congested;
  }

  /** The SocketHandler this connection installs on its socket. @internal */
  readonly socketHandler: SocketHandler = {
    onData: (_s, chunk) => this.data(chunk),
    onConnect: () => this.owner.onConnected(this),
    onFlushed: () => {
      if (this.stateValue === 'open') this.handler?.onFlushed?.(this);
    },
    onClose: (_s, reason, error) => this.closed(reason, error),
  };

  /** @internal */
  setLimits(limits: WireLimits): void {
    this.reader.setLimits(limits);
  }

  /** @internal Sends our handshake (once). */
  sendHandshake(infoHash: Uint8Array): void {
    if (this.handshakeSent) return;
    this.handshakeSent = true;
    this.socket.write(encodeHandshake(infoHash, this.owner.localPeerId, this.owner.localReserved));
  }

  /** @internal The handshake completed: sending is allowed from now on. */
  open(): void {
    this.stateValue = 'open';
    this.wasOpenedValue = true;
    this.openedAtValue = this.owner.now();
  }

  private openedAtValue: number | undefined;

  /** When the handshake completed (the owner's clock), or undefined before. */
  get openedAt(): number | undefined {
    return this.openedAtValue;
  }

  /** @internal The torrent's handler for this peer's messages. */
  attachHandler(handler: PeerHandler): void {
    this.handler = handler;
  }

  /** Whether the torrent says it has no use for this peer now (see PeerHandler.idle). */
  get idle(): boolean {
    return this.stateValue === 'open' && (this.handler?.idle?.(this) ?? false);
  }

  private wasOpenedValue = false;

  /** Whether the handshake ever completed. */
  get wasOpened(): boolean {
    return this.wasOpenedValue;
  }

  /**
   * Sends a message. Fast messages need `fast`, extended ones `extended` (ConnecterError
   * NOT_NEGOTIATED otherwise). Returns false when the socket is congested or closed.
   */
  send(message: Message): boolean {
    if (this.stateValue === 'closed') return false;
    if (this.stateValue !== 'open') throw new ConnecterError('CLOSED', 'cannot send before the handshake is complete');
    this.checkNegotiated(message);
    const chunks = encodeMessage(message);
    this.lastSentAt = this.owner.now();
    this.messagesSent++;
    return chunks.length === 1 ? this.socket.write(chunks[0] as Uint8Array) : this.socket.writeMany(chunks);
  }

  private checkNegotiated(message: Message): void {
    if (FAST_MESSAGES.has(message.type) && !this.fast) {
      throw new ConnecterError('NOT_NEGOTIATED', `${message.type} needs the fast extension, which this peer did not negotiate`);
    }
    if ((message.type === 'extended' || message.type === 'extended-handshake') && !this.extended) {
      throw new ConnecterError('NOT_NEGOTIATED', `${message.type} needs the extension protocol, which this peer did not negotiate`);
    }
  }

  /**
   * Sends several messages in one corked write (one syscall instead of one per message), e.g. a
   * batch of requests. Same checks as send().
   */
  sendMany(messages: readonly Message[]): boolean {
    if (messages.length === 1) return this.send(messages[0]!);
    if (this.stateValue === 'closed') return false;
    if (this.stateValue !== 'open') throw new ConnecterError('CLOSED', 'cannot send before the handshake is complete');
    for (const message of messages) this.checkNegotiated(message);
    const chunks = encodeMessages(messages);
    this.lastSentAt = this.owner.now();
    this.messagesSent += messages.length;
    return this.socket.writeMany(chunks);
  }

  /** Sends a piece message: a 13-byte header and the block itself in one writev (no copy of the block). */
  sendPiece(index: number, begin: number, block: Uint8Array): boolean {
    if (this.stateValue === 'closed') return false;
    if (this.stateValue !== 'open') throw new ConnecterError('CLOSED', 'cannot send before the handshake is complete');
    this.lastSentAt = this.owner.now();
    this.messagesSent++;
    return this.socket.writeMany([encodePieceHeader(index, begin, block.length), block]);
  }

  /** Stops reading from the peer (disk back-pressure: TCP then slows the sender), until resume(). */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Closes the connection; the handler's onClose sees 'local'. */
  close(): void {
    this.socket.close();
  }

  /** @internal Drops the peer for a protocol violation. */
  fail(error: ProtocolError): void {
    if (this.stateValue === 'closed') return;
    this.pendingError = error;
    this.socket.close();
  }

  private pendingError: ProtocolError | undefined;

  private data(chunk: Buffer): void {
    try {
      this.reader.push(chunk);
    } catch (err) {
      if (err instanceof ProtocolError) this.fail(err);
      else throw err; // a bug in a handler: RawServer reports it and drops only this socket
    }
  }

  private received(message: Message): void {
    this.messagesReceived++;
    if (this.awaitingFirstMessage && message.type !== 'keep-alive' && message.type !== 'port') {
      this.awaitingFirstMessage = false;
      this.owner.onFirstMessage(this);
    }
    if (message.type === 'extended-handshake') this.peerExtensions = message.handshake;
    if (message.type === 'port' && this.stateValue === 'open') this.owner.onPort?.(this, message.port);
    if (this.stateValue === 'open') this.handler?.onMessage(this, message);
  }

  private closed(socketReason: CloseReason, socketError?: Error): void {
    if (this.stateValue === 'closed') return;
    const wasOpen = this.stateValue === 'open';
    this.stateValue = 'closed';
    this.reader.stop();
    const reason: PeerCloseReason = this.pendingError ? 'protocol-error' : socketReason;
    const error = this.pendingError ?? socketError;
    this.owner.onClosed(this, reason, error);
    if (wasOpen) this.handler?.onClose(this, reason, error);
  }
}
