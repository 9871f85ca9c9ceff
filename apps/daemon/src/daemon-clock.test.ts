import { existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, poll, removeTempDir, type MadeTorrent } from '@mainline/interop';
import { MemoryNetwork } from '@mainline/rawserver';
import { ManualClock } from '@mainline/rate';
import { Accounting } from './accounting.js';
import { mergeConfig } from './config.js';
import { Daemon } from './daemon.js';
import { Registry } from './registry.js';

// The daemon on a ManualClock over an in-memory network: its periodic work hangs on the session's
// one tick, the watch directory polls on the clock, and nothing reads the system time.
let dir: string;
const torrents: MadeTorrent[] = [];
const daemons: Daemon[] = [];

beforeAll(async () => {
  dir = makeTempDir('daemon-clock');
  for (let i = 0; i < 12; i++) {
    const p = await makePayload(join(dir, 'payloads', `p${i}`), { name: `f${i}.bin`, size: 40_000 + i });
    torrents.push(makeTorrent(p.path, { pieceLength: 32 * 1024 }));
  }
});
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.close()));
  removeTempDir(dir);
});

let n = 0;
async function daemon(clock: ManualClock, extra: Record<string, unknown> = {}): Promise<Daemon> {
  const network = new MemoryNetwork({ clock });
  const base = join(dir, `d${n++}`);
  const d = new Daemon({
    config: mergeConfig({ stateDir: join(base, 'state'), downloadDir: join(base, 'dl'), portRange: [6881, 6881], ...extra }),
    clock,
    session: { transports: [network.transport('10.0.0.1')], udp: false },
    log: () => undefined,
  });
  daemons.push(d);
  await d.start();
  return d;
}

test('stopped torrents cost no timers: twelve of them leave the clock as one tick does', async () => {
  const clock = new ManualClock(1_700_000_000_000);
  const d = await daemon(clock);
  const idle = clock.pendingTimers;
  for (const t of torrents) await d.add(t.bytes, { paused: true });
  expect(d.entries).toHaveLength(12);
  expect(clock.pendingTimers).toBe(idle);
  // The daemon's clock drives its dates and counters: a minute on the clock is 60 s active.
  const start = d.nowSeconds();
  for (let i = 0; i < 60; i++) clock.advance(1000);
  expect(d.nowSeconds()).toBe(start + 60);
  expect(d.traffic().current.secondsActive).toBe(60);
  expect(clock.pendingTimers).toBe(idle);
});

test('seedIdleMode 1: seeding stops after its idle minutes on the clock, not before', async () => {
  const clock = new ManualClock(1_700_000_000_000);
  const d = await daemon(clock);
  const t = torrents[1]!;
  const { entry } = await d.add(t.bytes, { downloadDir: join(dir, 'payloads', 'p1') });
  if (entry.kind !== 'torrent') throw new Error('not a torrent');
  await until(() => entry.torrent.state === 'seeding');
  await d.setTorrentOptions(entry, { seedIdleMode: 1, seedIdleLimit: 1 });
  for (let i = 0; i < 59; i++) clock.advance(1000);
  expect(entry.torrent.state).toBe('seeding');
  clock.advance(1000);
  await until(() => entry.torrent.state === 'paused');
  expect(entry.finished).toBe(true);
  expect(entry.record.paused).toBe(true);
});

test('the watch directory is polled on the clock', async () => {
  // Files carry real mtimes: the clock starts in the present, so "settled" means 1 s on it.
  const clock = new ManualClock(Date.now() + 5000);
  const watch = join(dir, 'watch');
  const d = await daemon(clock, { watchDir: watch, watchIntervalMs: 10_000 });
  const file = join(watch, 'a.torrent');
  mkdirSync(watch, { recursive: true });
  writeFileSync(file, torrents[0]!.bytes);
  const past = new Date(Date.now() - 10_000);
  utimesSync(file, past, past);
  expect(d.entries).toHaveLength(0);
  clock.advance(9_999);
  expect(d.entries).toHaveLength(0);
  clock.advance(1);
  await until(() => existsSync(`${file}.added`));
  expect(d.entries.map((e) => e.record.infoHash)).toEqual([torrents[0]!.infoHash]);
});

test('removed ids are reported for one minute on the clock', () => {
  const r = new Registry<{ id: number; record: { infoHash: string } }>();
  const a = { id: r.allocate(), record: { infoHash: 'A'.repeat(40) } };
  const b = { id: r.allocate(), record: { infoHash: 'b'.repeat(40) } };
  r.set(a);
  r.set(b);
  expect(r.byHash('a'.repeat(40))).toBe(a);
  expect(r.delete(a, 1000)).toBe(true);
  expect(r.delete(a, 1000)).toBe(false);
  expect(r.recentlyRemoved(60_999)).toEqual([1]);
  expect(r.recentlyRemoved(61_001)).toEqual([]);
  expect(r.allocate()).toBe(3);
});

test('the registry lists entries in id order, by id and by hash, a replaced one in its place', () => {
  type E = { id: number; record: { infoHash: string }; v?: string };
  const r = new Registry<E>();
  const hash = (i: number): string => i.toString(16).padStart(40, '0');
  const made: E[] = [];
  for (let i = 0; i < 50; i++) made.push({ id: r.allocate(), record: { infoHash: hash(i) } });
  for (const e of made) r.set(e);
  for (const e of made.filter((e) => e.id % 3 === 0)) expect(r.delete(e, 0)).toBe(true);
  const left = made.filter((e) => e.id % 3 !== 0);
  expect(r.entries).toEqual(left);
  expect(r.size).toBe(left.length);
  for (const e of made) {
    expect(r.byId(e.id)).toBe(e.id % 3 === 0 ? undefined : e);
    expect(r.byHash(e.record.infoHash.toUpperCase())).toBe(e.id % 3 === 0 ? undefined : e);
  }
  expect(r.byId(0)).toBeUndefined();
  expect(r.byId(51)).toBeUndefined();
  // A magnet becoming its torrent: the same id, a new entry, in the same place.
  const replaced = { id: 5, record: { infoHash: hash(4) }, v: 'torrent' };
  r.set(replaced);
  expect(r.entries.map((e) => e.id)).toEqual(left.map((e) => e.id));
  expect(r.byId(5)).toBe(replaced);
  expect(r.holds(made[4]!)).toBe(false);
  expect(r.holds(replaced)).toBe(true);
  expect(r.delete(made[4]!, 0)).toBe(false);
  // The copy handed out can be sorted without touching the registry.
  r.entries.reverse();
  expect(r.entries[0]!.id).toBe(1);
});

test('accounting counts from each torrent baseline and keeps what a removed torrent moved', () => {
  const acc = new Accounting(0);
  acc.load({ uploadedBytes: 100, downloadedBytes: 200, filesAdded: 1, secondsActive: 50, sessionCount: 2 });
  const t = { uploaded: 1000, downloaded: 5000 }; // totals from earlier sessions
  const u = { uploaded: 7, downloaded: 0 };
  const stopped = { uploaded: 50, downloaded: 50 }; // its data never opened: no baseline
  const listed = [
    { id: 1, torrent: t },
    { id: 2, torrent: u },
    { id: 300, torrent: stopped },
  ];
  acc.baseline(1, t);
  acc.baseline(1, { uploaded: 9, downloaded: 9 }); // a second baseline is ignored
  acc.baseline(2, u);
  expect(acc.traffic(0, listed).current).toMatchObject({ uploadedBytes: 0, downloadedBytes: 0 });
  t.uploaded += 10;
  t.downloaded += 20;
  u.uploaded += 3;
  stopped.uploaded += 1;
  expect(acc.traffic(1000, listed).current).toMatchObject({ uploadedBytes: 13, downloadedBytes: 20 });
  acc.forget(1, t);
  t.uploaded += 1000; // after removal nothing counts
  acc.fileAdded();
  expect(acc.traffic(30_500, listed.slice(1))).toEqual({
    current: { uploadedBytes: 13, downloadedBytes: 20, filesAdded: 1, secondsActive: 30, sessionCount: 1 },
    cumulative: { uploadedBytes: 113, downloadedBytes: 220, filesAdded: 2, secondsActive: 80, sessionCount: 3 },
  });
  // An id far past the first table, and one baselined again after a forget (set-location reopens it).
  acc.baseline(300, stopped);
  stopped.uploaded += 5;
  acc.forget(2, u);
  acc.baseline(2, { uploaded: 10, downloaded: 0 });
  expect(acc.traffic(30_500, [{ id: 2, torrent: { uploaded: 12, downloaded: 0 } }, { id: 300, torrent: stopped }]).current).toMatchObject({ uploadedBytes: 10 + 3 + 2 + 5 });
});

/** Waits for real I/O (readdir, the state writes, rename) to finish; the clock stands still meanwhile. */
async function until(cond: () => boolean): Promise<void> {
  await poll(() => cond() || undefined, 20_000, () => 'real I/O to finish');
}
