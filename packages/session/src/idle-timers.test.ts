// A daemon's torrents are idle most of the time: nobody connected, nothing to fetch. Such a
// torrent must hold no timer of its own (no rechoke round, no peer-list redial, no rate limiter,
// no resume save): the session's one tick is all that runs, however many torrents there are.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode } from '@mainline/bencode';
import { makeTempDir, removeTempDir } from '@mainline/interop';
import { ManualClock } from '@mainline/rate';
import { Session } from './index.js';

const COUNT = 1000;
const PIECE = 16 * 1024;

let dir: string;
beforeAll(() => {
  dir = makeTempDir('ml-idle-timers-');
});
afterAll(() => removeTempDir(dir));

/** A one-file torrent of `size` bytes (its data written under `dataDir`), without trackers. */
function smallTorrent(dataDir: string, i: number, size: number): Uint8Array {
  const name = `idle-${i}.bin`;
  const data = Buffer.alloc(size, i % 251);
  data.writeUInt32BE(i, 0); // every torrent its own info-hash
  writeFileSync(join(dataDir, name), data);
  const hashes: Buffer[] = [];
  for (let at = 0; at < size; at += PIECE) hashes.push(createHash('sha1').update(data.subarray(at, at + PIECE)).digest());
  return encode({ info: { length: size, name, 'piece length': PIECE, pieces: Buffer.concat(hashes) } });
}

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
      const bytes = smallTorrent(dataDir, i, 4 * 1024 + (i % 7) * 5000);
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
