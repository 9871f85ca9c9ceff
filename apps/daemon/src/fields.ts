import { PEER_ID_PREFIX, type TorrentStats } from '@mainline/session';
import type { Entry } from './daemon.js';

/** Transmission's torrent status numbers (rpc-spec §3.3). */
export const TR_STATUS = { STOPPED: 0, CHECK_WAIT: 1, CHECK: 2, DOWNLOAD_WAIT: 3, DOWNLOAD: 4, SEED_WAIT: 5, SEED: 6 } as const;
const ETA_NOT_AVAIL = -1;
const ETA_UNKNOWN = -2;
const RATIO_NA = -1;
const RATIO_INF = -2;
const KB = 1000;

type Peer = Entry['torrent']['peers'][number];

/** What one torrent-get computes once per torrent, shared by its fields. */
interface Ctx {
  e: Entry;
  s: TorrentStats;
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
function context(e: Entry): Ctx {
  const s = e.torrent.stats();
  const total = e.meta.totalLength;
  let have: number;
  let leftUntilDone: number;
  if (e.torrent.store) {
    have = s.haveBytes;
    leftUntilDone = s.wantedLeft;
  } else {
    have = Math.min(e.record.haveBytes, total);
    leftUntilDone = have >= total ? 0 : Math.min(e.record.leftUntilDone ?? s.wantedLeft, total - have);
  }
  return { e, s, have, sizeWhenDone: Math.min(total, have + leftUntilDone), leftUntilDone };
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
const sending = (p: Peer): boolean => p.downRate.rate() >= 1;
const getting = (p: Peer): boolean => p.upRate.rate() >= 1;

const CLIENTS: Record<string, string> = {
  LT: 'libtorrent (Rasterbar)',
  lt: 'libTorrent (Rakshasa)',
  TR: 'Transmission',
  qB: 'qBittorrent',
  DE: 'Deluge',
  UT: 'µTorrent',
  AZ: 'Azureus',
  BI: 'BiglyBT',
  ML: 'mainline-ts',
  WW: 'WebTorrent',
};

/** A readable client name from an Azureus-style peer id (`-LT2080-` → `libtorrent (Rasterbar) 2.0.8.0`). */
export function clientName(peerId: Uint8Array | undefined): string {
  if (!peerId || peerId.length < 8) return '';
  const head = Buffer.from(peerId.subarray(0, 8)).toString('latin1');
  const m = /^-([A-Za-z~]{2})([0-9A-Za-z]{4})-$/.exec(head);
  if (m) {
    const name = CLIENTS[m[1]!] ?? m[1]!;
    const digits = [...m[2]!].map((c) => (/[0-9]/.test(c) ? c : String(c.charCodeAt(0) - 55)));
    return `${name} ${digits.join('.')}`;
  }
  if (head.startsWith(PEER_ID_PREFIX)) return 'mainline-ts';
  return [...head].every((c) => c >= ' ' && c <= '~') ? head.replace(/-+$/, '') : '';
}

function peerInfo(p: Peer, pieceCount: number): Record<string, unknown> {
  const c = p.conn;
  const downloading = sending(p);
  const uploading = getting(p);
  // Transmission's flag letters: D downloading, U uploading, d/u interested, K/? choked, I incoming.
  let flags = '';
  if (downloading) flags += 'D';
  else if (p.amInterested) flags += 'd';
  if (uploading) flags += 'U';
  else if (p.peerInterested) flags += 'u';
  if (!p.amChoking && !p.peerInterested) flags += 'K';
  if (!p.peerChoking && !p.amInterested) flags += '?';
  if (c.incoming) flags += 'I';
  return {
    address: c.remoteAddress,
    port: c.remotePort,
    clientName: clientName(c.peerId),
    clientIsChoked: p.amChoking,
    clientIsInterested: p.amInterested,
    peerIsChoked: p.peerChoking,
    peerIsInterested: p.peerInterested,
    flagStr: flags,
    isDownloadingFrom: downloading,
    isUploadingTo: uploading,
    isEncrypted: false,
    isIncoming: c.incoming,
    isUTP: false,
    progress: p.seed ? 1 : p.have && pieceCount > 0 ? p.have.count() / pieceCount : 0,
    rateToClient: rate(p.downRate.rate()),
    rateToPeer: rate(p.upRate.rate()),
  };
}

function fileProgress(c: Ctx): { bytesCompleted: number; length: number; name: string }[] {
  const { e, have } = c;
  const m = e.meta;
  return m.files.map((f) => {
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
    return { bytesCompleted: done, length: f.length, name: f.path.join('/') };
  });
}

const PRIORITY_NUMBER = { low: -1, normal: 0, high: 1, skip: 0 } as const;

function trackerList(e: Entry): { announce: string; id: number; scrape: string; tier: number }[] {
  const out: { announce: string; id: number; scrape: string; tier: number }[] = [];
  e.torrent.trackers.forEach((tier, t) =>
    tier.forEach((url) => out.push({ announce: url, id: out.length, scrape: url.replace(/\/announce(?=[^/]*$)/, '/scrape'), tier: t })),
  );
  return out;
}

function trackerStats(c: Ctx): Record<string, unknown>[] {
  const running = c.s.state === 'downloading' || c.s.state === 'seeding';
  return trackerList(c.e).map((t, i) => {
    let host = t.announce;
    try {
      const u = new URL(t.announce);
      host = `${u.protocol}//${u.host}`;
    } catch {
      // keep the raw text
    }
    const failed = i === 0 && c.s.trackerError !== undefined;
    return {
      ...t,
      host,
      sitename: host,
      announceState: running ? 1 : 0,
      downloadCount: -1,
      hasAnnounced: running && i === 0,
      hasScraped: false,
      isBackup: false,
      lastAnnouncePeerCount: i === 0 ? c.s.trackerPeers : 0,
      lastAnnounceResult: failed ? c.s.trackerError : running && i === 0 ? 'Success' : '',
      lastAnnounceStartTime: 0,
      lastAnnounceSucceeded: running && i === 0 && !failed,
      lastAnnounceTime: 0,
      lastAnnounceTimedOut: false,
      lastScrapeResult: '',
      lastScrapeStartTime: 0,
      lastScrapeSucceeded: false,
      lastScrapeTime: 0,
      lastScrapeTimedOut: false,
      leecherCount: -1,
      nextAnnounceTime: 0,
      nextScrapeTime: 0,
      scrapeState: 0,
      seederCount: -1,
    };
  });
}

function magnetLink(e: Entry): string {
  let link = `magnet:?xt=urn:btih:${e.meta.infoHash}&dn=${encodeURIComponent(e.meta.name)}`;
  for (const tier of e.meta.trackers) for (const url of tier) link += `&tr=${encodeURIComponent(url)}`;
  return link;
}

function piecesBitfield(c: Ctx): string {
  const m = c.e.meta;
  const bytes = Buffer.alloc(Math.ceil(m.pieceCount / 8));
  for (let i = 0; i < m.pieceCount; i++) if (hasPiece(c.e, i, c.have)) bytes[i >> 3]! |= 0x80 >> (i & 7);
  return bytes.toString('base64');
}

type Getter = (c: Ctx) => unknown;

/** Every torrent field we answer, by its Transmission name. Unknown names are left out, as Transmission does. */
export const TORRENT_FIELDS: Record<string, Getter> = {
  activityDate: (c) => c.e.activityDate,
  addedDate: (c) => c.e.record.addedDate,
  bandwidthPriority: () => 0,
  comment: (c) => c.e.meta.comment ?? '',
  corruptEver: (c) => c.s.wasted,
  creator: (c) => c.e.meta.createdBy ?? '',
  dateCreated: (c) => c.e.meta.creationDate ?? 0,
  desiredAvailable: (c) => (c.s.peers > 0 ? c.leftUntilDone : 0),
  doneDate: (c) => c.e.record.doneDate,
  downloadDir: (c) => c.e.record.downloadDir,
  downloadedEver: (c) => c.s.downloaded,
  downloadLimit: (c) => c.e.record.downloadLimit,
  downloadLimited: (c) => c.e.record.downloadLimited,
  editDate: () => 0,
  error: (c) => (c.s.error !== undefined ? 3 : c.s.trackerError !== undefined ? 2 : 0),
  errorString: (c) => c.s.error ?? c.s.trackerError ?? '',
  eta: (c) => {
    if (c.s.state !== 'downloading' || c.leftUntilDone === 0) return ETA_NOT_AVAIL;
    return c.s.eta === undefined || !Number.isFinite(c.s.eta) ? ETA_UNKNOWN : Math.max(0, Math.round(c.s.eta));
  },
  etaIdle: () => ETA_NOT_AVAIL,
  'file-count': (c) => c.e.meta.files.length,
  files: (c) => fileProgress(c),
  fileStats: (c) =>
    fileProgress(c).map((f, i) => {
      const p = c.e.record.priorities[i] ?? 'normal';
      return { bytesCompleted: f.bytesCompleted, wanted: p !== 'skip', priority: PRIORITY_NUMBER[p] };
    }),
  hashString: (c) => c.e.meta.infoHash,
  haveUnchecked: () => 0,
  haveValid: (c) => c.have,
  honorsSessionLimits: () => true,
  id: (c) => c.e.id,
  isFinished: (c) => c.e.finished,
  isPrivate: (c) => c.e.meta.private,
  isStalled: (c) => c.s.state === 'downloading' && c.s.downloadRate < 1,
  labels: () => [],
  leftUntilDone: (c) => c.leftUntilDone,
  magnetLink: (c) => magnetLink(c.e),
  manualAnnounceTime: () => -1,
  maxConnectedPeers: (c) => c.e.torrent.stats().peers,
  metadataPercentComplete: () => 1,
  name: (c) => c.e.meta.name,
  'peer-limit': () => 55,
  peers: (c) => c.e.torrent.peers.map((p) => peerInfo(p, c.e.meta.pieceCount)),
  peersConnected: (c) => c.s.peers,
  peersFrom: (c) => {
    let incoming = 0;
    for (const p of c.e.torrent.peers) if (p.conn.incoming) incoming++;
    return { fromCache: 0, fromDht: 0, fromIncoming: incoming, fromLpd: 0, fromLtep: 0, fromPex: 0, fromTracker: c.s.peers - incoming };
  },
  peersGettingFromUs: (c) => c.e.torrent.peers.filter(getting).length,
  peersSendingToUs: (c) => c.e.torrent.peers.filter(sending).length,
  percentComplete: (c) => (c.e.meta.totalLength > 0 ? c.have / c.e.meta.totalLength : 1),
  percentDone: (c) => (c.sizeWhenDone > 0 ? (c.sizeWhenDone - c.leftUntilDone) / c.sizeWhenDone : 1),
  pieces: (c) => piecesBitfield(c),
  pieceCount: (c) => c.e.meta.pieceCount,
  pieceSize: (c) => c.e.meta.pieceLength,
  priorities: (c) => c.e.record.priorities.map((p) => PRIORITY_NUMBER[p]),
  'primary-mime-type': () => 'application/octet-stream',
  queuePosition: (c) => c.e.id - 1,
  // The swarm's rate meters decay slowly: a finished torrent or one with no peers moves nothing.
  rateDownload: (c) => (c.s.state === 'downloading' && c.s.peers > 0 ? rate(c.s.downloadRate) : 0),
  rateUpload: (c) => (c.s.peers > 0 ? rate(c.s.uploadRate) : 0),
  recheckProgress: (c) => (c.s.state === 'checking' ? c.s.checkProgress : 0),
  secondsDownloading: (c) => c.e.record.secondsDownloading,
  secondsSeeding: (c) => c.e.record.secondsSeeding,
  seedIdleLimit: () => 30,
  seedIdleMode: () => 0,
  seedRatioLimit: () => 2,
  seedRatioMode: () => 0,
  sizeWhenDone: (c) => c.sizeWhenDone,
  startDate: (c) => c.e.startDate,
  status: (c) => (c.e.verifyQueued ? TR_STATUS.CHECK_WAIT : statusOf(c.s)),
  torrentFile: (c) => c.e.torrentFile,
  totalSize: (c) => c.e.meta.totalLength,
  trackers: (c) => trackerList(c.e),
  trackerList: (c) => c.e.torrent.trackers.map((tier) => tier.join('\n')).join('\n\n'),
  trackerStats: (c) => trackerStats(c),
  uploadedEver: (c) => c.s.uploaded,
  uploadLimit: (c) => c.e.record.uploadLimit,
  uploadLimited: (c) => c.e.record.uploadLimited,
  uploadRatio: (c) => ratioOf(c.s, c.have),
  wanted: (c) => c.e.record.priorities.map((p) => (p === 'skip' ? 0 : 1)),
  webseeds: (c) => [...c.e.meta.urlList],
  webseedsSendingToUs: () => 0,
};

/** The requested fields of one torrent (unknown names skipped). */
export function torrentFields(e: Entry, fields: readonly string[]): Record<string, unknown> {
  const c = context(e);
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const get = Object.hasOwn(TORRENT_FIELDS, f) ? TORRENT_FIELDS[f] : undefined;
    if (get) out[f] = get(c);
  }
  return out;
}

export { KB };
