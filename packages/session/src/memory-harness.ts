// Test harness (not exported): sessions on an in-memory network and a ManualClock, and a
// payload with its torrent made once per test file.
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, removeTempDir, type MadeTorrent, type Payload } from '@mainline/interop';
import { MemoryNetwork } from '@mainline/rawserver';
import { ManualClock } from '@mainline/rate';
import { Session, type SessionOptions } from './session.js';

/** One file of `size` bytes in `pieceLength` pieces, made in beforeAll and removed in afterAll. */
export function payloadFixture(prefix: string, name: string, size: number, pieceLength: number): { dir: string; payload: Payload; torrent: MadeTorrent } {
  const fx = {} as { dir: string; payload: Payload; torrent: MadeTorrent };
  beforeAll(async () => {
    fx.dir = makeTempDir(prefix);
    fx.payload = await makePayload(join(fx.dir, 'seed'), { name, size });
    fx.torrent = makeTorrent(fx.payload.path, { pieceLength });
  });
  afterAll(() => {
    if (fx.dir) removeTempDir(fx.dir);
  });
  return fx;
}

/** Real time from its start after which a run() still waiting for disk or hashing work gives up (the test's own timeout is 30 s). */
const MAX_WORK_WAIT_MS = 25_000;

/**
 * Node resources of disk and hashing work in flight: fs requests, and a hash thread with jobs (the
 * pool references a thread only while it has work; a referenced worker shows as its MessagePort).
 */
const WORK_RESOURCES = new Set(['FSReqPromise', 'FSReqCallback', 'FileHandleCloseReq', 'MessagePort']);
const workInFlight = (): boolean => process.getActiveResourcesInfo().some((r) => WORK_RESOURCES.has(r));

/** Sessions on one memory network, all on one ManualClock: no TCP, no real time. */
export class MemoryWorld {
  readonly clock = new ManualClock(1_700_000_000_000);
  readonly network = new MemoryNetwork({ clock: this.clock });
  readonly #sessions: Session[] = [];

  /** A session on its own address of the network, listening on 6881. */
  async session(address: string, options: SessionOptions = {}): Promise<Session> {
    const s = new Session({ clock: this.clock, transports: [this.network.transport(address)], portRange: [6881, 6881], ...options });
    this.#sessions.push(s);
    await s.listen();
    return s;
  }

  /**
   * Runs the event loop (deliveries, disk, hashing threads) until `done`; the clock moves on by
   * `stepMs` every few turns, as time would pass, but only while no disk or hashing work is in
   * flight: that work takes real time, which the clock would otherwise see pass with nothing
   * delivered (a slow machine then reads lower rates, or runs out of turns). Turns spent waiting
   * for it do not count. Returns the clock time it took.
   */
  async run(done: () => boolean, what: string, stepMs = 50, maxTurns = 40_000): Promise<number> {
    const start = this.clock.now();
    const waitUntil = Date.now() + MAX_WORK_WAIT_MS;
    for (let turn = 0; turn < maxTurns; ) {
      if (done()) return this.clock.now() - start;
      await new Promise((r) => setImmediate(r));
      if (workInFlight()) {
        if (Date.now() > waitUntil) throw new Error(`disk or hashing work still in flight after ${MAX_WORK_WAIT_MS} ms: ${what} (${process.getActiveResourcesInfo().join(", ")})`);
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      if (++turn % 8 === 0) this.clock.advance(stepMs);
    }
    throw new Error(`not within ${maxTurns} turns: ${what}`);
  }

  /** Runs until a promise settles (e.g. an async Torrent call that waits for the disk). */
  async settle<T>(p: Promise<T>, what: string): Promise<T> {
    let out: { v: T } | undefined;
    let failed: { e: unknown } | undefined;
    p.then(
      (v) => (out = { v }),
      (e: unknown) => (failed = { e }),
    );
    await this.run(() => out !== undefined || failed !== undefined, what, 0);
    if (failed) throw failed.e;
    return out!.v;
  }

  async close(): Promise<void> {
    await Promise.all(this.#sessions.splice(0).map((s) => s.close()));
  }
}
