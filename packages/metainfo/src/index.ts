export { MetainfoError, type MetainfoErrorCode } from './errors.js';
export {
  validateTrackerResponse,
  validateScrapeResponse,
  type ResponseOptions,
  type TrackerPeer,
  type TrackerResponse,
  type TrackerSuccess,
  type TrackerFailure,
  type ScrapeEntry,
  type ScrapeResponse,
  type ScrapeSuccess,
  type ScrapeFailure,
} from './tracker.js';
export { parseTorrent, parseInfo, Metainfo, type ParseOptions, type InfoFields, type TorrentFile } from './metainfo.js';
export { type NameRules } from './names.js';
export { safeFilePath } from './safepath.js';
export {
  parseMagnet,
  formatMagnet,
  magnetFromTorrent,
  parseInfoHash,
  MAX_MAGNET_TRACKERS,
  MAX_MAGNET_WEB_SEEDS,
  MAX_MAGNET_PEERS,
  type MagnetLink,
  type MagnetInput,
  type MagnetPeer,
  type MagnetParseOptions,
} from './magnet.js';
export {
  createTorrent,
  choosePieceLength,
  type CreateTorrentOptions,
  type CreatedTorrent,
  type SkippedEntry,
} from './create.js';
export { metainfoFromMagnet, encodeTorrent } from './from-magnet.js';
