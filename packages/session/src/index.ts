export { Session, type SessionOptions, type SessionEvents } from './session.js';
export { sessionLsdInterfaces, type SessionLsdOptions, type LsdStatus, type LsdRegistry, type LsdTorrent } from './local-discovery.js';
export { DHT_ENOUGH_PEERS, type SessionDhtOptions, type DhtNodeTuning, type DhtStatus, type DhtRegistry, type DhtTorrent } from './dht.js';
export {
  Torrent,
  pieceLevels,
  type TorrentOptions,
  type TorrentStats,
  type TorrentActivity,
  type TorrentState,
  type TorrentEvents,
  type TorrentEvent,
  type TorrentHost,
  type PeerListView,
  type PeerTransfer,
  type BandwidthPriority,
} from './torrent.js';
export {
  PeerList,
  PEER_SOURCES,
  type PeerSource,
  type PeerDialer,
  type PeerListOptions,
  type PeerListCounts,
  type PeerAddResult,
} from './peer-list.js';
export { AddressFilter, canonicalHost, type AddressFilterOptions, type AddressRejection } from './address-filter.js';
export { makePeerId, clientName, peerIdPrefix, PEER_ID_PREFIX } from './peer-id.js';
export { VERSION } from './version.js';
export { dialFailure } from './dial-failures.js';
export type { TrackerInfo, TrackerReport } from './announce.js';
export type { TrackerStatusState } from '@mainline/rerequester';
export { writeFileAtomic, readFileIfExists } from './atomic-file.js';
export type { TorrentWarning, WarningKind } from './warning.js';
export { MagnetDownload, MAGNET_UNKNOWN_LEFT, type MagnetOptions, type MagnetState, type MagnetStats, type MagnetEvents } from './magnet.js';
