import { isIP, type Socket } from 'node:net';

/** Why a socket closed. Each socket reports exactly one, once. */
export type CloseReason =
  /** The peer closed the connection (EOF) or reset it. */
  | 'remote-closed'
  /** `SingleSocket.close()` was called. */
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
  /** `RawServer.close()` closed every socket. */
  | 'shutdown'
  /**
   * The send queue would have grown past the server's `maxWriteQueue`: the peer does not read
   * what we send. The socket is closed (just after the write that overflowed returns).
   */
  | 'write-overflow'
  /** The server was full and closed this incoming socket to make room for a newcomer (`onFull`). */
  | 'evicted';

/** Lifecycle: queued (waiting for a half-open slot) → connecting → open → closed. Incoming sockets start open. */
export type SocketState = 'queued' | 'connecting' | 'open' | 'closed';

/** What the upper layer (the peer-wire codec) is told about one socket. */
export interface SocketHandler {
  /**
   * Bytes arrived. The chunk is a fresh buffer owned by the receiver, which may keep views into
   * it without copying — unless `socket.transientReads`: then it is only valid during the call.
   */
  onData(socket: SingleSocket, chunk: Buffer): void;
  /** An outgoing connect completed (never called for incoming sockets). */
  onConnect?(socket: SingleSocket): void;
  /**
   * The write queue went from at-or-over the threshold back down to the low-water mark:
   * start producing again (e.g. read the next block from disk).
   */
  onFlushed?(socket: SingleSocket): void;
  /** The socket is gone; called exactly once, synchronously even for `close()`. */
  onClose(socket: SingleSocket, reason: CloseReason, error?: Error): void;
}

/** @internal The server side of a socket: bookkeeping the socket reports back to. */
export interface SocketOwner {
  now(): number;
  reportError(error: unknown, context: string): void;
  socketClosed(socket: SingleSocket, wasState: SocketState): void;
  writeThreshold: number;
  lowWaterMark: number;
  maxWriteQueue: number;
}

/** @internal */
export function normalizeAddress(address: string | undefined): string {
  return splitAddress(address).address;
}

/** True for 127.0.0.0/8 and ::1 (addresses as normalized: IPv4-mapped ones as plain IPv4). */
export function isLoopback(address: string): boolean {
  return address === '::1' || (address.startsWith('127.') && isIP(address) === 4);
}

function splitAddress(address: string | undefined): { address: string; family: 'IPv4' | 'IPv6' | 'unknown' } {
  if (address === undefined) return { address: '', family: 'unknown' };
  // Dual-stack listeners see IPv4 peers as IPv4-mapped IPv6 addresses.
  if (address.startsWith('::ffff:') && isIP(address.slice(7)) === 4) return { address: address.slice(7), family: 'IPv4' };
  const v = isIP(address);
  return { address, family: v === 4 ? 'IPv4' : v === 6 ? 'IPv6' : 'unknown' };
}

let nextId = 1;

/**
 * One TCP connection (mainline's SingleSocket). Writes are queued by Node; `writableLength`,
 * `congested` and the handler's `onFlushed` give the upper layer back-pressure so it stops reading
 * from disk while a peer's queue is full.
 */
export class SingleSocket {
  /** Process-unique id, handy as a map key. */
  readonly id = nextId++;
  /** Peer address (IPv4-mapped IPv6 addresses are shown as plain IPv4) and port. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** 'IPv4' or 'IPv6' (or 'unknown' for an outgoing dial to a host name not yet resolved). */
  readonly family: 'IPv4' | 'IPv6' | 'unknown';
  /** Clock time (ms) of the last received byte; the socket's creation time before any. */
  lastReceivedAt: number;
  /** Clock time (ms) the socket was created (accepted, or asked to dial). */
  readonly createdAt: number;
  /** Bytes received so far. */
  bytesReceived = 0;

  private stateValue: SocketState;
  private node: Socket | undefined;
  private pending: Uint8Array[] = []; // writes made while queued for a dial slot
  private pendingBytes = 0;
  private congestedValue = false;
  /** The send queue overflowed: writes are dropped until the close that is already scheduled. */
  private overflowed = false;
  private error: Error | undefined;
  /** @internal connect-timeout timer, owned by the server. */
  connectTimer: unknown = undefined;
  private readonly onChunkWritten = (): void => this.checkFlushed();

  /** @internal Created by RawServer only. */
  constructor(
    private readonly owner: SocketOwner,
    private handlerValue: SocketHandler,
    readonly incoming: boolean,
    remoteAddress: string,
    remotePort: number,
    state: SocketState,
    /** Reads come through a shared buffer (see transientReads); fixed before any data flows. */
    private readonly transientReadsValue = false,
  ) {
    const n = splitAddress(remoteAddress);
    this.remoteAddress = n.address;
    this.family = n.family;
    this.remotePort = remotePort;
    this.stateValue = state;
    this.lastReceivedAt = owner.now();
    this.createdAt = this.lastReceivedAt;
  }

  get state(): SocketState {
    return this.stateValue;
  }

  /**
   * True when chunks given to `onData` live in a buffer shared with other sockets: valid only
   * during the call, so a handler copies whatever it keeps (see RawServerOptions.sharedReadBufferSize).
   */
  get transientReads(): boolean {
    return this.transientReadsValue;
  }

  /** @internal Bytes arrived (from 'data', or from the shared read buffer). */
  received(chunk: Buffer): void {
    if (this.stateValue === 'closed') return;
    this.lastReceivedAt = this.owner.now();
    this.bytesReceived += chunk.length;
    this.call(() => this.handlerValue.onData(this, chunk), 'onData');
  }

  get handler(): SocketHandler {
    return this.handlerValue;
  }

  /** Replaces the handler (e.g. once the handshake has routed the socket to a torrent). */
  setHandler(handler: SocketHandler): void {
    this.handlerValue = handler;
  }

  /** Bytes queued for sending and not yet handed to the kernel. */
  get writableLength(): number {
    return this.node && this.stateValue !== 'queued' ? this.node.writableLength : this.pendingBytes;
  }

  /** True once the queue reached the threshold, until it drains to the low-water mark. */
  get congested(): boolean {
    return this.congestedValue;
  }

  /** mainline's is_flushed: nothing is waiting to be sent. */
  isFlushed(): boolean {
    return this.writableLength === 0;
  }

  /** Local port of the connection (undefined before connecting or after closing). */
  get localPort(): number | undefined {
    return this.node?.localPort;
  }

  /**
   * Queues bytes for sending (before an outgoing connect completes they are held and sent once it
   * does). Returns false when the queue is now congested or the socket is closed: stop producing
   * until `onFlushed`. The bytes must not be modified afterwards.
   */
  write(data: Uint8Array): boolean {
    if (this.stateValue === 'closed' || this.overflowed) return false;
    if (data.length === 0) return !this.congestedValue;
    if (this.stateValue === 'queued' || !this.node) {
      if (this.pendingBytes + data.length > this.owner.maxWriteQueue) return this.overflow(this.pendingBytes + data.length);
      this.pending.push(data);
      this.pendingBytes += data.length;
      return this.markCongestion();
    }
    return this.writeNode(data);
  }

  /**
   * Writes several buffers as one batch (a single writev), so a header and a large payload go out
   * together without concatenating them.
   */
  writeMany(chunks: readonly Uint8Array[]): boolean {
    if (this.stateValue === 'closed' || this.overflowed) return false;
    if (this.stateValue === 'queued' || !this.node) {
      for (const c of chunks) if (c.length > 0) this.write(c);
      return !this.congestedValue;
    }
    const node = this.node;
    node.cork();
    try {
      for (const c of chunks) if (c.length > 0 && !this.writeNode(c) && this.overflowed) break;
    } finally {
      node.uncork();
    }
    return !this.congestedValue;
  }

  private writeNode(data: Uint8Array): boolean {
    const node = this.node as Socket;
    // Only writes that may be involved in congestion carry a completion callback: the callback is
    // how we learn that the queue went down again (Node's 'drain' uses its own 16 KiB mark).
    // Past the threshold a producer that honours back-pressure has stopped; what still comes is
    // what the peer makes us send (rejects, replies), and a peer that never reads must not make
    // that grow without end: over maxWriteQueue the data is dropped and the socket closed.
    if (this.congestedValue || node.writableLength + data.length >= this.owner.writeThreshold) {
      if (node.writableLength + data.length > this.owner.maxWriteQueue) return this.overflow(node.writableLength + data.length);
      node.write(data, this.onChunkWritten);
    } else {
      node.write(data);
    }
    return this.markCongestion();
  }

  /**
   * Drops the write and every later one, and closes the socket once the caller's synchronous work
   * is done: closing inside write() would run onClose in the middle of the caller's bookkeeping.
   */
  private overflow(bytes: number): false {
    if (!this.overflowed) {
      this.overflowed = true;
      const error = new Error(`send queue would reach ${bytes} bytes (over ${this.owner.maxWriteQueue}): the peer is not reading`);
      queueMicrotask(() => this.finish('write-overflow', error));
    }
    return false;
  }

  private markCongestion(): boolean {
    if (!this.congestedValue && this.writableLength >= this.owner.writeThreshold) this.congestedValue = true;
    return !this.congestedValue;
  }

  private checkFlushed(): void {
    if (!this.congestedValue || this.stateValue === 'closed') return;
    if (this.writableLength <= this.owner.lowWaterMark) {
      this.congestedValue = false;
      const h = this.handlerValue;
      if (h.onFlushed) this.call(() => h.onFlushed?.(this), 'onFlushed');
    }
  }

  /** Stops reading from the socket (back-pressure towards the peer). */
  pause(): void {
    this.node?.pause();
  }

  /** Resumes reading after `pause()`. */
  resume(): void {
    this.node?.resume();
  }

  /** Closes the connection now (queued bytes are dropped); the handler's onClose runs before this returns. */
  close(): void {
    this.finish('local');
  }

  // ---- internal, used by RawServer ----

  /**
   * @internal Attaches the Node socket and wires its events. With `transientReads` the socket
   * reads into the shared buffer (onread), which calls received() instead of a 'data' event.
   */
  attach(node: Socket): void {
    this.node = node;
    node.setNoDelay(true);
    if (!this.transientReadsValue) node.on('data', (chunk: Buffer) => this.received(chunk));
    node.on('error', (err: Error) => {
      this.error ??= err;
    });
    node.on('close', () => {
      if (this.stateValue === 'closed') return;
      if (this.stateValue === 'connecting') this.finish('connect-failed', this.error);
      else {
        const code = (this.error as NodeJS.ErrnoException | undefined)?.code;
        const remote = !this.error || code === 'ECONNRESET' || code === 'EPIPE';
        this.finish(remote ? 'remote-closed' : 'error', this.error);
      }
    });
  }

  /** @internal Sends the writes held while the dial was queued (after `connect()` was called). */
  flushPending(): void {
    if (this.pending.length > 0) {
      const chunks = this.pending;
      this.pending = [];
      this.pendingBytes = 0;
      this.congestedValue = false;
      this.writeMany(chunks);
    }
  }

  /** @internal */
  setState(state: SocketState): void {
    this.stateValue = state;
  }

  /** @internal The Node socket's 'close' promise for shutdown, or undefined if none is alive. */
  nodeClosed(): Promise<void> | undefined {
    const node = this.node;
    if (!node || node.closed) return undefined;
    return new Promise((resolve) => node.once('close', () => resolve()));
  }

  /** @internal Runs a handler callback; an exception drops only this socket. */
  call(fn: () => void, context: string): void {
    try {
      fn();
    } catch (err) {
      this.owner.reportError(err, `SingleSocket ${this.remoteAddress}:${this.remotePort} ${context}`);
      this.finish('handler-error', err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** @internal Closes once, tells the owner and then the handler. */
  finish(reason: CloseReason, error?: Error): void {
    if (this.stateValue === 'closed') return;
    const was = this.stateValue;
    this.stateValue = 'closed';
    this.pending = [];
    this.pendingBytes = 0;
    this.congestedValue = false;
    if (this.node && !this.node.destroyed) this.node.destroy();
    this.owner.socketClosed(this, was);
    try {
      this.handlerValue.onClose(this, reason, error);
    } catch (err) {
      this.owner.reportError(err, `SingleSocket ${this.remoteAddress}:${this.remotePort} onClose`);
    }
  }
}
