export { LsdError, type LsdErrorCode } from './errors.js';
export {
  LSD_PORT,
  LSD_GROUP_IPV4,
  LSD_GROUP_IPV6,
  MAX_ANNOUNCE_BYTES,
  MAX_RECEIVE_BYTES,
  MAX_HEADER_LINES,
  lsdHost,
  infoHashHex,
  encodeAnnounce,
  encodeAnnounces,
  infoHashesPerAnnounce,
  parseAnnounce,
  type LsdFamily,
  type AnnounceFields,
  type LsdAnnounce,
} from './message.js';
export {
  createUdpTransport,
  lsdInterfaces,
  onLink,
  type LsdTransport,
  type LsdSender,
  type LsdInterface,
  type UdpLsdTransport,
  type UdpTransportOptions,
  type NetworkInterfaces,
} from './transport.js';
export {
  LocalDiscovery,
  LSD_DROP_REASONS,
  type LocalDiscoveryOptions,
  type LsdPeer,
  type LsdStats,
  type LsdDropReason,
  type LsdLogEvent,
} from './discovery.js';
