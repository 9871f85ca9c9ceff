/** Why a peer was dropped; stable strings callers may switch on. */
export type ProtocolErrorCode =
  /** The first bytes are not byte 19 + "BitTorrent protocol". */
  | 'BAD_HANDSHAKE'
  /**
   * The first byte is not 19: most likely an MSE/PE (encrypted) handshake, not supported; the
   * peer is expected to come back in plain (not a protocol violation).
   */
  | 'ENCRYPTED_HANDSHAKE'
  /** An incoming peer asked for a torrent this port does not serve. */
  | 'UNKNOWN_INFO_HASH'
  /** An outgoing peer answered with another info-hash than the one we asked for. */
  | 'INFO_HASH_MISMATCH'
  /** The peer id is our own: we connected to ourselves. */
  | 'SELF_CONNECTION'
  /** A peer with this id is already connected to this torrent. */
  | 'DUPLICATE_PEER'
  /** The peer id differs from the one the tracker gave for this address. */
  | 'PEER_ID_MISMATCH'
  /** A length prefix above the maximum frame length (mainline: 2^23). */
  | 'FRAME_TOO_LONG'
  /** A message whose body has the wrong size for its id. */
  | 'BAD_MESSAGE_LENGTH'
  /** A message id we do not know. */
  | 'UNKNOWN_MESSAGE'
  /** A piece index >= the number of pieces. */
  | 'INDEX_OUT_OF_RANGE'
  /** begin + length runs past the end of the piece. */
  | 'BLOCK_OUT_OF_RANGE'
  /** A request longer than the largest block we serve (mainline: 2^17), or of length 0. */
  | 'BAD_REQUEST_LENGTH'
  /** A bitfield of the wrong size or with spare bits set. */
  | 'BAD_BITFIELD'
  /** A bitfield or have none (BEP 6) without a piece the peer had announced before: pieces are never taken back. */
  | 'PIECES_WITHDRAWN'
  /** A BEP 6 fast message although the fast extension was not negotiated. */
  | 'FAST_NOT_NEGOTIATED'
  /** A BEP 10 message although the extension protocol was not negotiated. */
  | 'EXTENSION_NOT_NEGOTIATED'
  /** An extended message before the peer's extension handshake. */
  | 'MESSAGE_BEFORE_HANDSHAKE'
  /** An extension handshake that is not a bencoded dictionary (or whose `m` is not one). */
  | 'BAD_EXTENSION_HANDSHAKE'
  /** A BEP 9 ut_metadata message that is not a bencoded dict + piece, or out of bounds. */
  | 'BAD_METADATA_MESSAGE'
  /** BEP 9 metadata whose SHA-1 is not the info-hash (or a metadata_size we refuse). */
  | 'BAD_METADATA'
  /** The peer keeps asking for what we refuse (ut_metadata requests past its allowance). */
  | 'TOO_MANY_REQUESTS'
  /** The peer kept sending extended messages under ids we never assigned. */
  | 'UNKNOWN_EXTENDED_MESSAGE'
  /** A wire extension (BEP 10) failed on the peer's message; the extension's name and error are in the message. */
  | 'EXTENSION_ERROR'
  /** The peer did not complete its handshake within the handshake timeout (from TCP connect). */
  | 'HANDSHAKE_TIMEOUT'
  /** After the handshake, the peer sent nothing but keep-alives within the first-message timeout. */
  | 'FIRST_MESSAGE_TIMEOUT';

/** A peer broke the wire protocol; the connection to that peer (only) is dropped. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Why a local call was refused (a programming error, not the peer's fault). */
export type ConnecterErrorCode =
  /** An argument is out of range (bad info-hash length, negative index, ...). */
  | 'BAD_ARGUMENT'
  /** Sending a fast or extended message to a peer that did not negotiate it. */
  | 'NOT_NEGOTIATED'
  /** A torrent with this info-hash is already registered. */
  | 'DUPLICATE_TORRENT'
  /** No torrent with this info-hash is registered. */
  | 'UNKNOWN_TORRENT'
  /** The connection or hub is closed. */
  | 'CLOSED';

export class ConnecterError extends Error {
  override readonly name = 'ConnecterError';
  constructor(
    readonly code: ConnecterErrorCode,
    message: string,
  ) {
    super(message);
  }
}
