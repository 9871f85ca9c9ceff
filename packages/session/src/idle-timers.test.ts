// A daemon's torrents are idle most of the time: nobody connected, nothing to fetch. Such a
// torrent must hold no timer of its own (no rechoke round, no peer-list redial, no rate limiter,
// no resume save): the session's one tick is all that runs, however many torrents there are.
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { encode } from '@mainline/bencode';
import { makeTempDir, removeTempDir } from '@mainline/interop';
import { ManualClock } from '@mainline/rate';
import { Session } from './index.js';
import { smallTorrent } from './test-helpers.js';

const COUNT = 1000;

let dir: string;
beforeAll(() => {
  dir = makeTempDir('ml-idle-timers-');
});
afterAll(() => removeTempDir(dir));


test(`${COUNT} idle torrents (seeding and stopped) hold no timer: only the session's own stay pending`, async () => {
  const clock = new ManualClock(0);
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const s = new Session({ clock, portRange: [0, 0], bind: '127.0.0.1', stateDir: join(dir, 'state') });
  try {
    await s.listen();
    const baseline = clock.pendingTimers; // the session's tick
    expect(baseline).toBeGreaterThan(0);
    for (let i = 0; i < COUNT; i++) {
      const bytes = smallTorrent(dataDir, 'idle', i, 4 * 1024 + (i % 7) * 5000);
      await s.add(bytes, { savePath: dataDir, paused: i % 10 === 9 });
    }
    expect(s.torrents.filter((t) => t.state === 'seeding')).toHaveLength(COUNT - COUNT / 10);
    expect(s.torrents.filter((t) => t.state === 'paused')).toHaveLength(COUNT / 10);
    expect(clock.pendingTimers).toBe(baseline);
    // A minute of ticks: still nothing armed per torrent, and every torrent still seeds.
    for (let sec = 0; sec < 60; sec++) clock.advance(1000);
    expect(clock.pendingTimers).toBe(baseline);
    expect(s.torrents.filter((t) => t.state === 'seeding')).toHaveLength(COUNT - COUNT / 10);
  } finally {
    await s.close();
  }
}, 120_000);

test(`${COUNT} idle torrents with a tracker: their re-announces wait in the session's timer queue, one timer for all`, async () => {
  // A tracker on loopback that answers every announce: come back in 30 min, no peers.
  let announces = 0;
  const tracker = createServer((req, res) => {
    announces++;
    res.end(Buffer.from(encode({ interval: 1800, peers: new Uint8Array(0) })));
  });
  await new Promise<void>((resolve) => tracker.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(tracker.address() as AddressInfo).port}/announce`;
  const clock = new ManualClock(0);
  const dataDir = join(dir, 'data-tracked');
  mkdirSync(dataDir, { recursive: true });
  const s = new Session({ clock, portRange: [0, 0], bind: '127.0.0.1' });
  try {
    await s.listen();
    const baseline = clock.pendingTimers;
    for (let i = 0; i < COUNT; i++) {
      await s.add(smallTorrent(dataDir, 'idle', i, 4 * 1024 + (i % 5) * 3000, url), { savePath: dataDir, paused: i % 10 === 9 });
    }
    const seeding = COUNT - COUNT / 10;
    const end = Date.now() + 60_000;
    while (!s.torrents.every((t) => t.state === 'paused' || t.stats().trackers[0]?.state === 'working')) {
      if (Date.now() > end) throw new Error(`announced: ${s.torrents.filter((t) => t.stats().trackers[0]?.state === 'working').length}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(announces).toBe(seeding);
    expect(s.timers.pending).toBe(seeding); // one re-announce each, in 30 min
    expect(clock.pendingTimers).toBe(baseline + 1); // and one timer of the clock for all of them
    for (let sec = 0; sec < 60; sec++) clock.advance(1000);
    expect(clock.pendingTimers).toBe(baseline + 1);
    expect(announces).toBe(seeding);
  } finally {
    await s.close();
    await new Promise((r) => tracker.close(r));
  }
}, 180_000);
