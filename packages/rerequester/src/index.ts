export { TrackerError, type TrackerErrorCode } from './errors.js';
export { percentEncodeBytes } from './encode.js';
export type { AnnounceEvent, AnnounceRequest, AnnounceResponse, RequestAttempt, RequestOptions, Tracker } from './types.js';
export {
  HttpTracker,
  httpGet,
  parseHttpAnnounceReply,
  parseHttpScrapeReply,
  buildAnnounceUrl,
  scrapeUrlOf,
  DEFAULT_HTTP_TIMEOUT_MS,
  DEFAULT_MAX_RESPONSE_BYTES,
  DEFAULT_MAX_REDIRECTS,
  type HttpTrackerOptions,
  type HttpReply,
} from './http.js';
export {
  UdpTracker,
  UDP_SCRAPE_MAX_HASHES,
  udpTransactionId,
  checkUdpReply,
  parseUdpConnectReply,
  parseUdpAnnounceReply,
  parseUdpScrapeReply,
  type UdpTrackerOptions,
} from './udp.js';
export { UdpTrackerClient, type UdpTarget } from './udp-client.js';
export { createTracker, type TrackerOptions } from './tracker.js';
export { TrackerTiers, type TierResult } from './tiers.js';
export { RequestGate, DEFAULT_TRACKER_REQUESTS, DEFAULT_MAX_HOLD_MS, type RequestGateOptions, type ReleaseSlot } from './gate.js';
export {
  Announcer,
  DEFAULT_INTERVAL_FLOOR_MS,
  DEFAULT_MIN_INTERVAL_FLOOR_MS,
  type AnnouncerOptions,
  type AnnouncerStats,
  type AnnouncerEvents,
  type AnnouncerObserver,
  type AnnounceErrorInfo,
  type AnnounceInfo,
  type AnnouncerState,
  type ScrapeStatus,
  type TrackerStatus,
  type TrackerStatusState,
} from './announcer.js';
export type { ScrapeEntry, TrackerPeer } from '@mainline/metainfo';
