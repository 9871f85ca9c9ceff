// What the user reads while a torrent runs and when it ends: the status line, the notes under
// it (what the client is trying, what failed, when it tries again, what the user can do) and
// the end-of-run summary. Pure functions of the session's stats, so they are tested directly.
import type { MagnetStats, PeerListView, PeerTransfer, TorrentStats, TrackerInfo } from '@mainline/session';
import { formatBytes, formatDuration, formatPercent, formatRate } from './format.js';

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
const inSeconds = (s: number | undefined): string => (s === undefined ? 'soon' : `in ${formatDuration(Math.ceil(s))}`);

/**
 * One status line, aria2c-like: what a user watches during a download or while seeding. With
 * files skipped, the download counts the selected files' pieces (`of` the whole torrent's size).
 * Rates and the ETA are the recent ones (last ~2 s, ~10 s): they follow what happens now.
 */
export function statusLine(s: TorrentStats, dhtNodes?: number): string {
  if (s.state === 'checking') return `checking existing data ${formatPercent(s.checkProgress)}`;
  const peers = `peers ${s.peers} (${plural(s.seeds, 'seed')})${dhtPart(dhtNodes)}`;
  const partial = s.wantedLength < s.totalLength;
  if (s.state === 'seeding') {
    const what = partial ? `${formatBytes(s.haveBytes)} of ${formatBytes(s.totalLength)}` : formatBytes(s.totalLength);
    return `seeding ${what} UL ${formatRate(s.recentUploadRate)} up ${formatBytes(s.uploaded)} ratio ${s.ratio.toFixed(2)} ${peers}`;
  }
  const size = `${formatBytes(s.wantedLength - s.wantedLeft)}/${formatBytes(s.wantedLength)}${partial ? ` (selected, of ${formatBytes(s.totalLength)})` : ''}`;
  return `${size} DL ${formatRate(s.recentDownloadRate)} UL ${formatRate(s.recentUploadRate)} ETA ${formatDuration(s.recentEta)} ${peers}`;
}

/** The status line while a magnet link's metadata is being fetched. */
export function magnetStatusLine(s: MagnetStats, dhtNodes?: number): string {
  const pieces = s.pieceCount === undefined ? '' : `, ${s.piecesReceived}/${s.pieceCount} pieces`;
  return `fetching metadata: ${plural(s.peers, 'peer')} (${s.metadataPeers} with metadata${pieces})${dhtPart(dhtNodes)}`;
}

/** The DHT's table size on the status line (nothing when the DHT is off). */
const dhtPart = (nodes: number | undefined): string => (nodes === undefined ? '' : ` DHT ${plural(nodes, 'node')}`);

/** Socket errors as people say them (the code stays, for a search). */
const SOCKET_WORDS: [RegExp, string][] = [
  [/^connect ECONNREFUSED (\S+)$/, 'connection refused: nothing listens at $1 (ECONNREFUSED)'],
  [/^getaddrinfo (?:ENOTFOUND|EAI_AGAIN) (\S+)$/, 'cannot find the host $1 (DNS)'],
  [/^connect (?:EHOSTUNREACH|ENETUNREACH) (\S+)$/, 'no route to $1'],
  [/^connect ETIMEDOUT (\S+)$/, 'no answer from $1 (connect timed out)'],
];

function inWords(message: string): string {
  for (const [pattern, words] of SOCKET_WORDS) if (pattern.test(message)) return message.replace(pattern, words);
  return message;
}

/**
 * A tracker's state in words, with when it is asked again (`othersAsking`: another tracker of the
 * same announce is being asked now, so the next round waits for it).
 */
export function trackerNote(t: TrackerInfo, nextAnnounceIn: number | undefined, othersAsking = false): string | undefined {
  const name = `tracker ${t.url}`;
  switch (t.state) {
    case 'announcing': {
      const a = t.attempt;
      if (!a) return `${name}: asking`;
      const left = formatDuration(Math.ceil(a.waitLeft));
      if (a.max === 1) return `${name}: waiting for an answer (gives up in ${left})`;
      const next = a.number < a.max ? `asking again in ${left}` : `gives up in ${left}`;
      return `${name}: no answer yet (try ${a.number} of ${a.max}), ${next}`;
    }
    case 'failed':
      return `${name}: ${inWords(t.error ?? 'failed')}${t.failures > 1 ? ` (${t.failures} failures in a row)` : ''}; ${retrying(nextAnnounceIn, othersAsking)}`;
    case 'working':
      return `${name}: ${plural(t.peers ?? 0, 'peer')} in its last answer; ${nextAnnounceIn === undefined && othersAsking ? 'the others are being asked' : `asking again ${inSeconds(nextAnnounceIn)}`}`;
    default:
      return undefined; // not asked yet: another tracker is, or will be
  }
}

function retrying(nextAnnounceIn: number | undefined, othersAsking: boolean): string {
  if (nextAnnounceIn === undefined && othersAsking) return 'trying the other trackers first';
  return `retrying ${inSeconds(nextAnnounceIn)}`;
}

/** A failed dial, as the CLI keeps it (see Watch in run-torrent.ts). */
export interface PeerFailure {
  reason: string;
  count: number;
  /** Date.now() of the last failure. */
  at: number;
}

/** What the notes need besides the stats. */
export interface NoteContext {
  kind: 'torrent' | 'magnet';
  /** --no-trackers. */
  trackersOff: boolean;
  /** The torrent or link lists trackers. */
  hasTrackers: boolean;
  /** The DHT's nodes when it is on (and the torrent is not private); undefined when off. */
  dhtNodes?: number | undefined;
  /** Peers the user named (--peer, a magnet's x.pe), as `ip:port`. */
  namedPeers: readonly string[];
  /** Failed dials by address, oldest first, of peers not connected now. */
  failures: ReadonlyMap<string, PeerFailure>;
  /**
   * Seconds until `ip:port` is dialled again (0: as soon as a slot is free), from the torrent's or
   * the magnet's peer list (see peerRetryIn); undefined: being dialled, not known, or given up.
   */
  retryIn?: (address: string) => number | undefined;
  /** Date.now(). */
  now: number;
}

/** NoteContext.retryIn from a peer list (a torrent's, or a magnet's while it fetches the metadata). */
export function peerRetryIn(list: Pick<PeerListView, 'retryIn'>): (address: string) => number | undefined {
  return (address) => {
    const colon = address.lastIndexOf(':');
    const ms = list.retryIn(address.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), Number(address.slice(colon + 1)));
    return ms === undefined ? undefined : ms / 1000;
  };
}

const MAX_TRACKER_NOTES = 3;
const MAX_FAILURE_NOTES = 3;

/**
 * The notes under the status line. With no peer connected: every tracker's state and when it is
 * asked again, the peers that could not be connected and why, and what the user can do. With
 * peers: only trackers that fail.
 */
export function notes(s: Pick<TorrentStats, 'peers' | 'trackers' | 'nextAnnounceIn'> & { state?: string }, ctx: NoteContext): string[] {
  const lonely = s.peers === 0;
  const out: string[] = [];
  const shown = s.trackers.filter((t) => (lonely ? t.state !== 'not-tried' : t.state === 'failed'));
  const asking = s.trackers.filter((t) => t.state === 'announcing');
  for (const t of shown.slice(0, MAX_TRACKER_NOTES)) {
    const note = trackerNote(t, s.nextAnnounceIn, asking.some((a) => a !== t));
    if (note) out.push(note);
  }
  if (shown.length > MAX_TRACKER_NOTES) out.push(`…and ${plural(shown.length - MAX_TRACKER_NOTES, 'more tracker')}`);
  if (!lonely) return out;

  const failures = [...ctx.failures].reverse();
  for (const [address, f] of failures.slice(0, MAX_FAILURE_NOTES)) {
    const wait = ctx.retryIn?.(address);
    const retry = wait !== undefined ? `, next ${inSeconds(wait)}` : '';
    out.push(`peer ${address} ${f.reason} (${plural(f.count, 'try', 'tries')}${retry})`);
  }
  if (failures.length > MAX_FAILURE_NOTES) out.push(`…and ${plural(failures.length - MAX_FAILURE_NOTES, 'more peer')} that could not be connected`);

  const hint = whatToDo(s, ctx);
  if (hint) out.push(hint);
  return out;
}

/** The user's way out, when the client has nothing (left) to try. */
function whatToDo(s: Pick<TorrentStats, 'trackers'> & { state?: string }, ctx: NoteContext): string | undefined {
  if (s.state === 'seeding') return undefined; // waiting for peers to come is what seeding is
  const noPeers = ctx.namedPeers.length === 0;
  if (ctx.trackersOff) return noPeers ? 'nothing to connect to: --no-trackers is on and no --peer was given; add --peer host:port' : undefined;
  if (!ctx.hasTrackers && noPeers) {
    if (ctx.dhtNodes !== undefined) {
      return ctx.dhtNodes > 0 ? undefined : 'no DHT node has answered yet: check the network, or name one with --dht-bootstrap host:port; --peer host:port adds a peer directly';
    }
    return ctx.kind === 'magnet'
      ? 'this magnet link names no trackers (tr=) and no peers (x.pe), and the DHT is off (--no-dht): add --peer host:port, or use a link with trackers'
      : 'this torrent lists no trackers, and the DHT is off (--no-dht or private): add --peer host:port';
  }
  if (s.trackers.length > 0 && s.trackers.every((t) => t.state === 'failed') && noPeers) {
    return 'no tracker answers: check the tracker address and your network; --peer host:port adds a peer directly';
  }
  return undefined;
}

/** What a run did, for the end-of-run summary. */
export interface RunFacts {
  kind: 'download' | 'seed';
  seconds: number;
  /** Bytes this run (not the lifetime totals of the resume record). */
  downloaded: number;
  uploaded: number;
  transfers: readonly PeerTransfer[];
}

const MAX_PEER_LINES = 5;

/** How people name where a peer's address came from. */
const SOURCE_WORDS: Record<string, string> = {
  tracker: 'trackers',
  incoming: 'incoming connections',
  user: '--peer',
  magnet: 'the magnet link',
  resume: 'the resume cache',
  dht: 'the DHT',
  pex: 'peer exchange',
  lsd: 'local discovery',
};

/** `trackers 12 MiB (80 %), local discovery 3 MiB (20 %)`: bytes by peer source, most first; undefined when none moved. */
function sourceTotals(peers: readonly PeerTransfer[], key: 'downloaded' | 'uploaded'): string | undefined {
  const totals = new Map<string, number>();
  for (const p of peers) {
    if (p[key] === 0) continue;
    const name = p.source === undefined ? 'unknown sources' : (SOURCE_WORDS[p.source] ?? p.source);
    totals.set(name, (totals.get(name) ?? 0) + p[key]);
  }
  const all = [...totals.values()].reduce((a, b) => a + b, 0);
  if (all === 0) return undefined;
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .map(([name, bytes]) => `${name} ${formatBytes(bytes)} (${formatPercent(bytes / all)})`)
    .join(', ');
}

/** The end-of-run summary (as aria2c's Download Results): time, average rate, bytes per peer and per peer source. */
export function summary(f: RunFacts): string[] {
  const time = formatDuration(f.seconds);
  const avg = (bytes: number): string => formatRate(bytes / Math.max(f.seconds, 0.001));
  const peers = f.transfers.filter((t) => t.downloaded > 0 || t.uploaded > 0);
  const who = peers.length > 0 ? `, ${f.kind === 'download' ? 'from' : 'with'} ${plural(peers.length, 'peer')}:` : '';
  const head =
    f.kind === 'download'
      ? `summary: ${formatBytes(f.downloaded)} downloaded in ${time} (${avg(f.downloaded)} on average), ${formatBytes(f.uploaded)} uploaded${who}`
      : `summary: seeded for ${time}, ${formatBytes(f.uploaded)} uploaded (${avg(f.uploaded)} on average)${who}`;
  const lines = [head];
  const listed = peers.slice(0, MAX_PEER_LINES).map((t) => ({ ...t, client: t.client || 'unknown client' }));
  const width = (key: 'address' | 'client'): number => Math.max(0, ...listed.map((t) => t[key].length));
  for (const t of listed) {
    const share = f.downloaded > 0 && t.downloaded > 0 ? ` (${formatPercent(t.downloaded / f.downloaded)})` : '';
    lines.push(`  ${t.address.padEnd(width('address'))}  ${t.client.padEnd(width('client'))}  down ${formatBytes(t.downloaded)}${share}  up ${formatBytes(t.uploaded)}`);
  }
  const rest = peers.slice(MAX_PEER_LINES);
  if (rest.length > 0) {
    const down = rest.reduce((n, t) => n + t.downloaded, 0);
    const up = rest.reduce((n, t) => n + t.uploaded, 0);
    lines.push(`  …and ${plural(rest.length, 'more peer')}: down ${formatBytes(down)}, up ${formatBytes(up)}`);
  }
  const bySource = sourceTotals(peers, f.kind === 'download' ? 'downloaded' : 'uploaded');
  if (bySource) lines.push(`  ${f.kind === 'download' ? 'downloaded' : 'uploaded'} by peer source: ${bySource}`);
  return lines;
}
