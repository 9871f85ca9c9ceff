import { addressBytes } from '@mainline/rawserver';
import { ProtocolError } from './errors.js';
import { ConnecterError } from './errors.js';
import type { ExtensionHandshake } from './extension.js';
import type { PeerConnection } from './peer-connection.js';

/** The client name we put in extension handshakes. */
export const CLIENT_VERSION = 'mainline 0.1';

/**
 * Extended messages with an id we never assigned that a peer may send before it is dropped
 * (BEP 10 says to ignore them; a few are a client's bug, thousands are a peer wasting our time).
 */
export const MAX_UNKNOWN_EXTENDED_MESSAGES = 64;

/** What one extension sees of one peer: the connection, and a way to send it this extension's messages. */
export interface ExtensionPeer {
  readonly conn: PeerConnection;
  /** The peer's BEP 10 handshake (its latest), once received. */
  readonly handshake: ExtensionHandshake | undefined;
  /** The peer advertised this extension (a non-zero id in its `m`). */
  readonly supported: boolean;
  /**
   * Sends one message of this extension (the payload after the extended id), under the id the
   * peer asked for. Returns false, sending nothing, when the peer does not support the extension
   * or the connection is gone; like `PeerConnection.send`, false also when the socket is congested.
   */
  send(payload: Uint8Array): boolean;
}

/** Handshake fields an extension may contribute besides its `m` entry. */
export type ExtensionFields = Pick<ExtensionHandshake, 'metadataSize'>;

/**
 * One BEP 10 extension (ut_metadata, ut_pex, ...), registered with an ExtensionHost by name. The
 * host gives it a local id, advertises it, and calls it for its messages only. Anything it
 * throws drops that one peer: a ProtocolError as it is, anything else as EXTENSION_ERROR.
 */
export interface Extension {
  /** Its name in the `m` dictionary. */
  readonly name: string;
  /** The local id it would like (e.g. libtorrent's numbers, so captures compare); another is picked if taken. */
  readonly preferredId?: number;
  /** Only for public torrents (BEP 27): a private torrent's host leaves it out altogether. */
  readonly publicOnly?: boolean;
  /** Fields for our handshake to this peer (metadata_size, ...). */
  handshakeFields?(peer: ExtensionPeer): ExtensionFields | undefined;
  /** The peer's BEP 10 handshake arrived (again, if it sends another), or the host adopted a peer that had sent one. */
  onHandshake?(peer: ExtensionPeer, theirs: ExtensionHandshake): void;
  /** A message for this extension (payload after the extended id). */
  onMessage(peer: ExtensionPeer, payload: Uint8Array): void;
  /** The peer is gone (or handed to another host). */
  onClose?(peer: ExtensionPeer): void;
}

/** A peer as the host's owner (Swarm, MetadataFetcher) hands it in. */
export interface HostPeer {
  readonly conn: PeerConnection;
  /** Told the peer's `reqq`: keep no more requests in flight to it. */
  limitRequests?(reqq: number): void;
}

export interface ExtensionHostOptions {
  extensions?: readonly Extension[];
  /** A private torrent (BEP 27): publicOnly extensions are not registered. */
  private?: boolean;
  /** Our `v` (default CLIENT_VERSION). */
  clientVersion?: string;
  /** Our listen port for `p`, when known (a function: the port may be bound later). */
  listenPort?: number | (() => number | undefined);
  /** Our `reqq`: the most requests we queue per peer. */
  reqq?: number;
  /** Unknown-id messages a peer may send before it is dropped (default MAX_UNKNOWN_EXTENDED_MESSAGES). */
  maxUnknownMessages?: number;
}

class Handle implements ExtensionPeer {
  constructor(
    readonly conn: PeerConnection,
    private readonly name: string,
  ) {}

  get handshake(): ExtensionHandshake | undefined {
    return this.conn.peerExtensions;
  }

  get supported(): boolean {
    return (this.conn.peerExtensions?.m.get(this.name) ?? 0) !== 0;
  }

  send(payload: Uint8Array): boolean {
    const id = this.conn.peerExtensions?.m.get(this.name) ?? 0;
    if (id === 0 || this.conn.state !== 'open') return false;
    return this.conn.send({ type: 'extended', id, payload });
  }
}

interface PeerState {
  readonly handles: Map<Extension, Handle>;
  unknown: number;
}

/**
 * The wire-extension host (BEP 10) of one torrent: extensions register by name, the host assigns
 * their local ids, builds our handshake (`m`, `v`, `reqq`, `p`, `yourip` and the extensions'
 * fields) for every peer that set the extension bit, applies the peer's `reqq`, and dispatches
 * each extended message to its extension by our local id. Unknown ids are ignored up to a bound.
 * An extension that throws drops only that peer, with the reason logged by the hub.
 */
export class ExtensionHost {
  readonly #byId = new Map<number, Extension>();
  readonly #ids = new Map<Extension, number>();
  readonly #peers = new WeakMap<PeerConnection, PeerState>();
  readonly #o: Required<Pick<ExtensionHostOptions, 'clientVersion' | 'maxUnknownMessages'>> & ExtensionHostOptions;

  constructor(options: ExtensionHostOptions = {}) {
    this.#o = { clientVersion: CLIENT_VERSION, maxUnknownMessages: MAX_UNKNOWN_EXTENDED_MESSAGES, ...options };
    for (const ext of options.extensions ?? []) this.register(ext);
  }

  /**
   * Adds an extension (before peers connect: peers connected earlier learn of it only from a
   * later handshake). Left out on a private torrent when publicOnly.
   * @throws ConnecterError BAD_ARGUMENT for a second extension of the same name, or no id left
   */
  register(ext: Extension): void {
    if (this.#o.private && ext.publicOnly) return;
    if ([...this.#ids.keys()].some((e) => e.name === ext.name)) throw new ConnecterError('BAD_ARGUMENT', `extension ${ext.name} is registered twice`);
    let id = ext.preferredId !== undefined && ext.preferredId >= 1 && ext.preferredId <= 255 && !this.#byId.has(ext.preferredId) ? ext.preferredId : undefined;
    for (let i = 1; id === undefined && i <= 255; i++) if (!this.#byId.has(i)) id = i;
    if (id === undefined) throw new ConnecterError('BAD_ARGUMENT', 'no extended message id left');
    this.#byId.set(id, ext);
    this.#ids.set(ext, id);
  }

  /** Our local id of an extension, by name (undefined: not registered here). */
  localId(name: string): number | undefined {
    for (const [ext, id] of this.#ids) if (ext.name === name) return id;
    return undefined;
  }

  /** Our BEP 10 handshake for this peer. */
  handshake(peer: HostPeer): ExtensionHandshake {
    const m = new Map<string, number>();
    for (const [ext, id] of this.#ids) m.set(ext.name, id);
    const hs: ExtensionHandshake = { m, v: this.#o.clientVersion };
    const port = typeof this.#o.listenPort === 'function' ? this.#o.listenPort() : this.#o.listenPort;
    if (port !== undefined && port > 0 && port < 65536) hs.p = port;
    if (this.#o.reqq !== undefined) hs.reqq = this.#o.reqq;
    const yourip = addressBytes(peer.conn.remoteAddress);
    if (yourip) hs.yourip = yourip;
    for (const ext of this.#ids.keys()) {
      const fields = this.#guard(peer.conn, ext, () => ext.handshakeFields?.(this.#handle(peer.conn, ext)));
      if (fields?.metadataSize !== undefined) hs.metadataSize = fields.metadataSize;
    }
    return hs;
  }

  /** The peer's handshake arrived (or, for an adopted peer, had arrived): its `reqq`, then each extension. */
  onHandshake(peer: HostPeer, theirs: ExtensionHandshake): void {
    if (theirs.reqq !== undefined) peer.limitRequests?.(theirs.reqq);
    for (const ext of this.#ids.keys()) {
      if (peer.conn.state !== 'open') return;
      if (ext.onHandshake) this.#guard(peer.conn, ext, () => ext.onHandshake?.(this.#handle(peer.conn, ext), theirs));
    }
  }

  /** An extended message under our local `id`. */
  onMessage(peer: HostPeer, id: number, payload: Uint8Array): void {
    const ext = this.#byId.get(id);
    if (!ext) {
      const state = this.#state(peer.conn);
      if (++state.unknown > this.#o.maxUnknownMessages) {
        peer.conn.fail(new ProtocolError('UNKNOWN_EXTENDED_MESSAGE', `more than ${this.#o.maxUnknownMessages} extended messages with ids we never assigned (last: ${id})`));
      }
      return;
    }
    this.#guard(peer.conn, ext, () => ext.onMessage(this.#handle(peer.conn, ext), payload));
  }

  /** The peer is gone, or leaves this host (hand-off): each extension forgets it. */
  onClose(peer: HostPeer): void {
    const state = this.#peers.get(peer.conn);
    if (!state) return;
    this.#peers.delete(peer.conn);
    for (const [ext, handle] of state.handles) {
      try {
        ext.onClose?.(handle);
      } catch {
        // the peer is gone already: nothing left to drop
      }
    }
  }

  #state(conn: PeerConnection): PeerState {
    let state = this.#peers.get(conn);
    if (!state) {
      state = { handles: new Map(), unknown: 0 };
      this.#peers.set(conn, state);
    }
    return state;
  }

  #handle(conn: PeerConnection, ext: Extension): Handle {
    const state = this.#state(conn);
    let h = state.handles.get(ext);
    if (!h) {
      h = new Handle(conn, ext.name);
      state.handles.set(ext, h);
    }
    return h;
  }

  #guard<T>(conn: PeerConnection, ext: Extension, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      const error =
        err instanceof ProtocolError ? err : new ProtocolError('EXTENSION_ERROR', `${ext.name}: ${err instanceof Error ? err.message : String(err)}`);
      conn.fail(error);
      return undefined;
    }
  }
}
