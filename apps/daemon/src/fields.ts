import { isIP } from 'node:net';
import { formatMagnet } from '@mainline/metainfo';
import { clientName, PEER_SOURCES, type MagnetStats, type PeerSource, type TorrentStats, type TrackerInfo } from '@mainline/session';
import { isDone, magnetFetching, type AnyEntry, type Entry, type MagnetEntry } from './entry.js';
import { prioritiesOf } from './state.js';

/** Transmission's torrent status numbers (rpc-spec §3.3). */
export const TR_STATUS = { STOPPED: 0, CHECK_WAIT: 1, CHECK: 2, DOWNLOAD_WAIT: 3, DOWNLOAD: 4, SEED_WAIT: 5, SEED: 6 } as const;
const ETA_NOT_AVAIL = -1;
const ETA_UNKNOWN = -2;
const RATIO_NA = -1;
const RATIO_INF = -2;
const KB = 1000;

/** Peer ids to client names: shared with the CLI, in @mainline/session. */
export { clientName };

type Peer = Entry['torrent']['peers'][number];

/** What one torrent-get computes once per torrent, shared by its fields. */
interface Ctx {
  e: Entry;
  /** Where the daemon keeps the torrents' .torrent files (none: torrentFile is ''). */
  state: TorrentFileStore | undefined;
  s: TorrentStats;
  /** Unix seconds on the daemon's clock. */
  now: number;
  /** Verified bytes: live when the data is open, else the last saved count. */
  have: number;
  sizeWhenDone: number;
  leftUntilDone: number;
}

function hasPiece(e: Entry, i: number, have: number): boolean {
  const store = e.torrent.store;
  if (store) return store.hasPiece(i);
  return have >= e.meta.totalLength;
}

function pieceSize(e: Entry, i: number): number {
  const m = e.meta;
  return i === m.pieceCount - 1 ? m.totalLength - m.pieceLength * (m.pieceCount - 1) : m.pieceLength;
}

/**
 * Transmission's tr_completion: leftUntilDone is the bytes of wanted pieces (those holding a
 * wanted file) not verified; sizeWhenDone is that plus every verified byte (wanted or not), so
 * percentDone = haveValid / sizeWhenDone. With the data not open (a stopped torrent after a
 * restart) the counts saved in the record stand in.
 */
/** What torrent-get's torrentFile comes from: the daemon's state directory (StateStore). */
export interface TorrentFileStore {
  torrentPath(infoHash: string): string;
}

function context(e: Entry, now: number, state: TorrentFileStore | undefined): Ctx {
  const s = e.torrent.stats();
  const total = e.meta.totalLength;
  let have: number;
  let leftUntilDone: number;
  if (s.state === 'checking') {
    // During a verify Transmission counts what is verified so far against the wanted size.
    have = s.haveBytes;
    leftUntilDone = Math.max(0, s.wantedLength - s.haveBytes);
  } else if (e.torrent.store) {
    have = s.haveBytes;
    leftUntilDone = s.wantedLeft;
  } else {
    have = Math.min(e.record.haveBytes, total);
    leftUntilDone = have >= total ? 0 : Math.min(e.record.leftUntilDone ?? s.wantedLeft, total - have);
  }
  return { e, state, s, now, have, sizeWhenDone: Math.min(total, have + leftUntilDone), leftUntilDone };
}

const NO_PEERS: Readonly<Record<PeerSource, number>> = Object.fromEntries(PEER_SOURCES.map((k) => [k, 0])) as Record<PeerSource, number>;

/**
 * Transmission's peersFrom: the connected peers by the source that first told of them (its
 * `atom->fromFirst`), from the peer list. Transmission has no source for an address the user
 * named (`user`) or a magnet's `x.pe` (`magnet`); like a tracker's, they are addresses handed to
 * us, and are counted with the tracker's. `fromLtep` (a BEP 10 handshake's listen port) is not a
 * source of ours yet, so it stays 0.
 */
export function peersFrom(connected: Readonly<Record<PeerSource, number>> = NO_PEERS): Record<string, number> {
  return {
    fromCache: connected.resume,
    fromDht: connected.dht,
    fromIncoming: connected.incoming,
    fromLpd: connected.lsd,
    fromLtep: 0,
    fromPex: connected.pex,
    fromTracker: connected.tracker + connected.user + connected.magnet,
  };
}

export function statusOf(s: TorrentStats): number {
  switch (s.state) {
    case 'checking':
      return TR_STATUS.CHECK;
    case 'downloading':
      return TR_STATUS.DOWNLOAD;
    case 'seeding':
      return TR_STATUS.SEED;
    default:
      return TR_STATUS.STOPPED;
  }
}

/** tr_getRatio: uploaded over downloaded (or over what we have when nothing was downloaded). */
function ratioOf(s: TorrentStats, have: number): number {
  const base = s.downloaded > 0 ? s.downloaded : have;
  if (base > 0) return Math.round((s.uploaded / base) * 10000) / 10000;
  return s.uploaded === 0 ? RATIO_NA : RATIO_INF;
}

const rate = (r: number): number => Math.max(0, Math.round(r));
const sending = (p: Peer): boolean => p.downloadRate() >= 1;
const getting = (p: Peer): boolean => p.uploadRate() >= 1;

/**
 * One peer as Transmission's tr_peer_stat. "Client" is us: clientIsChoked = they choke us,
 * peerIsChoked = we choke them. isDownloadingFrom / isUploadingTo are Transmission's "active"
 * states (interested and unchoked), not rates; flagStr follows libtransmission's order and rules:
 * T uTP, D downloading (else d: we are interested), U uploading (else u: they are interested),
 * K they unchoked us but we are not interested, ? we unchoked them but they are not interested,
 * H / X a peer the DHT / PEX told of, I incoming. (O optimistic and E encrypted do not occur yet.)
 */
function peerInfo(p: Peer, pieceCount: number, source: PeerSource | undefined): Record<string, unknown> {
  const clientIsChoked = p.peerChoking;
  const clientIsInterested = p.amInterested;
  const peerIsChoked = p.amChoking;
  const peerIsInterested = p.peerInterested;
  const downloadingFrom = clientIsInterested && !clientIsChoked;
  const uploadingTo = peerIsInterested && !peerIsChoked;
  let flags = '';
  if (p.transport === 'utp') flags += 'T';
  if (downloadingFrom) flags += 'D';
  else if (clientIsInterested) flags += 'd';
  if (uploadingTo) flags += 'U';
  else if (peerIsInterested) flags += 'u';
  if (!clientIsChoked && !clientIsInterested) flags += 'K';
  if (!peerIsChoked && !peerIsInterested) flags += '?';
  if (source === 'dht') flags += 'H';
  else if (source === 'pex') flags += 'X';
  if (p.incoming) flags += 'I';
  return {
    address: p.remoteAddress,
    port: p.remotePort,
    clientName: clientName(p.peerId),
    clientIsChoked,
    clientIsInterested,
    peerIsChoked,
    peerIsInterested,
    flagStr: flags,
    isDownloadingFrom: downloadingFrom,
    isUploadingTo: uploadingTo,
    isEncrypted: false,
    isIncoming: p.incoming,
    isUTP: p.transport === 'utp',
    progress: p.seed ? 1 : pieceCount > 0 ? p.piecesHave / pieceCount : 0,
    rateToClient: rate(p.downloadRate()),
    rateToPeer: rate(p.uploadRate()),
  };
}

/**
 * Each file's bytes verified, length, path and (Transmission 4.1, `files.begin_piece` /
 * `files.end_piece`) the pieces it spans, end exclusive.
 */
function fileProgress(c: Ctx): { bytesCompleted: number; length: number; name: string; begin_piece: number; end_piece: number }[] {
  const { e, have } = c;
  const m = e.meta;
  return m.files.map((f, index) => {
    let done = 0;
    if (f.length > 0) {
      const first = Math.floor(f.offset / m.pieceLength);
      const last = Math.floor((f.offset + f.length - 1) / m.pieceLength);
      for (let i = first; i <= last; i++) {
        if (!hasPiece(e, i, have)) continue;
        const start = Math.max(f.offset, i * m.pieceLength);
        const end = Math.min(f.offset + f.length, i * m.pieceLength + pieceSize(e, i));
        done += end - start;
      }
    }
    // As libtransmission's file-piece map: an empty file spans the one piece its offset is in
    // (the last piece when it ends the torrent on a piece boundary).
    const begin = Math.min(Math.floor(f.offset / m.pieceLength), m.pieceCount - 1);
    return {
      begin_piece: begin,
      bytesCompleted: done,
      end_piece: f.length > 0 ? Math.floor((f.offset + f.length - 1) / m.pieceLength) + 1 : begin + 1,
      length: f.length,
      name: (e.record.filePaths?.[index] ?? f.path).join('/'),
    };
  });
}

const PRIORITY_NUMBER = { low: -1, normal: 0, high: 1, skip: 0 } as const;

function trackerList(tiers: readonly (readonly string[])[]): { announce: string; id: number; scrape: string; sitename: string; tier: number }[] {
  const out: { announce: string; id: number; scrape: string; sitename: string; tier: number }[] = [];
  tiers.forEach((tier, t) =>
    tier.forEach((url) => out.push({ announce: url, id: out.length, scrape: url.replace(/\/announce(?=[^/]*$)/, '/scrape'), sitename: siteName(url), tier: t })),
  );
  return out;
}

/** Second-level labels under a country code that are part of the public suffix (co.uk, com.au, ...). */
const SECOND_LEVEL = new Set(['ac', 'co', 'com', 'edu', 'gov', 'ne', 'net', 'or', 'org']);

/**
 * Transmission 4's tracker `sitename`: an IP address as it is, else the first label of the
 * registrable domain (tracker.example.co.uk: "example"). Transmission asks libpsl for the
 * registrable domain; without the public suffix list this knows the common ccTLD second levels.
 */
export function siteName(url: string): string {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return '';
  }
  if (isIP(host.replace(/^\[|\]$/g, '')) !== 0) return host;
  const labels = host.split('.').filter((l) => l !== '');
  const suffix = labels.length >= 3 && labels.at(-1)!.length === 2 && SECOND_LEVEL.has(labels.at(-2)!) ? 2 : 1;
  return labels.length > suffix ? labels[labels.length - suffix - 1]! : host;
}

/**
 * Transmission's TR_STAT_TRACKER_ERROR: a tracker answered with a failure reason. A tracker that
 * cannot be reached is no torrent error there (trackerStats' lastAnnounceResult says it).
 */
function trackerRefusal(trackers: readonly TrackerInfo[]): string | undefined {
  return trackers.find((t) => t.state === 'failed' && t.errorCode === 'REJECTED')?.error;
}

/** What trackerStats shows: the tiers, each tracker's report from the session, and the schedule. */
interface Announcing {
  tiers: readonly (readonly string[])[];
  running: boolean;
  trackers: readonly TrackerInfo[];
  /** Seconds until the next announce, from the session. */
  nextAnnounceIn: number | undefined;
  /** Unix seconds of the next scrape; whether one is in flight. */
  nextScrapeAt: number;
  scraping: boolean;
  now: number;
}

/** Transmission's tr_tracker_state: inactive, waiting, queued, active. */
const TRACKER = { INACTIVE: 0, WAITING: 1, ACTIVE: 3 } as const;
const TIMED_OUT = /timed? ?out|TIMEOUT/i;

/**
 * Transmission's tr_tracker_stat for each tracker: one per tier is current (the one that last
 * answered, else the first), the others are backups; times are Unix seconds, counts -1 unknown.
 */
function trackerStats(c: Announcing): Record<string, unknown>[] {
  const info = new Map(c.trackers.map((t) => [t.url, t]));
  const at = (ago: number | undefined): number => (ago === undefined ? 0 : Math.round(c.now - ago));
  const current = new Set(c.tiers.map((urls) => urls.find((u) => info.get(u)?.state === 'working' || info.get(u)?.state === 'announcing') ?? urls[0]));
  return trackerList(c.tiers).map((t) => {
    let host = t.announce;
    try {
      const u = new URL(t.announce);
      host = `${u.protocol}//${u.host}`;
    } catch {
      // keep the raw text
    }
    const r = info.get(t.announce);
    const scrape = r?.scrape;
    const scraped = scrape !== undefined && !('error' in scrape) ? scrape : undefined;
    const announced = r !== undefined && (r.lastAnnounceAgo !== undefined || r.state === 'failed');
    const succeeded = r?.state === 'working' || (r?.state === 'announcing' && r.error === undefined && r.lastAnnounceAgo !== undefined);
    const isCurrent = current.has(t.announce);
    const waiting = c.running && isCurrent;
    return {
      ...t,
      host,
      announceState: !waiting ? TRACKER.INACTIVE : r?.state === 'announcing' ? TRACKER.ACTIVE : TRACKER.WAITING,
      downloadCount: scraped?.downloaded ?? -1,
      hasAnnounced: announced,
      hasScraped: scrape !== undefined,
      isBackup: !isCurrent,
      lastAnnouncePeerCount: r?.peers ?? 0,
      lastAnnounceResult: r?.error ?? (announced ? 'Success' : ''),
      lastAnnounceStartTime: at(r?.lastAnnounceStartAgo),
      lastAnnounceSucceeded: announced && succeeded,
      // A failure's time is when its (last) try started.
      lastAnnounceTime: r?.state === 'failed' ? at(r.lastAnnounceStartAgo) : at(r?.lastAnnounceAgo),
      lastAnnounceTimedOut: r?.error !== undefined && TIMED_OUT.test(r.error),
      lastScrapeResult: scrape && 'error' in scrape ? scrape.error : '',
      lastScrapeStartTime: at(scrape?.startAgo),
      lastScrapeSucceeded: scraped !== undefined,
      lastScrapeTime: at(scrape?.ago),
      lastScrapeTimedOut: scrape !== undefined && 'error' in scrape && scrape.timedOut,
      leecherCount: scraped?.leechers ?? r?.leechers ?? -1,
      nextAnnounceTime: waiting && c.nextAnnounceIn !== undefined ? Math.round(c.now + c.nextAnnounceIn) : 0,
      nextScrapeTime: waiting && !c.scraping ? c.nextScrapeAt : 0,
      scrapeState: !waiting ? TRACKER.INACTIVE : c.scraping ? TRACKER.ACTIVE : TRACKER.WAITING,
      seederCount: scraped?.seeders ?? r?.seeders ?? -1,
    };
  });
}

const magnetLink = (infoHash: string, name: string, tiers: readonly (readonly string[])[]): string => formatMagnet({ infoHash, name, trackers: tiers.flat() });

function piecesBitfield(c: Ctx): string {
  const m = c.e.meta;
  const bytes = Buffer.alloc(Math.ceil(m.pieceCount / 8));
  for (let i = 0; i < m.pieceCount; i++) if (hasPiece(c.e, i, c.have)) bytes[i >> 3]! |= 0x80 >> (i & 7);
  return bytes.toString('base64');
}

type Getter = (c: Ctx) => unknown;

/** Fields kept in the daemon's record (or constant), the same for torrents and magnets. */
const RECORD_FIELDS = {
  activityDate: (c: { e: AnyEntry }) => c.e.activityDate,
  addedDate: (c: { e: AnyEntry }) => c.e.record.addedDate,
  bandwidthPriority: (c: { e: AnyEntry }) => c.e.record.bandwidthPriority ?? 0,
  doneDate: (c: { e: AnyEntry }) => c.e.record.doneDate,
  downloadDir: (c: { e: AnyEntry }) => c.e.record.downloadDir,
  downloadLimit: (c: { e: AnyEntry }) => c.e.record.downloadLimit,
  downloadLimited: (c: { e: AnyEntry }) => c.e.record.downloadLimited,
  editDate: () => 0,
  etaIdle: () => ETA_NOT_AVAIL,
  hashString: (c: { e: AnyEntry }) => c.e.record.infoHash,
  haveUnchecked: () => 0,
  // Bandwidth groups are not supported (torrent-set refuses any other): every torrent is in none.
  group: () => '',
  honorsSessionLimits: (c: { e: AnyEntry }) => c.e.record.honorsSessionLimits !== false,
  id: (c: { e: AnyEntry }) => c.e.id,
  labels: (c: { e: AnyEntry }) => c.e.record.labels ?? [],
  manualAnnounceTime: () => -1,
  'peer-limit': (c: { e: AnyEntry }) => c.e.record.peerLimit ?? 50,
  'primary-mime-type': () => 'application/octet-stream',
  queuePosition: (c: { e: AnyEntry }) => c.e.record.queuePosition ?? 0,
  secondsDownloading: (c: { e: AnyEntry }) => c.e.record.secondsDownloading,
  secondsSeeding: (c: { e: AnyEntry }) => c.e.record.secondsSeeding,
  seedIdleLimit: (c: { e: AnyEntry }) => c.e.record.seedIdleLimit ?? 30,
  seedIdleMode: (c: { e: AnyEntry }) => c.e.record.seedIdleMode ?? 0,
  seedRatioLimit: (c: { e: AnyEntry }) => c.e.record.seedRatioLimit ?? 2,
  seedRatioMode: (c: { e: AnyEntry }) => c.e.record.seedRatioMode ?? 0,
  sequential_download: (c: { e: AnyEntry }) => c.e.record.sequential === true,
  startDate: (c: { e: AnyEntry }) => c.e.startDate,
  uploadLimit: (c: { e: AnyEntry }) => c.e.record.uploadLimit,
  uploadLimited: (c: { e: AnyEntry }) => c.e.record.uploadLimited,
  webseedsSendingToUs: () => 0,
};

/** Every torrent field we answer, by its Transmission name. Unknown names are left out, as Transmission does. */
export const TORRENT_FIELDS = {
  ...RECORD_FIELDS,
  comment: (c) => c.e.meta.comment ?? '',
  corruptEver: (c) => c.s.wasted,
  creator: (c) => c.e.meta.createdBy ?? '',
  dateCreated: (c) => c.e.meta.creationDate ?? 0,
  desiredAvailable: (c) => (c.s.peers > 0 ? c.leftUntilDone : 0),
  downloadedEver: (c) => c.s.downloaded,
  // Transmission's codes: 3 local error (ours, and warnings such as a failed resume write), 2 tracker error.
  error: (c) => (c.s.error !== undefined || c.s.warning !== undefined ? 3 : trackerRefusal(c.s.trackers) !== undefined ? 2 : 0),
  errorString: (c) => c.s.error ?? c.s.warning ?? trackerRefusal(c.s.trackers) ?? '',
  eta: (c) => {
    if (c.s.state !== 'downloading' || c.leftUntilDone === 0) return ETA_NOT_AVAIL;
    return c.s.eta === undefined || !Number.isFinite(c.s.eta) ? ETA_UNKNOWN : Math.max(0, Math.round(c.s.eta));
  },
  'file-count': (c) => c.e.meta.files.length,
  files: (c) => fileProgress(c),
  fileStats: (c) =>
    fileProgress(c).map((f, i) => {
      const p = c.e.record.priorities?.[i] ?? 'normal';
      return { bytesCompleted: f.bytesCompleted, wanted: p !== 'skip', priority: PRIORITY_NUMBER[p] };
    }),
  haveValid: (c) => c.have,
  isFinished: (c) => c.e.finished,
  isPrivate: (c) => c.e.meta.private,
  isStalled: (c) => c.s.state === 'downloading' && c.s.downloadRate < 1,
  leftUntilDone: (c) => c.leftUntilDone,
  magnetLink: (c) => magnetLink(c.e.meta.infoHash, c.e.meta.name, c.e.torrent.trackers),
  maxConnectedPeers: (c) => c.e.torrent.stats().peers,
  metadataPercentComplete: () => 1,
  // The record's: the metainfo's, or what torrent-rename-path made of it.
  name: (c) => c.e.record.name,
  peers: (c) => c.e.torrent.peers.map((p) => peerInfo(p, c.e.meta.pieceCount, c.e.torrent.peerList.connectionSource(p.remoteAddress, p.remotePort))),
  peersConnected: (c) => c.s.peers,
  peersFrom: (c) => peersFrom(c.e.torrent.peerList.counts().connected),
  peersGettingFromUs: (c) => c.e.torrent.peers.filter(getting).length,
  peersSendingToUs: (c) => c.e.torrent.peers.filter(sending).length,
  percentComplete: (c) => (c.e.meta.totalLength > 0 ? c.have / c.e.meta.totalLength : 1),
  percentDone: (c) => (c.sizeWhenDone > 0 ? (c.sizeWhenDone - c.leftUntilDone) / c.sizeWhenDone : 1),
  pieces: (c) => piecesBitfield(c),
  pieceCount: (c) => c.e.meta.pieceCount,
  pieceSize: (c) => c.e.meta.pieceLength,
  priorities: (c) => prioritiesOf(c.e.record, c.e.meta.files.length).map((p) => PRIORITY_NUMBER[p]),
  // The display rates (~2 s window): a limit cut shows within seconds, as in Transmission.
  rateDownload: (c) => (c.s.state === 'downloading' && c.s.peers > 0 ? rate(c.s.recentDownloadRate) : 0),
  rateUpload: (c) => (c.s.peers > 0 ? rate(c.s.recentUploadRate) : 0),
  recheckProgress: (c) => (c.s.state === 'checking' ? c.s.checkProgress : 0),
  sizeWhenDone: (c) => c.sizeWhenDone,
  status: (c) => entryStatus(c.e),
  torrentFile: (c) => c.state?.torrentPath(c.e.meta.infoHash) ?? '',
  totalSize: (c) => c.e.meta.totalLength,
  trackers: (c) => trackerList(c.e.torrent.trackers),
  trackerList: (c) => c.e.torrent.trackers.map((tier) => tier.join('\n')).join('\n\n'),
  trackerStats: (c) =>
    trackerStats({
      tiers: c.e.torrent.trackers,
      running: c.s.state === 'downloading' || c.s.state === 'seeding',
      trackers: c.s.trackers,
      nextAnnounceIn: c.s.nextAnnounceIn,
      nextScrapeAt: c.e.nextScrapeAt,
      scraping: c.e.scraping,
      now: c.now,
    }),
  uploadedEver: (c) => c.s.uploaded,
  uploadRatio: (c) => ratioOf(c.s, c.have),
  wanted: (c) => prioritiesOf(c.e.record, c.e.meta.files.length).map((p) => (p === 'skip' ? 0 : 1)),
  webseeds: (c) => [...c.e.meta.urlList],
} satisfies Record<string, Getter>;

/** What one torrent-get computes once per magnet still fetching its metadata. */
interface MagnetCtx {
  e: MagnetEntry;
  /** The fetch's numbers; undefined while stopped. */
  m: MagnetStats | undefined;
  fetching: boolean;
  now: number;
}

const tiersOf = (e: MagnetEntry): string[][] => e.link.trackers.map((t) => [t]);

/**
 * The same fields for a magnet link without its metadata, as Transmission answers them: sizes,
 * files and pieces empty, `metadataPercentComplete` below 1, status downloading while fetching.
 */
const MAGNET_FIELDS: { [K in keyof typeof TORRENT_FIELDS]: (c: MagnetCtx) => unknown } = {
  ...RECORD_FIELDS,
  comment: () => '',
  corruptEver: () => 0,
  creator: () => '',
  dateCreated: () => 0,
  desiredAvailable: () => 0,
  downloadedEver: () => 0,
  error: (c) => (c.e.error !== undefined ? 3 : trackerRefusal(c.m?.trackers ?? []) !== undefined ? 2 : 0),
  errorString: (c) => c.e.error ?? trackerRefusal(c.m?.trackers ?? []) ?? '',
  // Unknown even when stopped: with nothing left (no size yet) -1 would print as "Done".
  eta: () => ETA_UNKNOWN,
  'file-count': () => 0,
  files: () => [],
  fileStats: () => [],
  haveValid: () => 0,
  isFinished: () => false,
  isPrivate: () => false,
  isStalled: (c) => c.fetching && c.m?.peers === 0,
  leftUntilDone: () => 0,
  magnetLink: (c) => c.e.record.magnet ?? magnetLink(c.e.link.infoHash, c.e.record.name, tiersOf(c.e)),
  maxConnectedPeers: (c) => c.m?.peers ?? 0,
  metadataPercentComplete: (c) => (c.m?.pieceCount ? c.m.piecesReceived / c.m.pieceCount : 0),
  name: (c) => c.e.record.name,
  peers: () => [],
  peersConnected: (c) => c.m?.peers ?? 0,
  // The magnet's peer list, which its metadata fetch dials through (and the torrent inherits).
  peersFrom: (c) => peersFrom(c.e.download?.peerList.counts().connected),
  peersGettingFromUs: () => 0,
  peersSendingToUs: () => 0,
  percentComplete: () => 0,
  percentDone: () => 0,
  pieces: () => '',
  pieceCount: () => 0,
  pieceSize: () => 0,
  priorities: () => [],
  rateDownload: () => 0,
  rateUpload: () => 0,
  recheckProgress: () => 0,
  sizeWhenDone: () => 0,
  status: (c) => entryStatus(c.e),
  torrentFile: () => '',
  totalSize: () => 0,
  trackers: (c) => trackerList(tiersOf(c.e)),
  trackerList: (c) => c.e.link.trackers.join('\n\n'),
  trackerStats: (c) =>
    trackerStats({ tiers: tiersOf(c.e), running: c.fetching, trackers: c.m?.trackers ?? [], nextAnnounceIn: c.m?.nextAnnounceIn, nextScrapeAt: 0, scraping: false, now: c.now }),
  uploadedEver: () => 0,
  uploadRatio: () => RATIO_NA,
  wanted: () => [],
  webseeds: (c) => [...c.e.link.webSeeds],
};

/** Transmission's status number of a torrent or a magnet. */
export function entryStatus(e: AnyEntry): number {
  if (e.kind === 'magnet') {
    // A magnet waits in the download queue like a .torrent does (its fetch is its download).
    if (e.queued && !e.record.paused) return TR_STATUS.DOWNLOAD_WAIT;
    return magnetFetching(e) ? TR_STATUS.DOWNLOAD : TR_STATUS.STOPPED;
  }
  // A start waiting its turn (the daemon starts a few at a time) will check its data: "Will Verify".
  if (e.verifyQueued || (e.starting && (e.torrent.state === 'paused' || e.torrent.state === 'stopped'))) return TR_STATUS.CHECK_WAIT;
  // Waiting in the queue: for a seed slot when every wanted piece is here, else a download slot.
  if (e.queued && !e.record.paused) return isDone(e) ? TR_STATUS.SEED_WAIT : TR_STATUS.DOWNLOAD_WAIT;
  return statusOf(e.torrent.stats());
}

/** The requested fields of one torrent or magnet (unknown names skipped), at `now` (Unix seconds). */
export function torrentFields(e: AnyEntry, fields: readonly string[], now: number, state?: TorrentFileStore): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const known = fields.filter((f): f is keyof typeof TORRENT_FIELDS => Object.hasOwn(TORRENT_FIELDS, f));
  if (e.kind === 'magnet') {
    const c: MagnetCtx = { e, m: e.download?.stats(), fetching: magnetFetching(e), now };
    for (const f of known) out[f] = MAGNET_FIELDS[f](c);
  } else {
    const c = context(e, now, state);
    for (const f of known) out[f] = (TORRENT_FIELDS[f] as Getter)(c);
  }
  return out;
}

export { KB };
