// A session's torrents share a few tracker slots (maxTrackerRequests): 60 torrents starting
// together used to open 60 connections to their tracker at once (900 in a big daemon: 900
// sockets and HTTP parsers, and a start-up memory peak).
import { mkdirSync } from 'node:fs';
import { createServer, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { encode } from '@mainline/bencode';
import { makeTempDir, removeTempDir } from '@mainline/interop';
import { ManualClock } from '@mainline/rate';
import { Session } from './index.js';
import { smallTorrent, until } from './test-helpers.js';

const COUNT = 60;
const REPLY = Buffer.from(encode({ interval: 1800, peers: new Uint8Array(0) }));

/** A loopback HTTP tracker that counts the connections open at once and answers only while not holding. */
class CountingTracker {
  readonly server: Server;
  open = 0;
  mostOpen = 0;
  /** info_hash (as sent) → events heard, in order. */
  readonly heard = new Map<string, string[]>();
  #holding = true;
  readonly #held: ServerResponse[] = [];

  constructor() {
    this.server = createServer((req, res) => {
      const q = new URL(req.url ?? '/', 'http://tracker').searchParams;
      const hash = /info_hash=([^&]*)/.exec(req.url ?? '')?.[1] ?? '';
      this.heard.set(hash, [...(this.heard.get(hash) ?? []), q.get('event') ?? 'none']);
      if (this.#holding) this.#held.push(res);
      else res.end(REPLY);
    });
    this.server.on('connection', (socket) => {
      this.open++;
      this.mostOpen = Math.max(this.mostOpen, this.open);
      socket.on('close', () => this.open--);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/announce`;
  }

  hold(): void {
    this.#holding = true;
  }

  release(): void {
    this.#holding = false;
    for (const res of this.#held.splice(0)) res.end(REPLY);
  }

  /** Torrents whose events include `event`. */
  count(event: string): number {
    return [...this.heard.values()].filter((events) => events.includes(event)).length;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

let dir: string;
let tracker: CountingTracker;
let session: Session | undefined;
beforeEach(() => {
  dir = makeTempDir('ml-tracker-gate-');
  mkdirSync(join(dir, 'data'));
  tracker = new CountingTracker();
});
afterEach(async () => {
  await session?.close();
  session = undefined;
  await tracker.close();
  removeTempDir(dir);
});

/** A session on a ManualClock (its time stands still: no tracker slot is given up for slowness) with COUNT seeds on `tracker`. */
async function seeds(maxTrackerRequests: number | undefined, clock: ManualClock): Promise<Session> {
  const announce = await tracker.listen();
  const s = new Session({ portRange: [0, 0], bind: '127.0.0.1', clock, ...(maxTrackerRequests !== undefined ? { maxTrackerRequests } : {}) });
  session = s;
  await s.listen();
  const data = join(dir, 'data');
  for (let i = 0; i < COUNT; i++) await s.add(smallTorrent(data, 'gate', i, 2000 + i, announce), { savePath: data });
  return s;
}

test(`${COUNT} torrents of one session: never more than maxTrackerRequests connections to the tracker at once, every torrent announced`, async () => {
  const clock = new ManualClock(Date.now());
  const s = await seeds(4, clock);
  // The tracker answers nobody yet: 4 wait for their answer, the others for a slot.
  await until(() => tracker.open === 4 && s.trackerGate.waiting === COUNT - 4, '4 announces open, the rest queued');
  expect(tracker.count('started')).toBe(4);
  tracker.release();
  await until(() => s.torrents.every((t) => t.stats().trackers[0]?.state === 'working'), 'every torrent announced');
  expect(tracker.count('started')).toBe(COUNT);
  expect(tracker.mostOpen).toBeLessThanOrEqual(4);

  // Shutdown: every stopped announce goes out at once, none waits behind another; a tracker that
  // does not answer them holds close() up for the announcers' stop deadline (5 s), no longer.
  tracker.hold();
  let closed = false;
  const closing = s.close().then(() => (closed = true));
  await until(() => tracker.count('stopped') === COUNT, 'every torrent to send stopped');
  expect(closed).toBe(false);
  clock.advance(5_000);
  await closing;
  session = undefined;
}, 60_000);

test('without a limit (what the gate is for) the same torrents ask all at once', async () => {
  const s = await seeds(1_000, new ManualClock(Date.now()));
  await until(() => tracker.open === COUNT, `${COUNT} announces open at once`);
  expect(s.trackerGate.waiting).toBe(0);
  tracker.release();
}, 60_000);

test('a torrent removed while it waits for a slot leaves the queue and is never announced', async () => {
  const s = await seeds(2, new ManualClock(Date.now()));
  await until(() => tracker.open === 2, 'two announces open');
  const last = s.torrents[COUNT - 1]!;
  await s.remove(last.infoHash);
  expect(s.trackerGate.waiting).toBe(COUNT - 3);
  tracker.release();
  await until(() => tracker.count('started') === COUNT - 1, 'the others announced');
  expect(tracker.heard.size).toBe(COUNT - 1);
}, 60_000);

test('the default is 20 tracker requests at once; a bad maxTrackerRequests is refused by name', async () => {
  const s = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
  expect(s.trackerGate.limit).toBe(20);
  await s.close();
  expect(() => new Session({ maxTrackerRequests: 0 })).toThrow(/maxTrackerRequests/);
});
