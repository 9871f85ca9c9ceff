import { decode, isDict, toText } from '@mainline/bencode';
import { ManualClock } from '@mainline/rate';
import { HttpTracker, percentEncodeBytes, type AnnounceRequest } from '@mainline/rerequester';
import { startLocalTracker, type LocalTracker } from './local-tracker.js';

// The demo's tracker, driven by our real HTTP tracker client over loopback.
const infoHash = Uint8Array.from({ length: 20 }, (_, i) => i + 0x80); // not UTF-8: raw bytes must survive
const peerId = (n: number) => Uint8Array.from({ length: 20 }, (_, i) => (i === 19 ? n : 0xf0));
const request = (n: number, extra: Partial<AnnounceRequest> = {}): AnnounceRequest => ({
  infoHash, peerId: peerId(n), port: 6000 + n, uploaded: 0, downloaded: 0, left: 100, key: n, ...extra,
});

let tracker: LocalTracker;
afterEach(async () => tracker?.close());

async function raw(path: string): Promise<{ status: number; failure: string | undefined }> {
  const url = new URL(tracker.announceUrl);
  const res = await fetch(`http://${url.host}${path}`);
  const body = decode(new Uint8Array(await res.arrayBuffer()));
  const failure = isDict(body) ? body.get('failure reason') : undefined;
  return { status: res.status, failure: failure instanceof Uint8Array ? toText(failure) : undefined };
}

test('peers of one torrent are told about each other as compact IPv4 peers; stopped leaves the swarm', async () => {
  tracker = await startLocalTracker();
  const client = new HttpTracker(tracker.announceUrl);
  const started = tracker.nextStart();
  const first = await client.announce(request(1, { event: 'started', left: 0 }));
  await started;
  expect(first.peers).toEqual([]);
  expect(first.interval).toBe(60);

  const second = await client.announce(request(2, { event: 'started' }));
  expect(second.peers).toEqual([{ ip: '127.0.0.1', port: 6001 }]);
  expect(second.complete).toBe(1);
  expect(second.incomplete).toBe(1);
  expect(tracker.peerCount(Buffer.from(infoHash).toString('hex'))).toBe(2);

  await client.announce(request(1, { event: 'stopped' }));
  const third = await client.announce(request(2));
  expect(third.peers).toEqual([]);
  expect(tracker.peerCount(Buffer.from(infoHash).toString('hex'))).toBe(1);
});

test('numwant caps the list, and compact=0 gets dictionary peers with their ids', async () => {
  tracker = await startLocalTracker();
  const client = new HttpTracker(tracker.announceUrl);
  for (let n = 1; n <= 5; n++) await client.announce(request(n, { event: 'started' }));
  const few = await client.announce(request(9, { numwant: 2 }));
  expect(few.peers).toHaveLength(2);

  const q = `info_hash=${percentEncodeBytes(infoHash)}&peer_id=${'x'.repeat(20)}&port=7000&left=0&compact=0`;
  const res = await fetch(`${tracker.announceUrl}?${q}`);
  const body = decode(new Uint8Array(await res.arrayBuffer()));
  const peers = isDict(body) ? body.get('peers') : undefined;
  if (!Array.isArray(peers)) throw new Error('no peer list');
  const listed = peers.map((p) => (isDict(p) ? [p.get('peer id'), toText(p.get('ip') as Uint8Array), p.get('port')] : p));
  expect(listed).toHaveLength(6); // five announced above and the numwant=2 one
  expect(listed[0]).toEqual([Buffer.from(peerId(1)), '127.0.0.1', 6001]);
});

test('malformed announces get a failure reason, never a crash, and leave no entry behind', async () => {
  tracker = await startLocalTracker();
  const h = '%aa'.repeat(20);
  const id = 'p'.repeat(20);
  expect(await raw(`/announce?info_hash=${'%aa'.repeat(19)}&peer_id=${id}&port=1`)).toEqual({ status: 200, failure: 'info_hash must be 20 bytes' });
  expect(await raw(`/announce?info_hash=${h}&peer_id=short&port=1`)).toEqual({ status: 200, failure: 'peer_id must be 20 bytes' });
  expect(await raw(`/announce?info_hash=${h}&peer_id=${id}&port=70000`)).toEqual({ status: 200, failure: 'invalid port' });
  expect(await raw(`/announce?info_hash=${h}&peer_id=${id}`)).toEqual({ status: 200, failure: 'port is missing' });
  expect(await raw(`/announce?info_hash=${h}&peer_id=${id}&port=1&event=exploded`)).toEqual({ status: 200, failure: 'invalid event' });
  expect(await raw(`/announce?info_hash=%zz${h}&peer_id=${id}&port=1`)).toEqual({ status: 200, failure: 'malformed percent-encoding' });
  expect(await raw(`/announce?info_hash=${h}&peer_id=${id}&port=1&left=-5`)).toEqual({ status: 200, failure: 'invalid left' });
  expect(await raw(`/scrape?info_hash=${h}`)).toEqual({ status: 404, failure: 'this tracker serves /announce only' });
  expect(await raw(`/announce?pad=${'a'.repeat(5000)}`)).toEqual({ status: 200, failure: 'request too long' });
  expect(tracker.peerCount('aa'.repeat(20))).toBe(0);
  // Still serving.
  expect((await new HttpTracker(tracker.announceUrl).announce(request(1))).peers).toEqual([]);
});

test('the torrent and peer tables are bounded', async () => {
  tracker = await startLocalTracker({ maxTorrents: 2, maxPeersPerTorrent: 3 });
  const client = new HttpTracker(tracker.announceUrl);
  for (let n = 1; n <= 3; n++) await client.announce(request(n));
  await expect(client.announce(request(4))).rejects.toThrow('this torrent has too many peers');
  await client.announce(request(1)); // a listed peer may still re-announce
  const other = (b: number) => request(1, { infoHash: new Uint8Array(20).fill(b) });
  await client.announce(other(1));
  await expect(client.announce(other(2))).rejects.toThrow('this tracker serves no more torrents');
});

test('peers that stop announcing expire after three intervals', async () => {
  const clock = new ManualClock();
  tracker = await startLocalTracker({ clock, intervalSeconds: 10 });
  const client = new HttpTracker(tracker.announceUrl);
  await client.announce(request(1));
  clock.advance(20_000);
  await client.announce(request(2));
  expect((await client.announce(request(3))).peers).toHaveLength(2);
  clock.advance(10_001); // peer 1 last seen 30.001 s ago
  expect((await client.announce(request(3))).peers).toEqual([{ ip: '127.0.0.1', port: 6002 }]);
  expect(tracker.peerCount(Buffer.from(infoHash).toString('hex'))).toBe(2);
});

test('an IPv6 tracker lists IPv6 peers in peers6', async () => {
  tracker = await startLocalTracker({ host: '::1' });
  expect(tracker.announceUrl).toMatch(/^http:\/\/\[::1\]:\d+\/announce$/);
  const client = new HttpTracker(tracker.announceUrl);
  await client.announce(request(1));
  expect((await client.announce(request(2))).peers).toEqual([{ ip: '::1', port: 6001 }]);
});
