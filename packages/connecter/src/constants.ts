/** The BEP 3 protocol string. */
export const PROTOCOL_NAME = 'BitTorrent protocol';
/** Handshake size: 1 + 19 + 8 reserved + 20 info-hash + 20 peer id. */
export const HANDSHAKE_LENGTH = 68;
/** mainline's max_message_length: a longer length prefix closes the connection. */
export const DEFAULT_MAX_FRAME_LENGTH = 2 ** 23;
/** mainline's max_slice_length: a longer request closes the connection (and so does a longer block). */
export const DEFAULT_MAX_REQUEST_LENGTH = 2 ** 17;
/**
 * Largest extended message (BEP 10) accepted: 50× what ut_metadata (16 KiB pieces), extension
 * handshakes (a few hundred bytes) and ut_pex (a few KiB) send, and an eighth of the 8 MiB a
 * frame may otherwise have: what one peer can make us buffer for a message it has not finished.
 */
export const DEFAULT_MAX_EXTENDED_LENGTH = 2 ** 20;
/** mainline's keepalive_interval. */
export const DEFAULT_KEEPALIVE_INTERVAL_MS = 120_000;
/** The peer's whole handshake must be in this long after connecting (libtorrent's handshake_timeout). */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** A second connection to a peer within this long of the first one's handshake was dialled at the same time (WireHub). */
export const SIMULTANEOUS_OPEN_MS = 10_000;
/** A swarm stops dialling out at this many connections unless told otherwise (mainline's max_initiate). */
export const DEFAULT_MAX_INITIATE = 35;
/** After the handshake, something other than keep-alives must come within this long. */
export const DEFAULT_FIRST_MESSAGE_TIMEOUT_MS = 30_000;

/** Message ids on the wire. */
export const MessageId = {
  choke: 0,
  unchoke: 1,
  interested: 2,
  notInterested: 3,
  have: 4,
  bitfield: 5,
  request: 6,
  piece: 7,
  cancel: 8,
  port: 9,
  suggest: 0x0d,
  haveAll: 0x0e,
  haveNone: 0x0f,
  reject: 0x10,
  allowedFast: 0x11,
  extended: 20,
} as const;
