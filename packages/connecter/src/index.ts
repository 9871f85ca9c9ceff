export { WireHub, type WireHubOptions, type TorrentWire, type WireLogEvent, type HubConnectOptions } from './wire-hub.js';
export { hasDhtBit, withDhtBit, type DhtWire } from './dht-wire.js';
export { PeerConnection, type PeerHandler, type PeerCloseReason, type PeerConnectionState } from './peer-connection.js';
export { WireReader, type WireReaderOptions, type WireReaderHandler, type WireLimits } from './wire-reader.js';
export { encodeMessage, encodeMessages, encodePieceHeader, FAST_MESSAGES, type Message, type MessageType } from './messages.js';
export { encodeHandshake, PROTOCOL_HEADER } from './handshake.js';
export { encodeExtensionHandshake, decodeExtensionHandshake, type ExtensionHandshake } from './extension.js';
export {
  makeReserved,
  parseReserved,
  DEFAULT_RESERVED,
  RESERVED_DHT,
  RESERVED_FAST,
  RESERVED_EXTENDED,
  type ReservedFlags,
} from './reserved.js';
export {
  MessageId,
  PROTOCOL_NAME,
  HANDSHAKE_LENGTH,
  DEFAULT_MAX_FRAME_LENGTH,
  DEFAULT_MAX_REQUEST_LENGTH,
  DEFAULT_MAX_EXTENDED_LENGTH,
  DEFAULT_KEEPALIVE_INTERVAL_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  SIMULTANEOUS_OPEN_MS,
  DEFAULT_FIRST_MESSAGE_TIMEOUT_MS,
  DEFAULT_MAX_INITIATE,
} from './constants.js';
export { ProtocolError, ConnecterError, type ProtocolErrorCode, type ConnecterErrorCode } from './errors.js';
export { Swarm, banKey, type SwarmOptions, type SwarmEvents } from './swarm.js';
export type { PeerView } from './swarm-peer.js';
export {
  ExtensionHost,
  CLIENT_VERSION,
  MAX_UNKNOWN_EXTENDED_MESSAGES,
  type Extension,
  type ExtensionPeer,
  type ExtensionFields,
  type ExtensionHostOptions,
  type HostPeer,
} from './extension-host.js';
export { MetadataServing } from './metadata-extension.js';
export {
  PexExtension,
  encodePex,
  decodePex,
  PexFlags,
  UT_PEX,
  UT_PEX_ID,
  PEX_MAX_ENTRIES,
  PEX_INTERVAL_MS,
  PEX_MAX_MESSAGES_PER_INTERVAL,
  PEX_MAX_PEERS_PER_CONNECTION,
  type PexPeer,
  type PexMessage,
  type PexCandidate,
  type PexOptions,
} from './pex.js';
export { MAX_HELD_HAVES, type HandedPeer, type PeerHandOff } from './hand-off.js';
export { RequestKeys } from './request-key.js';
export { ReadCache } from './read-cache.js';
export { allowedFastSet, ALLOWED_FAST_COUNT } from './allowed-fast.js';
export {
  encodeMetadataMessage,
  decodeMetadataMessage,
  metadataPieceCount,
  metadataPieceLength,
  validMetadataSize,
  METADATA_PIECE_LENGTH,
  MAX_METADATA_SIZE,
  UT_METADATA,
  UT_METADATA_ID,
  type MetadataMessage,
} from './ut-metadata.js';
export { MetadataServer, type MetadataServerOptions } from './metadata-server.js';
export { MetadataFetcher, type MetadataFetcherOptions, type MetadataFetcherEvents, type MetadataFetcherStatus } from './metadata-fetcher.js';
