import type { Socket } from 'node:net';
import { SocketBase, type CloseReason, type SocketHandler, type SocketOwner, type SocketState } from './peer-socket.js';

/**
 * One TCP connection (mainline's SingleSocket), the 'tcp' PeerSocket. Writes are queued by Node;
 * `writableLength`, `congested` and the handler's `onFlushed` give the upper layer back-pressure
 * so it stops reading from disk while a peer's queue is full.
 */
export class SingleSocket extends SocketBase {
  readonly transport = 'tcp';
  private node: Socket | undefined;
  private pending: Uint8Array[] = []; // writes made while queued for a dial slot
  private pendingBytes = 0;
  private error: Error | undefined;
  /** @internal connect-timeout timer, owned by the server. */
  connectTimer: unknown = undefined;
  private readonly onChunkWritten = (): void => this.checkFlushed();

  /** @internal Created by RawServer only. */
  constructor(
    owner: SocketOwner,
    handler: SocketHandler,
    incoming: boolean,
    remoteAddress: string,
    remotePort: number,
    state: SocketState,
    /** Reads come through a shared buffer (see transientReads); fixed before any data flows. */
    private readonly transientReadsValue = false,
  ) {
    super(owner, handler, incoming, remoteAddress, remotePort, state);
  }

  /**
   * True when chunks given to `onData` live in a buffer shared with other sockets: valid only
   * during the call, so a handler copies whatever it keeps (see RawServerOptions.sharedReadBufferSize).
   */
  get transientReads(): boolean {
    return this.transientReadsValue;
  }

  get writableLength(): number {
    return this.node && this.stateValue !== 'queued' ? this.node.writableLength : this.pendingBytes;
  }

  /** Local address and port of the connection (undefined before connecting or after closing). */
  get localAddress(): string | undefined {
    return this.node?.localAddress;
  }

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
    if (data.length === 0) return !this.congested;
    if (this.stateValue === 'queued' || !this.node) {
      if (this.overCap(this.pendingBytes + data.length)) return false;
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
      return !this.congested;
    }
    const node = this.node;
    node.cork();
    try {
      for (const c of chunks) if (c.length > 0 && !this.writeNode(c) && this.overflowed) break;
    } finally {
      node.uncork();
    }
    return !this.congested;
  }

  private writeNode(data: Uint8Array): boolean {
    const node = this.node as Socket;
    // Only writes that may be involved in congestion carry a completion callback: the callback is
    // how we learn that the queue went down again (Node's 'drain' uses its own 16 KiB mark).
    // Past the threshold a producer that honours back-pressure has stopped; what still comes is
    // what the peer makes us send (rejects, replies), and a peer that never reads must not make
    // that grow without end: over maxWriteQueue the data is dropped and the socket closed.
    if (this.congested || node.writableLength + data.length >= this.owner.writeThreshold) {
      if (this.overCap(node.writableLength + data.length)) return false;
      node.write(data, this.onChunkWritten);
    } else {
      node.write(data);
    }
    return this.markCongestion();
  }

  /** Stops reading from the socket (back-pressure towards the peer). */
  pause(): void {
    this.node?.pause();
  }

  /** Resumes reading after `pause()`. */
  resume(): void {
    this.node?.resume();
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
      this.clearCongestion();
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

  protected release(_reason: CloseReason): void {
    this.pending = [];
    this.pendingBytes = 0;
    if (this.node && !this.node.destroyed) this.node.destroy();
  }
}
