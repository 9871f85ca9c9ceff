import { ConnecterError, ProtocolError } from './errors.js';
import type { ExtensionHandshake } from './extension.js';
import { CLIENT_VERSION } from './extension-host.js';
import type { PeerConnection } from './peer-connection.js';
import {
  METADATA_PIECE_LENGTH,
  UT_METADATA,
  UT_METADATA_ID,
  decodeMetadataMessage,
  encodeMetadataMessage,
  metadataPieceCount,
  validMetadataSize,
  type MetadataMessage,
} from './ut-metadata.js';


export interface MetadataServerOptions {
  /**
   * Metadata pieces served to one connection over its lifetime (default: four copies of the
   * metadata, at least 16 pieces); further requests are rejected.
   */
  maxPiecesPerPeer?: number;
}

/**
 * The serving side of BEP 9: advertises `ut_metadata` and `metadata_size` in our extension
 * handshake and answers requests with 16 KiB slices of the exact info-dict bytes. Without
 * metadata (still fetching it) every request is rejected. A peer is answered only while its
 * socket is not congested and until it has had `maxPiecesPerPeer` pieces; then it gets rejects,
 * and after as many rejects again (at least 64) it is dropped (TOO_MANY_REQUESTS): each request
 * would otherwise make us write a reply, for ever.
 */
export class MetadataServer {
  readonly #metadata: Uint8Array | undefined;
  readonly #maxPerPeer: number;
  readonly #maxRejects: number;
  readonly #served = new WeakMap<PeerConnection, number>();
  readonly #rejected = new WeakMap<PeerConnection, number>();

  constructor(metadata: Uint8Array | undefined, options: MetadataServerOptions = {}) {
    if (metadata !== undefined && !validMetadataSize(metadata.length)) {
      throw new ConnecterError('BAD_ARGUMENT', `metadata of ${metadata.length} bytes cannot be served (1..8 MiB)`);
    }
    this.#metadata = metadata;
    const pieces = metadata ? metadataPieceCount(metadata.length) : 0;
    this.#maxPerPeer = options.maxPiecesPerPeer ?? Math.max(16, 4 * pieces);
    this.#maxRejects = Math.max(64, this.#maxPerPeer);
  }

  /** Our extension handshake: ut_metadata always, metadata_size when we have the metadata. */
  handshake(extra: Partial<ExtensionHandshake> = {}): ExtensionHandshake {
    const hs: ExtensionHandshake = { v: CLIENT_VERSION, ...extra, m: new Map([...(extra.m ?? []), [UT_METADATA, UT_METADATA_ID]]) };
    if (this.#metadata) hs.metadataSize = this.#metadata.length;
    return hs;
  }

  /**
   * Handles an extended message. Returns the parsed ut_metadata message when it is one (requests
   * are answered here; data and rejects are for the caller), undefined for other extensions.
   * @throws ProtocolError BAD_METADATA_MESSAGE for a malformed one (the caller's peer is dropped)
   */
  onExtended(conn: PeerConnection, id: number, payload: Uint8Array, peerMetadataSize?: number): MetadataMessage | undefined {
    if (id !== UT_METADATA_ID) return undefined;
    const msg = decodeMetadataMessage(payload, this.#metadata?.length ?? peerMetadataSize);
    if (msg?.type === 'request') this.#answer(conn, msg.piece);
    return msg;
  }

  #answer(conn: PeerConnection, piece: number): void {
    const replyId = conn.peerExtensions?.m.get(UT_METADATA);
    if (replyId === undefined || replyId === 0 || conn.state !== 'open') return; // nowhere to answer
    const served = this.#served.get(conn) ?? 0;
    const metadata = this.#metadata;
    let reply: MetadataMessage;
    if (!metadata || piece >= metadataPieceCount(metadata.length) || served >= this.#maxPerPeer || conn.congested) {
      const rejected = (this.#rejected.get(conn) ?? 0) + 1;
      if (rejected > this.#maxRejects) {
        throw new ProtocolError('TOO_MANY_REQUESTS', `more than ${this.#maxRejects} ut_metadata requests we could not answer`);
      }
      this.#rejected.set(conn, rejected);
      reply = { type: 'reject', piece };
    } else {
      this.#served.set(conn, served + 1);
      const begin = piece * METADATA_PIECE_LENGTH;
      reply = { type: 'data', piece, totalSize: metadata.length, data: metadata.subarray(begin, begin + METADATA_PIECE_LENGTH) };
    }
    conn.send({ type: 'extended', id: replyId, payload: encodeMetadataMessage(reply) });
  }
}
