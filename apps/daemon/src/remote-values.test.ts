// The values transmission-remote shows must be right, not placeholders: trackerStats after real
// announces and scrapes (opentracker, HTTP and UDP), -pi flags by libtransmission's rules, the
// status and progress during a verify, and rateDownload after a limit cut.
import { join } from 'node:path';
import { freePort, makePayload, makeTempDir, makeTorrent, poll, removeTempDir, startOpentracker, type Payload, type RunningOpentracker } from '@mainline/interop';
import { Session } from '@mainline/session';
import { mergeConfig, type DaemonConfig } from './config.js';
import { torrentFields } from './fields.js';
import { startDaemon, type RunningDaemon } from './program.js';
import { remote, rpcClient } from './test-helpers.js';

let dir: string;
let tracker: RunningOpentracker;
let payload: Payload;
let big: Payload;
const daemons: RunningDaemon[] = [];
const sessions: Session[] = [];

beforeAll(async () => {
  dir = makeTempDir('daemon-values');
  payload = await makePayload(join(dir, 'seed'), { name: 'values.bin', size: 2 * 1024 * 1024 });
  big = await makePayload(join(dir, 'seed'), { name: 'big.bin', size: 24 * 1024 * 1024 });
});
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  await Promise.all(sessions.map((s) => s.close()));
  await tracker?.stop();
  removeTempDir(dir);
});

let n = 0;
async function daemon(config: Partial<DaemonConfig> = {}): Promise<{ rpc: ReturnType<typeof rpcClient>; running: RunningDaemon; peerPort: number }> {
  const peerPort = await freePort();
  const base = join(dir, `d${n++}`);
  const running = await startDaemon(mergeConfig({ downloadDir: join(base, 'dl'), stateDir: join(base, 'state'), portRange: [peerPort, peerPort], bind: '127.0.0.3', rpcPort: 0, ...config }), { log: () => undefined });
  daemons.push(running);
  return { rpc: rpcClient(running.server.port), running, peerPort };
}
async function seeder(bind: string, bytes: Uint8Array, savePath: string, options: { noTrackers?: boolean } = {}): Promise<Session> {
  const s = new Session({ bind, portRange: [await freePort(), 65535] });
  sessions.push(s);
  await s.listen();
  await s.add(bytes, { savePath, ...options });
  return s;
}
type Row = Record<string, unknown>;
const one = async (rpc: ReturnType<typeof rpcClient>, id: number, fields: string[]): Promise<Row> => ((await rpc('torrent-get', { ids: [id], fields })).arguments.torrents as Row[])[0]!;

test('trackerStats and -it after real announces and scrapes (HTTP and UDP tiers); -pi flags by Transmission rules', async () => {
  const probe = makeTorrent(payload.path, { pieceLength: 32 * 1024, outPath: join(dir, 'probe.torrent') });
  tracker = await startOpentracker({ infoHashes: [probe.infoHash] });
  const t = makeTorrent(payload.path, { pieceLength: 32 * 1024, trackers: [tracker.announceUrl, tracker.udpUrl], outPath: join(dir, 'tracked.torrent') });
  await seeder('127.0.0.1', t.bytes, payload.saveDir);
  // Slow, so that we are a leecher while we look: 1 seeder and 1 leecher.
  const { rpc, running } = await daemon({ speedLimitDown: 16, speedLimitDownEnabled: true });
  const id = ((await rpc('torrent-add', { metainfo: Buffer.from(t.bytes).toString('base64') })).arguments['torrent-added'] as { id: number }).id;
  const started = running.daemon.nowSeconds();
  type Stat = Record<string, number | boolean | string>;
  const stats = async (): Promise<Stat[]> => (await one(rpc, id, ['trackerStats'])).trackerStats as Stat[];
  const [http, udp] = await poll(
    async () => {
      const s = await stats();
      return s.every((x) => x.hasScraped === true) && s[0]!.hasAnnounced === true ? s : undefined;
    },
    30_000,
    () => 'an announce and the scrapes',
  );
  const now = running.daemon.nowSeconds();
  expect(http).toMatchObject({ announce: tracker.announceUrl, tier: 0, isBackup: false, hasAnnounced: true, lastAnnounceSucceeded: true, lastAnnounceResult: 'Success', announceState: 1 });
  expect(http!.lastAnnouncePeerCount).toBeGreaterThanOrEqual(1);
  expect(http!.lastAnnounceTime).toBeGreaterThanOrEqual(started);
  expect(http!.lastAnnounceTime).toBeLessThanOrEqual(now);
  expect(http!.lastAnnounceStartTime).toBeLessThanOrEqual(http!.lastAnnounceTime as number);
  expect(http!.nextAnnounceTime).toBeGreaterThan(now);
  for (const s of [http!, udp!]) {
    expect(s).toMatchObject({ hasScraped: true, lastScrapeSucceeded: true, seederCount: 1, leecherCount: 1, scrapeState: 1 });
    expect(s.downloadCount).toBeGreaterThanOrEqual(0);
    expect(s.lastScrapeTime).toBeGreaterThanOrEqual(started);
    expect(s.nextScrapeTime).toBeGreaterThan(now + 25 * 60);
  }
  expect(udp).toMatchObject({ announce: tracker.udpUrl, tier: 1 });

  // transmission-remote -it prints them.
  const it = await remote(running.server.port, '-t', String(id), '-it');
  expect(it).toMatch(/Got a list of \d+ peers (\d+ seconds? \(\d+ seconds?\)|now) ago/);
  expect(it).toMatch(/Asking for more peers in \d+ (minutes?|seconds?)/);
  expect(it).toMatch(/Tracker had 1 seeders and 1 leechers/);
  expect(it).not.toMatch(/days ago/);

  // -pi: the seeder unchoked us and we want its pieces: D; it wants nothing of ours.
  const peers = (await one(rpc, id, ['peers'])).peers as Row[];
  expect(peers).toHaveLength(1);
  for (const p of peers) {
    let expected = '';
    if (p.clientIsInterested && !p.clientIsChoked) expected += 'D';
    else if (p.clientIsInterested) expected += 'd';
    if (p.peerIsInterested && !p.peerIsChoked) expected += 'U';
    else if (p.peerIsInterested) expected += 'u';
    if (!p.clientIsChoked && !p.clientIsInterested) expected += 'K';
    if (!p.peerIsChoked && !p.peerIsInterested) expected += '?';
    if (p.isIncoming) expected += 'I';
    expect(p.flagStr).toBe(expected);
  }
  expect(peers[0]).toMatchObject({ clientIsInterested: true, clientIsChoked: false, isDownloadingFrom: true, peerIsInterested: false });
  expect(String(peers[0]!.flagStr)).toMatch(/^D/);
  const pi = await remote(running.server.port, '-t', String(id), '-pi');
  expect(pi).toMatch(new RegExp(`127\\.0\\.0\\.1\\s+${String(peers[0]!.flagStr).replace('?', '\\?')}\\s`));
}, 60_000);

test('verify: status 1 then 2 with recheckProgress and the verified bytes against the full size', async () => {
  const t = makeTorrent(big.path, { pieceLength: 256 * 1024, outPath: join(dir, 'big.torrent') });
  const { rpc, running } = await daemon();
  const id = ((await rpc('torrent-add', { metainfo: Buffer.from(t.bytes).toString('base64'), 'download-dir': big.saveDir })).arguments['torrent-added'] as { id: number }).id;
  await poll(async () => ((await one(rpc, id, ['status'])).status === 6 ? true : undefined), 30_000, () => 'seeding');
  const entry = running.daemon.byId(id)!;
  if (entry.kind !== 'torrent') throw new Error('not a torrent');
  expect((await rpc('torrent-verify', { ids: [id] })).result).toBe('success');
  const fields = ['status', 'recheckProgress', 'sizeWhenDone', 'leftUntilDone', 'percentDone', 'haveValid'];
  // Asked for, not hashing yet: "Will Verify".
  const first = await one(rpc, id, fields);
  expect([1, 2]).toContain(first.status);
  // While hashing (read in the same turn the state says checking): status 2, the full size.
  const during = await poll(
    () => (entry.torrent.state === 'checking' ? torrentFields(entry, fields, running.daemon.nowSeconds()) : undefined),
    30_000,
    () => 'the check to run',
    1,
  );
  expect(during.status).toBe(2);
  expect(during.sizeWhenDone).toBe(big.files[0]!.size);
  expect(during.recheckProgress).toBeGreaterThanOrEqual(0);
  expect(during.recheckProgress).toBeLessThanOrEqual(1);
  expect((during.leftUntilDone as number) + (during.haveValid as number)).toBe(big.files[0]!.size);
  await poll(async () => ((await one(rpc, id, ['status'])).status === 6 ? true : undefined), 30_000, () => 'seeding again');
  const listing = await remote(running.server.port, '-l');
  expect(listing).toMatch(/100%\s+25\.\d+ MB\s+Done/);
}, 60_000);

test('rateDownload follows a limit cut within seconds', async () => {
  const t = makeTorrent(big.path, { pieceLength: 256 * 1024, outPath: join(dir, 'big2.torrent') });
  await seeder('127.0.0.5', t.bytes, big.saveDir, { noTrackers: true });
  const { rpc, running } = await daemon();
  const id = ((await rpc('torrent-add', { metainfo: Buffer.from(t.bytes).toString('base64'), paused: true })).arguments['torrent-added'] as { id: number }).id;
  expect((await rpc('torrent-set', { ids: [id], downloadLimit: 2000, downloadLimited: true })).result).toBe('success');
  expect((await rpc('torrent-start', { ids: [id] })).result).toBe('success');
  await poll(() => (running.daemon.byId(id)?.kind === 'torrent' && (running.daemon.byId(id) as { torrent: { state: string } }).torrent.state === 'downloading' ? true : undefined), 15_000, () => 'downloading');
  const e = running.daemon.byId(id)!;
  if (e.kind === 'torrent') e.torrent.addPeers([{ ip: '127.0.0.5', port: sessions[sessions.length - 1]!.port }]);
  const rate = async (): Promise<number> => (await one(rpc, id, ['rateDownload'])).rateDownload as number;
  await poll(async () => ((await rate()) > 800_000 ? true : undefined), 20_000, () => 'the download to run near 2000 kB/s');
  expect((await rpc('torrent-set', { ids: [id], downloadLimit: 50 })).result).toBe('success');
  const cut = Date.now();
  await poll(async () => ((await rate()) < 150_000 ? true : undefined), 10_000, () => 'rateDownload to follow the cut');
  const seconds = (Date.now() - cut) / 1000;
  console.log(`rateDownload followed a cut from 2000 to 50 kB/s in ${seconds.toFixed(1)} s`);
  expect(seconds).toBeLessThan(10);
}, 60_000);

test('error 2 only when a tracker refuses (failure reason); an unreachable one shows in trackerStats only', async () => {
  const other = await makePayload(join(dir, 'seed'), { name: 'refused.bin', size: 100_000 });
  const another = await makePayload(join(dir, 'seed'), { name: 'unreachable.bin', size: 100_001 });
  // Not on opentracker's whitelist: it answers with a failure reason. Port 1: nothing listens.
  tracker ??= await startOpentracker({ infoHashes: [] });
  const refused = makeTorrent(other.path, { pieceLength: 32 * 1024, trackers: [tracker.announceUrl], outPath: join(dir, 'refused.torrent') });
  const unreachable = makeTorrent(another.path, { pieceLength: 32 * 1024, trackers: ['http://127.0.0.1:1/announce'], outPath: join(dir, 'unreachable.torrent') });
  const { rpc } = await daemon();
  const ids: number[] = [];
  for (const m of [refused, unreachable]) ids.push(((await rpc('torrent-add', { metainfo: Buffer.from(m.bytes).toString('base64'), 'download-dir': other.saveDir })).arguments['torrent-added'] as { id: number }).id);
  const fields = ['error', 'errorString', 'trackerStats'];
  const [r, u] = await poll(
    async () => {
      const rows = (await rpc('torrent-get', { ids, fields })).arguments.torrents as Row[];
      return rows.every((row) => (row.trackerStats as Row[])[0]!.hasAnnounced === true) ? rows : undefined;
    },
    20_000,
    () => 'both announces to fail',
  );
  expect(r).toMatchObject({ error: 2, errorString: expect.stringMatching(/not authorized/) });
  expect(u).toMatchObject({ error: 0, errorString: '' });
  expect((u!.trackerStats as Row[])[0]).toMatchObject({ lastAnnounceSucceeded: false, lastAnnounceResult: expect.stringMatching(/ECONNREFUSED/) });
});
