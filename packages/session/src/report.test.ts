// What a UI needs to tell the user what is going on: failed dials and why, failed resume writes,
// each tracker's state, display rates, and who gave what.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort as closedPort, makePayload, makeTempDir, makeTorrent, removeTempDir, startHangUpPeer, type HangUpPeer } from '@mainline/interop';
import { formatMagnet } from '@mainline/metainfo';
import { Session, dialFailure, type Torrent, type TorrentWarning } from './index.js';
import { until } from './test-helpers.js';


const sessions: Session[] = [];
const rudePeers: HangUpPeer[] = [];
let dir: string;
beforeAll(() => {
  dir = makeTempDir('ml-report-');
});
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
  await Promise.all(rudePeers.splice(0).map((p) => p.close()));
});
afterAll(() => removeTempDir(dir));

function session(opts: ConstructorParameters<typeof Session>[0] = {}): Session {
  const s = new Session({ portRange: [0, 0], bind: '127.0.0.1', ...opts });
  sessions.push(s);
  return s;
}

let n = 0;
async function payload(size: number, trackers?: string[]) {
  const p = await makePayload(join(dir, `p${n++}`), { name: 'data.bin', size });
  return { payload: p, torrent: makeTorrent(p.path, { pieceLength: 32 * 1024, ...(trackers ? { trackers } : {}) }) };
}

describe('peer-failed: a dial that fails says why, at every redial', () => {
  test('a refused port and a peer that hangs up after our handshake', async () => {
    const refused = await closedPort();
    const rude = await startHangUpPeer();
    rudePeers.push(rude);
    const { torrent } = await payload(100_000);
    const s = session();
    await s.listen();
    const peers = [{ ip: '127.0.0.1', port: refused }, { ip: '127.0.0.1', port: rude.port }];
    const t = await s.add(torrent.bytes, { savePath: join(dir, 'out-fail'), peers, peerRedialMs: 200 });
    const failed: string[] = [];
    t.on('peer-failed', (address, reason) => failed.push(`${address} ${reason}`));
    await until(() => failed.filter((f) => f.startsWith(`127.0.0.1:${rude.port} `)).length >= 3, 'three failed dials of the rude peer');
    expect(failed).toContain(`127.0.0.1:${rude.port} closed the connection after the handshake: it may require encryption`);
    expect(failed).toContain(`127.0.0.1:${refused} refused the connection (nothing listens on that port)`);
    expect(rude.handshakes()).toBeGreaterThanOrEqual(3); // today's redial keeps going
  });

  test('the reasons in words (and none for our own close)', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(dialFailure('connect-failed', refused)).toBe('refused the connection (nothing listens on that port)');
    expect(dialFailure('connect-failed', new Error('getaddrinfo ENOTFOUND nowhere'))).toBe('could not be connected: getaddrinfo ENOTFOUND nowhere');
    expect(dialFailure('connect-timeout', undefined)).toBe('did not answer (connect timed out)');
    expect(dialFailure('timeout', undefined)).toBe('sent no handshake in time');
    expect(dialFailure('protocol-error', new Error('peer answered with info-hash 00'))).toBe('was dropped: peer answered with info-hash 00');
    expect(dialFailure('local', undefined)).toBeUndefined();
    expect(dialFailure('shutdown', undefined)).toBeUndefined();
  });

  test('a magnet link reports its failed dials too', async () => {
    const refused = await closedPort();
    const s = session();
    await s.listen();
    const m = s.addMagnet(formatMagnet({ infoHash: 'ab'.repeat(20) }), { savePath: join(dir, 'out-magnet'), peers: [{ ip: '127.0.0.1', port: refused }] });
    const failed: string[] = [];
    m.on('peer-failed', (address, reason) => failed.push(`${address} ${reason}`));
    await until(() => failed.length > 0, 'a failed metadata dial');
    expect(failed[0]).toBe(`127.0.0.1:${refused} refused the connection (nothing listens on that port)`);
  });
});

describe('what stats() and peerTransfers() tell about a download', () => {
  test('display rates, the ETA, each tracker, and who gave what', async () => {
    const deadTracker = `http://127.0.0.1:${await closedPort()}/announce`;
    const { payload: p, torrent } = await payload(4 * 1024 * 1024, [deadTracker]);
    const seeder = session({ uploadLimit: 2 * 1024 * 1024 });
    const port = await seeder.listen();
    await seeder.add(torrent.bytes, { savePath: p.saveDir, noTrackers: true });
    const leecher = session({ announcer: { retryBaseMs: 30_000 } });
    await leecher.listen();
    const t: Torrent = await leecher.add(torrent.bytes, { savePath: join(dir, 'out-stats'), peers: [{ ip: '127.0.0.1', port }] });
    // The tracker refuses: its error, and when it is tried again.
    await until(() => t.stats().trackers[0]?.state === 'failed', 'the tracker to fail');
    const tr = t.stats();
    expect(tr.trackers).toEqual([
      { url: deadTracker, tier: 0, state: 'failed', peers: undefined, lastAnnounceAgo: undefined, error: expect.stringMatching(/ECONNREFUSED/), errorCode: 'NETWORK', failures: 1, attempt: undefined, lastAnnounceStartAgo: expect.any(Number), seeders: undefined, leechers: undefined, scrape: undefined },
    ]);
    expect(tr.nextAnnounceIn).toBeGreaterThan(25);
    expect(tr.nextAnnounceIn).toBeLessThanOrEqual(30);
    // At 2 MiB/s, the display rate reads it within a second or so of the data flowing.
    await until(() => t.stats().wantedProgress > 0.4, 'the download to be under way');
    const mid = t.stats();
    expect(mid.recentDownloadRate / (2 * 1024 * 1024)).toBeGreaterThan(0.6);
    expect(mid.recentDownloadRate / (2 * 1024 * 1024)).toBeLessThan(1.5);
    expect(mid.recentEta).toBeGreaterThan(0);
    expect(mid.recentEta).toBeLessThan(4);
    await until(() => t.state === 'seeding', 'the download to finish');
    const [from] = t.peerTransfers();
    expect(from).toMatchObject({ address: `127.0.0.1:${port}`, client: 'mainline-ts 0.1.0.0', source: 'user' });
    expect(from!.downloaded).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    expect(t.stats().recentEta).toBeUndefined();
  });
});

describe('resume-save-failed: an unwritable state directory is reported, never fatal', () => {
  /** A seeding session, and a leecher whose state directory would be under a file (`file`). */
  async function unwritable(name: string, stateUnder: (file: string) => string) {
    const { payload: p, torrent } = await payload(300_000);
    const seeder = session();
    const port = await seeder.listen();
    await seeder.add(torrent.bytes, { savePath: p.saveDir });
    const file = join(dir, name);
    writeFileSync(file, 'a file where the state directory should be');
    const leecher = session({ stateDir: stateUnder(file) });
    await leecher.listen();
    return { torrent, port, file, leecher };
  }

  test('the download completes and seeds; each failed write is an event', async () => {
    const { torrent, port, leecher } = await unwritable('not-a-dir', (file) => join(file, 'state'));
    const errors: string[] = [];
    leecher.on('torrent-added', (t) => t.on('resume-save-failed', (e) => errors.push((e as NodeJS.ErrnoException).code ?? e.message)));
    const t = await leecher.add(torrent.bytes, { savePath: join(dir, 'out-resume'), peers: [{ ip: '127.0.0.1', port }] });
    await until(() => t.state === 'seeding' && errors.length > 0, 'seeding, with the failed resume write reported');
    expect(t.state).toBe('seeding');
    expect(errors[0]).toMatch(/^(ENOTDIR|EEXIST)$/);
    await t.pause();
    expect(errors.length).toBeGreaterThanOrEqual(2);
  });

  test('a failed resume write is a warning (torrent, session, stats) until a later write succeeds', async () => {
    const { torrent, port, file, leecher } = await unwritable('not-a-dir-3', (f) => f);
    const fromSession: TorrentWarning[] = [];
    leecher.on('warning', (w) => fromSession.push(w));
    const resumeFile = join(file, 'sub', 'x.resume');
    const t = await leecher.add(torrent.bytes, { savePath: join(dir, 'out-warn'), peers: [{ ip: '127.0.0.1', port }], resumeFile });
    const fromTorrent: TorrentWarning[] = [];
    t.on('warning', (w) => fromTorrent.push(w));
    await until(() => t.state === 'seeding' && fromTorrent.some((w) => w.what === 'resume-save'), 'seeding, with the failed write a warning');
    const w = fromTorrent.find((x) => x.what === 'resume-save')!;
    expect([w.infoHash, w.name]).toEqual([t.infoHash, t.name]);
    expect((w.error as NodeJS.ErrnoException).code).toMatch(/^(ENOTDIR|EEXIST)$/);
    expect(fromSession).toContainEqual(w);
    expect(t.stats().warning).toMatch(/^resume-save: /);
    // The directory is fixed: the next write (on pause) succeeds and the warning is gone.
    rmSync(file);
    mkdirSync(join(file, 'sub'), { recursive: true });
    await t.pause();
    expect(t.stats().warning).toBeUndefined();
  });

  test('a magnet link whose .torrent cannot be saved still downloads', async () => {
    const { payload: p, torrent } = await payload(300_000);
    const seeder = session();
    const port = await seeder.listen();
    await seeder.add(torrent.bytes, { savePath: p.saveDir });
    const file = join(dir, 'not-a-dir-2');
    writeFileSync(file, '');
    const leecher = session();
    await leecher.listen();
    const m = leecher.addMagnet(formatMagnet({ infoHash: torrent.infoHash }), {
      savePath: join(dir, 'out-magnet-save'),
      torrentFile: join(file, 'x.torrent'),
      peers: [{ ip: '127.0.0.1', port }],
    });
    const errors: string[] = [];
    m.on('torrent-save-failed', (e) => errors.push((e as NodeJS.ErrnoException).code ?? e.message));
    const t = await m.torrent;
    await until(() => t.state === 'seeding', 'the download to finish');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^(ENOTDIR|EEXIST)$/);
  });
});
