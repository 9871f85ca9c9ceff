import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { WireHub, type WireLogEvent } from '@mainline/connecter';
import { parseTorrent, type Metainfo } from '@mainline/metainfo';
import { TokenBucket, systemClock, type Clock } from '@mainline/rate';
import type { AnnouncerOptions } from '@mainline/rerequester';
import { makePeerId } from './peer-id.js';
import { Torrent, type TorrentHost, type TorrentOptions } from './torrent.js';

export interface SessionOptions {
  /** Listen on the first free port of this range (seed: 6881–6999). */
  portRange?: [number, number];
  /** Local address to listen on and dial from ('' = all). */
  bind?: string;
  peerId?: Uint8Array;
  /** Global limits in bytes/s (0 = unlimited). */
  uploadLimit?: number;
  downloadLimit?: number;
  /** Most open connections in the session (seed: max_allow_in 55 per torrent; here global). */
  maxConnections?: number;
  /** Idle timeout for peer sockets (seed 300 s). */
  timeoutMs?: number;
  /** Directory for resume records (`<infohash>.resume`); none = always recheck on start. */
  stateDir?: string;
  clock?: Clock;
  /** Tracker client settings passed to every torrent's announcer (intervals, timeouts). */
  announcer?: Partial<AnnouncerOptions>;
  /** Told about peers dropped for protocol violations. */
  log?: (event: WireLogEvent) => void;
}

export interface SessionEvents {
  'torrent-added': [torrent: Torrent];
  'torrent-removed': [torrent: Torrent];
}

/**
 * A BitTorrent session: one peer id, one listening port and many torrents, with global rate
 * limits. Each torrent is wired as mainline's download.py wires one download.
 */
export class Session extends EventEmitter<SessionEvents> implements TorrentHost {
  readonly hub: WireHub;
  readonly peerId: Uint8Array;
  readonly clock: Clock;
  readonly uploadLimiter: TokenBucket;
  readonly downloadLimiter: TokenBucket;
  readonly announcer: Partial<AnnouncerOptions> | undefined;
  readonly #options: SessionOptions;
  readonly #torrents = new Map<string, Torrent>();
  #port = 0;
  #closed = false;
  #ticker: ReturnType<Clock['setTimeout']> | undefined;

  constructor(options: SessionOptions = {}) {
    super();
    this.#options = options;
    this.clock = options.clock ?? systemClock;
    this.peerId = options.peerId ?? makePeerId();
    this.announcer = options.announcer;
    this.uploadLimiter = new TokenBucket({ clock: this.clock, rate: options.uploadLimit ?? 0 });
    this.downloadLimiter = new TokenBucket({ clock: this.clock, rate: options.downloadLimit ?? 0 });
    this.hub = new WireHub({
      peerId: this.peerId,
      rawServer: {
        clock: this.clock,
        ...(options.maxConnections !== undefined ? { maxAllowIn: options.maxConnections } : {}),
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(options.bind ? { bind: options.bind } : {}),
      },
      ...(options.log ? { log: options.log } : {}),
    });
  }

  /** The listening port (0 before listen()). */
  get port(): number {
    return this.#port;
  }

  /** Binds the first free port of the range. */
  async listen(): Promise<number> {
    const [first, last] = this.#options.portRange ?? [6881, 6999];
    const result = await this.hub.listen({ minPort: first, maxPort: last });
    this.#port = result.port;
    this.#tick();
    return this.#port;
  }

  #tick(): void {
    this.#ticker = this.clock.setTimeout(() => {
      for (const t of this.#torrents.values()) t.checkSeedLimits();
      if (!this.#closed) this.#tick();
    }, 1000);
  }

  get torrents(): Torrent[] {
    return [...this.#torrents.values()];
  }

  get(infoHash: string): Torrent | undefined {
    return this.#torrents.get(infoHash.toLowerCase());
  }

  /** Adds a torrent (from .torrent bytes or parsed metainfo) and starts it unless `paused`. */
  async add(torrent: Uint8Array | Metainfo, options: TorrentOptions): Promise<Torrent> {
    if (this.#closed) throw new Error('session is closed');
    const meta = torrent instanceof Uint8Array ? parseTorrent(torrent) : torrent;
    if (this.#torrents.has(meta.infoHash)) throw new Error(`torrent ${meta.infoHash} (${meta.name}) is already in the session`);
    const resumeFile = options.resumeFile ?? (this.#options.stateDir ? join(this.#options.stateDir, `${meta.infoHash}.resume`) : undefined);
    const t = new Torrent(meta, this, { ...options, ...(resumeFile ? { resumeFile } : {}) });
    this.#torrents.set(meta.infoHash, t);
    this.emit('torrent-added', t);
    await t.start();
    return t;
  }

  /** Stops a torrent and forgets it (data stays on disk). */
  async remove(infoHash: string): Promise<void> {
    const t = this.get(infoHash);
    if (!t) return;
    await t.stop();
    this.#torrents.delete(t.infoHash);
    this.emit('torrent-removed', t);
  }

  setLimits(limits: { upload?: number; download?: number }): void {
    if (limits.upload !== undefined) this.uploadLimiter.setRate(limits.upload);
    if (limits.download !== undefined) this.downloadLimiter.setRate(limits.download);
  }

  /** Clean shutdown: every torrent tells its trackers `stopped` and flushes resume data. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ticker) this.clock.clearTimeout(this.#ticker);
    await Promise.all(this.torrents.map((t) => t.stop().catch(() => undefined)));
    await this.hub.close();
  }
}
