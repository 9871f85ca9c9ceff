import { ManualClock } from '@mainline/rate';
import { PeerList, type PeerTransfer, type TrackerInfo } from '@mainline/session';
import { notes, peerRetryIn, statusLine, summary, trackerNote, type NoteContext, type PeerFailure } from './status.js';

const tracker = (over: Partial<TrackerInfo>): TrackerInfo => ({
  url: 'http://127.0.0.1:1/announce',
  tier: 0,
  state: 'not-tried',
  peers: undefined,
  lastAnnounceAgo: undefined,
  error: undefined,
  errorCode: undefined,
  failures: 0,
  attempt: undefined,
  lastAnnounceStartAgo: undefined,
  seeders: undefined,
  leechers: undefined,
  scrape: undefined,
  ...over,
});

const context = (over: Partial<NoteContext> = {}): NoteContext => ({
  kind: 'torrent',
  trackersOff: false,
  hasTrackers: true,
  namedPeers: [],
  failures: new Map<string, PeerFailure>(),
  now: 100_000,
  ...over,
});

describe('the notes under the status line: what is tried, what failed, when again, what to do', () => {
  test('a refused HTTP tracker: the error in words and the retry countdown', () => {
    const t = tracker({ state: 'failed', error: 'connect ECONNREFUSED 127.0.0.1:1', failures: 2 });
    expect(notes({ peers: 0, trackers: [t], nextAnnounceIn: 56.2 }, context())).toEqual([
      'tracker http://127.0.0.1:1/announce: connection refused: nothing listens at 127.0.0.1:1 (ECONNREFUSED) (2 failures in a row); retrying in 57s',
      'no tracker answers: check the tracker address and your network; --peer host:port adds a peer directly',
    ]);
  });

  test('a failed tracker while the next one is asked: the retry waits for that', () => {
    const failed = tracker({ state: 'failed', error: 'connect ECONNREFUSED 127.0.0.1:1', failures: 1 });
    const asking = tracker({ url: 'udp://127.0.0.1:7969/announce', tier: 1, state: 'announcing', attempt: { number: 1, max: 3, waitLeft: 14 } });
    expect(notes({ peers: 0, trackers: [failed, asking], nextAnnounceIn: undefined }, context())).toEqual([
      'tracker http://127.0.0.1:1/announce: connection refused: nothing listens at 127.0.0.1:1 (ECONNREFUSED); trying the other trackers first',
      'tracker udp://127.0.0.1:7969/announce: no answer yet (try 1 of 3), asking again in 14s',
    ]);
  });

  test('a silent UDP tracker: which try, and when it asks again', () => {
    const t = tracker({ url: 'udp://127.0.0.1:1/announce', state: 'announcing', attempt: { number: 2, max: 3, waitLeft: 24.3 } });
    expect(trackerNote(t, undefined)).toBe('tracker udp://127.0.0.1:1/announce: no answer yet (try 2 of 3), asking again in 25s');
    expect(trackerNote({ ...t, attempt: { number: 3, max: 3, waitLeft: 50 } }, undefined)).toBe('tracker udp://127.0.0.1:1/announce: no answer yet (try 3 of 3), gives up in 50s');
    expect(trackerNote({ ...t, url: 'http://x/a', attempt: { number: 1, max: 1, waitLeft: 59 } }, undefined)).toBe('tracker http://x/a: waiting for an answer (gives up in 59s)');
    expect(trackerNote(tracker({ state: 'working', peers: 0 }), 299)).toBe('tracker http://127.0.0.1:1/announce: 0 peers in its last answer; asking again in 4m59s');
  });

  test('failed dials of named peers, newest first, with the next try', () => {
    const failures = new Map<string, PeerFailure>([
      ['127.0.0.1:1', { reason: 'refused the connection (nothing listens on that port)', count: 3, at: 95_000 }],
      ['127.0.0.1:52100', { reason: 'closed the connection after the handshake: it may require encryption', count: 1, at: 99_000 }],
    ]);
    const waits = new Map([['127.0.0.1:1', 59.2], ['127.0.0.1:52100', 14]]);
    const ctx = context({ trackersOff: true, namedPeers: ['127.0.0.1:1', '127.0.0.1:52100'], failures, retryIn: (a) => waits.get(a) });
    expect(notes({ peers: 0, trackers: [], nextAnnounceIn: undefined }, ctx)).toEqual([
      'peer 127.0.0.1:52100 closed the connection after the handshake: it may require encryption (1 try, next in 14s)',
      'peer 127.0.0.1:1 refused the connection (nothing listens on that port) (3 tries, next in 1m00s)',
    ]);
    // Being dialled, or given up on: no promise of a next try.
    expect(notes({ peers: 0, trackers: [], nextAnnounceIn: undefined }, context({ ...ctx, retryIn: () => undefined }))[1]).toBe(
      'peer 127.0.0.1:1 refused the connection (nothing listens on that port) (3 tries)',
    );
  });

  test('a magnet\'s failed peers: when each is dialled next, from its peer list (ManualClock)', () => {
    const clock = new ManualClock(1_000_000);
    const list = new PeerList({ clock });
    const dialed: string[] = [];
    list.attach({ outgoingSlots: 10, finished: false, connect: (h, p) => dialed.push(`${h}:${p}`) > 0 });
    list.add([{ ip: '127.0.0.1', port: 6881 }], 'magnet');
    list.add([{ ip: '::1', port: 6882 }], 'user');
    list.connectFailed('127.0.0.1', 6881);
    list.connectFailed('::1', 6882);
    clock.advance(4_000);
    const failures = new Map<string, PeerFailure>([
      ['127.0.0.1:6881', { reason: 'refused the connection (nothing listens on that port)', count: 1, at: 1 }],
      ['[::1]:6882', { reason: 'did not answer (connect timed out)', count: 1, at: 2 }],
    ]);
    const ctx = context({ kind: 'magnet', namedPeers: ['[::1]:6882'], failures, retryIn: peerRetryIn(list) });
    expect(dialed).toEqual(['127.0.0.1:6881', '::1:6882']);
    expect(notes({ peers: 0, trackers: [], nextAnnounceIn: undefined }, ctx)).toEqual([
      'peer [::1]:6882 did not answer (connect timed out) (1 try, next in 11s)',
      'peer 127.0.0.1:6881 refused the connection (nothing listens on that port) (1 try, next in 11s)',
    ]);
    clock.advance(11_000); // both dialled again: no promise while the dial is under way
    expect(dialed).toHaveLength(4);
    expect(notes({ peers: 0, trackers: [], nextAnnounceIn: undefined }, ctx)[1]).toBe('peer 127.0.0.1:6881 refused the connection (nothing listens on that port) (1 try)');
  });

  test('nothing to try: say what the user can do', () => {
    const none = { peers: 0, trackers: [], nextAnnounceIn: undefined };
    expect(notes(none, context({ trackersOff: true }))).toEqual(['nothing to connect to: --no-trackers is on and no --peer was given; add --peer host:port']);
    expect(notes(none, context({ kind: 'magnet', hasTrackers: false }))).toEqual([
      'this magnet link names no trackers (tr=) and no peers (x.pe), and the DHT is off (--no-dht): add --peer host:port, or use a link with trackers',
    ]);
    expect(notes(none, context({ hasTrackers: false }))).toEqual(['this torrent lists no trackers, and the DHT is off (--no-dht or private): add --peer host:port']);
    // With the DHT on, nothing to do while it has nodes; a hint while none has answered.
    expect(notes(none, context({ kind: 'magnet', hasTrackers: false, dhtNodes: 12 }))).toEqual([]);
    expect(notes(none, context({ kind: 'magnet', hasTrackers: false, dhtNodes: 0 }))).toEqual([
      'no DHT node has answered yet: check the network, or name one with --dht-bootstrap host:port; --peer host:port adds a peer directly',
    ]);
  });

  test('with peers connected only a failing tracker is worth a line', () => {
    const ok = tracker({ state: 'working', peers: 5 });
    const bad = tracker({ url: 'udp://b/a', state: 'failed', error: 'no reply after 3 tries (105000 ms)', failures: 1 });
    expect(notes({ peers: 3, trackers: [ok, bad], nextAnnounceIn: 30 }, context())).toEqual(['tracker udp://b/a: no reply after 3 tries (105000 ms); retrying in 30s']);
    expect(notes({ peers: 3, trackers: [ok], nextAnnounceIn: 30 }, context())).toEqual([]);
  });
});

test('the status line shows the recent rates and ETA, and "1 seed"', () => {
  const stats = {
    state: 'downloading',
    checkProgress: 1,
    peers: 1,
    seeds: 1,
    wantedLength: 10 * 1024 * 1024,
    wantedLeft: 5 * 1024 * 1024,
    totalLength: 10 * 1024 * 1024,
    downloadRate: 300 * 1024,
    uploadRate: 0,
    recentDownloadRate: 2.9 * 1024 * 1024,
    recentUploadRate: 0,
    eta: 74,
    recentEta: 2,
  } as Parameters<typeof statusLine>[0];
  expect(statusLine(stats)).toBe('5.00MiB/10.0MiB DL 2.90MiB/s UL 0B/s ETA 2s peers 1 (1 seed)');
  // With the DHT on: its table size at the end.
  expect(statusLine(stats, 143)).toBe('5.00MiB/10.0MiB DL 2.90MiB/s UL 0B/s ETA 2s peers 1 (1 seed) DHT 143 nodes');
});

test('the end-of-run summary: time, average rate, bytes per peer and per peer source', () => {
  const peer = (address: string, downloaded: number, client = 'libtorrent (Rasterbar) 2.0.8.0', source: string | null = 'tracker'): PeerTransfer => ({ address, client, downloaded, uploaded: 0, connected: false, source: source ?? undefined });
  const MiB = 1024 * 1024;
  const transfers = [
    peer('10.0.0.1:6881', 40 * MiB),
    peer('10.0.0.22:51413', 17 * MiB, 'Transmission 4.0.5.0', 'lsd'),
    ...Array.from({ length: 5 }, (_, i) => peer(`10.0.1.${i}:1`, 1024, '', i === 0 ? 'incoming' : null)),
  ];
  expect(summary({ kind: 'download', seconds: 21, downloaded: 57 * MiB + 5 * 1024, uploaded: 0, transfers })).toEqual([
    'summary: 57.0MiB downloaded in 21s (2.71MiB/s on average), 0B uploaded, from 7 peers:',
    '  10.0.0.1:6881    libtorrent (Rasterbar) 2.0.8.0  down 40.0MiB (70.1%)  up 0B',
    '  10.0.0.22:51413  Transmission 4.0.5.0            down 17.0MiB (29.8%)  up 0B',
    '  10.0.1.0:1       unknown client                  down 1.00KiB (0.0%)  up 0B',
    '  10.0.1.1:1       unknown client                  down 1.00KiB (0.0%)  up 0B',
    '  10.0.1.2:1       unknown client                  down 1.00KiB (0.0%)  up 0B',
    '  …and 2 more peers: down 2.00KiB, up 0B',
    '  downloaded by peer source: trackers 40.0MiB (70.1%), local discovery 17.0MiB (29.8%), unknown sources 4.00KiB (0.0%), incoming connections 1.00KiB (0.0%)',
  ]);
  expect(summary({ kind: 'seed', seconds: 300, downloaded: 0, uploaded: 30 * MiB, transfers: [] })).toEqual(['summary: seeded for 5m00s, 30.0MiB uploaded (102KiB/s on average)']);
});
