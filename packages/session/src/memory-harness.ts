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
   * `stepMs` every few turns, as time would pass. Returns the clock time it took.
   */
  async run(done: () => boolean, what: string, stepMs = 50, maxTurns = 40_000): Promise<number> {
    const start = this.clock.now();
    for (let turn = 0; turn < maxTurns; turn++) {
      if (done()) return this.clock.now() - start;
      await new Promise((r) => setImmediate(r));
      if (turn % 8 === 7) this.clock.advance(stepMs);
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
