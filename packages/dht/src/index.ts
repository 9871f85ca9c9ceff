export {
  DhtNode,
  DEFAULT_BOOTSTRAP,
  CLIENT_VERSION,
  parseHostPort,
  parseState,
  type HostPort,
  type DhtOptions,
  type DhtEvents,
  type DhtStats,
  type FamilyStats,
  type PeerSearch,
  type SearchOptions,
  type SearchResult,
  type FamilyLookup,
  type AnnouncePort,
} from './node.js';
export { DhtError, type DhtErrorCode } from './errors.js';
export type { DatagramSocket, DatagramSource } from './socket.js';
export { UdpDatagramSocket, type UdpDatagramSocketOptions } from './udp.js';
export { startStandaloneDht, type StandaloneDht, type StandaloneDhtOptions } from './standalone.js';
export { MemoryNetwork, type MemoryNetworkOptions, type MemoryEndpoint } from './memory-network.js';
export {
  decodeKrpc,
  encodeQuery,
  encodeResponse,
  encodeError,
  KrpcError,
  ERROR_GENERIC,
  ERROR_SERVER,
  ERROR_PROTOCOL,
  ERROR_METHOD_UNKNOWN,
  MAX_DATAGRAM_BYTES,
  type KrpcErrorCode,
  type KrpcMessage,
  type Query,
  type QueryBase,
  type MessageBase,
  type Response,
  type ErrorMessage,
  type DecodeResult,
  type Envelope,
  type Want,
} from './krpc.js';
export { RoutingTable, K, QUESTIONABLE_AFTER_MS, BAD_AFTER_FAILURES, type RoutingTableOptions, type TableNode, type TableStats, type NodeState, type AddResult } from './routing-table.js';
export type { LookupResult, Responder } from './lookup.js';
export { PeerStore, type PeerStoreOptions } from './peer-store.js';
export { TokenSecrets, TOKEN_ROTATION_MS } from './tokens.js';
export { QueryRateLimiter, type RateLimitOptions } from './rate-limit.js';
export { bep42Id, isValidBep42Id, isBep42Exempt, crc32c } from './bep42.js';
export { encodeNodes, decodeNodes, encodePeer, decodePeer, familyOf, type Address, type NodeInfo, type Peer, type Family } from './compact.js';
export { commonPrefixBits, compareDistance, randomId, toHex } from './id.js';
