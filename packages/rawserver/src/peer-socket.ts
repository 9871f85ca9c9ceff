import { isIP } from 'node:net';

/** Why a socket closed. Each socket reports exactly one, once. */
export type CloseReason =
  /** The peer closed the connection (EOF) or reset it. */
  | 'remote-closed'
  /** `close()` was called. */
  | 'local'
  /** Nothing was received for the inactivity timeout (mainline: 300 s, checked every 60 s). */
  | 'timeout'
  /** An outgoing connect did not complete within the connect timeout. */
  | 'connect-timeout'
  /** An outgoing connect was refused or failed (ECONNREFUSED, EHOSTUNREACH, ...). */
  | 'connect-failed'
  /** A socket error after the connection was up (ECONNRESET is reported as 'remote-closed'). */
  | 'error'
  /** The handler threw; the exception went to `onError` and only this socket was dropped. */
  | 'handler-error'
  /** The server (or transport) was closed and closed every socket. */
  | 'shutdown'
  /**
   * The send queue would have grown past `maxWriteQueue`: the peer does not read what we send.
   * The socket is closed (just after the write that overflowed returns).
   */
  | 'write-overflow'
  /** The host was full and closed this incoming socket to make room for a newcomer (`onFull`). */
  | 'evicted';

/** Lifecycle: queued (waiting for a half-open slot) → connecting → open → closed. Incoming sockets start open. */
export type SocketState = 'queued' | 'connecting' | 'open' | 'closed';

/** What the upper layer (the peer-wire codec) is told about one socket. */
export interface SocketHandler {
  /**
   * Bytes arrived. The chunk is a buffer the receiver may keep views into without copying —
   * unless `socket.transientReads`: then it is only valid during the call.
   */
  onData(socket: PeerSocket, chunk: Buffer): void;
  /** An outgoing connect completed (never called for incoming sockets). */
  onConnect?(socket: PeerSocket): void;
  /**
   * The write queue went from at-or-over the threshold back down to the low-water mark:
   * start producing again (e.g. read the next block from disk).
   */
  onFlushed?(socket: PeerSocket): void;
  /** The socket is gone; called exactly once, synchronously even for `close()`. */
  onClose(socket: PeerSocket, reason: CloseReason, error?: Error): void;
}

/**
 * One byte-stream connection to a peer, whatever carries it: exactly what the peer-wire layer
 * uses. TCP (`SingleSocket`) and the in-memory sockets of tests implement it; uTP will, and MSE
 * is a decorator: a PeerSocket that wraps another one, installs itself as the inner socket's
 * handler (decrypting in `onData`, forwarding `onFlushed` and `onClose`), encrypts in `write`,
 * and reports the inner socket's back-pressure (`writableLength`, `congested`).
 */
export interface PeerSocket {
  /** Process-unique id, handy as a map key. */
  readonly id: number;
  /** The transport's name: 'tcp', 'memory' (later 'utp'); a decorator reports the inner socket's. */
  readonly transport: string;
  /** Whether the peer dialled us. */
  readonly incoming: boolean;
  readonly state: SocketState;
  /** Peer address (IPv4-mapped IPv6 addresses as plain IPv4) and port. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Our end of the connection (undefined before it is connected). */
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  /** Chunks given to `onData` are valid only during the call (the handler copies what it keeps). */
  readonly transientReads: boolean;
  /** Clock time (ms) the socket was created (accepted, or asked to dial). */
  readonly createdAt: number;
  /** Clock time (ms) of the last received byte; `createdAt` (or the connect) before any. */
  readonly lastReceivedAt: number;
  /** Bytes queued for sending and not yet handed on (to the kernel, or to the other end). */
  readonly writableLength: number;
  /** True once the queue reached the threshold, until it drains to the low-water mark (then `onFlushed`). */
  readonly congested: boolean;
  readonly handler: SocketHandler;
  /** Replaces the handler (e.g. once the handshake has routed the socket to a torrent). */
  setHandler(handler: SocketHandler): void;
  /**
   * Queues bytes for sending. Returns false when the queue is now congested or the socket is
   * closed: stop producing until `onFlushed`. The bytes must not be modified afterwards.
   */
  write(data: Uint8Array): boolean;
  /** Several buffers as one batch (a header and a large payload without concatenating them). */
  writeMany(chunks: readonly Uint8Array[]): boolean;
  /** Nothing is waiting to be sent (mainline's is_flushed). */
  isFlushed(): boolean;
  /** Stops reading (back-pressure towards the peer), until `resume()`. */
  pause(): void;
  resume(): void;
  /**
   * Closes the connection now (queued bytes are dropped); the handler's onClose sees `reason`
   * (default 'local') before this returns.
   */
  close(reason?: CloseReason, error?: Error): void;
}

/** Send-queue bounds of a socket (see RawServerOptions). */
export interface WriteLimits {
  readonly writeThreshold: number;
  readonly lowWaterMark: number;
  readonly maxWriteQueue: number;
}

/** @internal What a socket reports back to whoever made it. */
export interface SocketOwner extends WriteLimits {
  now(): number;
  reportError(error: unknown, context: string): void;
  socketClosed(socket: PeerSocket, wasState: SocketState): void;
}

let nextId = 1;

/** A process-unique socket id (shared by every transport, so ids never collide in one map). */
export function nextSocketId(): number {
  return nextId++;
}

/** @internal */
export function normalizeAddress(address: string | undefined): string {
  return splitAddress(address).address;
}

/** True for 127.0.0.0/8 and ::1 (addresses as normalized: IPv4-mapped ones as plain IPv4). */
export function isLoopback(address: string): boolean {
  return address === '::1' || (address.startsWith('127.') && isIP(address) === 4);
}

/** @internal An address as reported (IPv4-mapped IPv6 as plain IPv4) and its family. */
export function splitAddress(address: string | undefined): { address: string; family: 'IPv4' | 'IPv6' | 'unknown' } {
  if (address === undefined) return { address: '', family: 'unknown' };
  // Dual-stack listeners see IPv4 peers as IPv4-mapped IPv6 addresses.
  if (address.startsWith('::ffff:') && isIP(address.slice(7)) === 4) return { address: address.slice(7), family: 'IPv4' };
  const v = isIP(address);
  return { address, family: v === 4 ? 'IPv4' : v === 6 ? 'IPv6' : 'unknown' };
}

/**
 * @internal What TCP and in-memory sockets share: the handler, state and clock times, the
 * congestion flag with its threshold / low-water mark, the hard cap on the queue, and closing
 * exactly once. A subclass moves the bytes (`writableLength`, `sendNow`, `release`).
 */
export abstract class SocketBase implements PeerSocket {
  readonly id = nextSocketId();
  abstract readonly transport: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** 'IPv4' or 'IPv6' (or 'unknown' for an outgoing dial to a host name not yet resolved). */
  readonly family: 'IPv4' | 'IPv6' | 'unknown';
  lastReceivedAt: number;
  readonly createdAt: number;
  /** Bytes received so far. */
  bytesReceived = 0;
  protected stateValue: SocketState;
  private congestedValue = false;
  /** The send queue overflowed: writes are dropped until the close that is already scheduled. */
  protected overflowed = false;

  /** @internal */
  protected readonly owner: SocketOwner;

  constructor(
    owner: SocketOwner,
    private handlerValue: SocketHandler,
    readonly incoming: boolean,
    remoteAddress: string,
    remotePort: number,
    state: SocketState,
  ) {
    this.owner = owner;
    const n = splitAddress(remoteAddress);
    this.remoteAddress = n.address;
    this.family = n.family;
    this.remotePort = remotePort;
    this.stateValue = state;
    this.lastReceivedAt = owner.now();
    this.createdAt = this.lastReceivedAt;
  }

  abstract readonly localAddress: string | undefined;
  abstract readonly localPort: number | undefined;
  abstract readonly transientReads: boolean;
  abstract readonly writableLength: number;
  abstract write(data: Uint8Array): boolean;
  abstract writeMany(chunks: readonly Uint8Array[]): boolean;
  abstract pause(): void;
  abstract resume(): void;
  /** Lets go of the underlying resource (Node socket, the other end) once closed. */
  protected abstract release(reason: CloseReason): void;

  get state(): SocketState {
    return this.stateValue;
  }

  get handler(): SocketHandler {
    return this.handlerValue;
  }

  setHandler(handler: SocketHandler): void {
    this.handlerValue = handler;
  }

  get congested(): boolean {
    return this.congestedValue;
  }

  isFlushed(): boolean {
    return this.writableLength === 0;
  }

  close(reason: CloseReason = 'local', error?: Error): void {
    this.finish(reason, error);
  }

  /** @internal Bytes arrived. */
  received(chunk: Buffer): void {
    if (this.stateValue === 'closed') return;
    this.lastReceivedAt = this.owner.now();
    this.bytesReceived += chunk.length;
    this.call(() => this.handlerValue.onData(this, chunk), 'onData');
  }

  /** True (after closing the socket soon) when `queued` bytes would go over the hard cap. */
  protected overCap(queued: number): boolean {
    if (queued <= this.owner.maxWriteQueue) return false;
    this.overflow(queued);
    return true;
  }

  /**
   * Drops the write and every later one, and closes the socket once the caller's synchronous work
   * is done: closing inside write() would run onClose in the middle of the caller's bookkeeping.
   */
  private overflow(bytes: number): void {
    if (this.overflowed) return;
    this.overflowed = true;
    const error = new Error(`send queue would reach ${bytes} bytes (over ${this.owner.maxWriteQueue}): the peer is not reading`);
    queueMicrotask(() => this.finish('write-overflow', error));
  }

  /** Sets the congestion flag once the queue reached the threshold; returns "keep producing". */
  protected markCongestion(): boolean {
    if (!this.congestedValue && this.writableLength >= this.owner.writeThreshold) this.congestedValue = true;
    return !this.congestedValue;
  }

  /** Clears the congestion flag while the queue is reset (held writes handed on in one go). */
  protected clearCongestion(): void {
    this.congestedValue = false;
  }

  /** The queue went down: at the low-water mark a congested socket is flushed (`onFlushed`). */
  protected checkFlushed(): void {
    if (!this.congestedValue || this.stateValue === 'closed') return;
    if (this.writableLength <= this.owner.lowWaterMark) {
      this.congestedValue = false;
      const h = this.handlerValue;
      if (h.onFlushed) this.call(() => h.onFlushed?.(this), 'onFlushed');
    }
  }

  /** @internal Runs a handler callback; an exception drops only this socket. */
  call(fn: () => void, context: string): void {
    try {
      fn();
    } catch (err) {
      this.owner.reportError(err, `${this.transport} socket ${this.remoteAddress}:${this.remotePort} ${context}`);
      this.finish('handler-error', err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** @internal Closes once, tells the owner and then the handler. */
  finish(reason: CloseReason, error?: Error): void {
    if (this.stateValue === 'closed') return;
    const was = this.stateValue;
    this.stateValue = 'closed';
    this.congestedValue = false;
    this.release(reason);
    this.owner.socketClosed(this, was);
    try {
      this.handlerValue.onClose(this, reason, error);
    } catch (err) {
      this.owner.reportError(err, `${this.transport} socket ${this.remoteAddress}:${this.remotePort} onClose`);
    }
  }
}
