import { EventEmitter } from 'node:events';
import type { WireHub } from '@mainline/connecter';
import { encodeTorrent, metainfoFromMagnet, parseTorrent, type MagnetLink, type Metainfo } from '@mainline/metainfo';
import type { Clock } from '@mainline/rate';
import type { Announcer, AnnouncerOptions } from '@mainline/rerequester';
import type { AddressFilter } from './address-filter.js';
import { startAnnouncer, trackerReport, type TrackerInfo, type TrackerState } from './announce.js';
import { readFileIfExists, writeFileAtomic } from './atomic-file.js';
import { asError } from './as-error.js';
import type { DhtRegistry, DhtTorrent } from './dht.js';
import { ReportingMetadataFetcher } from './dial-failures.js';
import type { LsdRegistry, LsdTorrent } from './local-discovery.js';
import { PeerList, type PeerListOptions } from './peer-list.js';
import type { PeerListView, Torrent, TorrentOptions } from './torrent.js';
import { makeWarning, type TorrentWarning, type WarningKind } from './warning.js';

/**
 * What trackers are told is left while the size is unknown: the magnet's `xl` when it has one,
 * else 16 KiB (as libtorrent does), so trackers count us as a leecher.
 */
export const MAGNET_UNKNOWN_LEFT = 16384;

/** Connected peers with which a magnet stops searching the DHT sooner than every 15 min. */
const MAGNET_ENOUGH_PEERS = 4;

export interface MagnetOptions extends TorrentOptions {
  /**
   * Called with the metadata before the torrent is added, for options that depend on it (file
   * priorities, ...); its result is merged over these options.
   */
  withMetadata?: (meta: Metainfo) => Partial<TorrentOptions>;
  /**
   * Where the .torrent (info dict + the magnet's trackers) is written once the metadata is here,
   * and read from on a later run instead of fetching again. Default `<stateDir>/<infohash>.torrent`
   * when the session has a stateDir; none otherwise.
   */
  torrentFile?: string;
}

export type MagnetState = 'fetching-metadata' | 'adding' | 'added' | 'cancelled' | 'error';

export interface MagnetStats {
  infoHash: string;
  /** `dn` from the link until the metadata names it. */
  name: string;
  state: MagnetState;
  /** Connected peers, and those of them offering the metadata. */
  peers: number;
  metadataPeers: number;
  piecesReceived: number;
  /** Metadata pieces (16 KiB), once a peer has told the size. */
  pieceCount: number | undefined;
  trackerPeers: number;
  trackerError: string | undefined;
  /** Each of the link's trackers (empty without any, or once the metadata is here); see TorrentStats. */
  trackers: TrackerInfo[];
  /** Seconds until the trackers are asked again; undefined while asking or without trackers. */
  nextAnnounceIn: number | undefined;
  error: string | undefined;
}

export interface MagnetEvents {
  state: [state: MagnetState];
  /** A metadata piece arrived. */
  progress: [received: number, total: number];
  /** The verified metadata (the .torrent is saved by now, if configured). */
  metadata: [meta: Metainfo];
  /** The torrent is in the session and started. */
  torrent: [torrent: Torrent];
  'peer-connected': [address: string];
  'peer-dropped': [address: string, reason: string];
  /** A peer dialled for the metadata could not be connected (see Torrent's `peer-failed`). */
  'peer-failed': [address: string, reason: string];
  /**
   * The fetched .torrent could not be saved to `torrentFile` (e.g. the state directory is not
   * writable): the download goes on, but a later run fetches the metadata again.
   */
  'torrent-save-failed': [error: Error];
  /** Something failed without stopping the download (the .torrent not saved too): what, and the error. */
  warning: [warning: TorrentWarning];
  'tracker-error': [message: string];
  error: [error: Error];
}

/** What a MagnetDownload needs from its Session. */
export interface MagnetHost {
  readonly hub: WireHub;
  readonly peerId: Uint8Array;
  readonly port: number;
  readonly clock: Clock;
  readonly announcer?: Partial<AnnouncerOptions>;
  /** Which peer addresses may be dialled (the same rules as a torrent's peer list). */
  readonly addressFilter?: AddressFilter;
  /** The DHT: searched for peers while fetching (a magnet with no tracker finds them only here). */
  readonly dht?: DhtRegistry;
  /** Local service discovery: peers on the local network, asked while fetching. */
  readonly lsd?: LsdRegistry;
  /** Peer list settings (size, backoff), the same as every torrent's: the list becomes the torrent's. */
  readonly peerList?: Omit<PeerListOptions, 'clock' | 'filter'>;
  /** The hashing threads the torrent will use: booted while the metadata is fetched, not after. */
  readonly pieceHasher?: { prestart(): void };
  /** Adds the torrent once the metadata is here (bypassing the pending-magnet check). */
  addTorrent(meta: Metainfo, options: TorrentOptions): Promise<Torrent>;
  /** Removes a torrent this download added, if it was cancelled meanwhile. */
  removeTorrent(infoHash: string): Promise<void>;
  /** The download is over (added, cancelled or failed): forget it. */
  settled(download: MagnetDownload): void;
}

/**
 * A magnet link being turned into a torrent: the metadata is fetched from peers (BEP 9) found
 * through the link's trackers, its `x.pe` peers and the `peers` option, verified against the
 * info-hash, saved as a .torrent, and then the torrent is added to the session and started like
 * any other. Keeps trying (trackers re-announce, the peer list redials with backoff) until the
 * metadata arrives or the download is cancelled; cancelling closes every socket and timer it opened.
 * Every address it hears of goes into one PeerList, which dials through the metadata fetcher and
 * then becomes the torrent's, with each address's sources, failures and backoff, and knowing
 * which are connected (those connections are handed over, not redialled).
 */
export class MagnetDownload extends EventEmitter<MagnetEvents> {
  readonly link: MagnetLink;
  readonly infoHash: string;
  /** Resolves with the started torrent; rejects when cancelled or failed. */
  readonly torrent: Promise<Torrent>;
  readonly #host: MagnetHost;
  readonly #options: MagnetOptions;
  readonly #fetcher: ReportingMetadataFetcher;
  /** Every address heard of, from every source: the fetcher dials through it, the torrent inherits it. */
  readonly #peerList: PeerList;
  #announcer: Announcer | undefined;
  #state: MagnetState = 'fetching-metadata';
  #name: string;
  readonly #tracker: TrackerState = { peers: 0, error: undefined };
  #error: Error | undefined;
  #added: Torrent | undefined;
  #leaveLsd: (() => void) | undefined;
  #resolve: (t: Torrent) => void = () => undefined;
  #reject: (e: Error) => void = () => undefined;

  /** @internal Made by Session.addMagnet. */
  constructor(link: MagnetLink, host: MagnetHost, options: MagnetOptions) {
    super();
    this.link = link;
    this.infoHash = link.infoHash;
    this.#name = link.name ?? link.infoHash;
    this.#host = host;
    this.#options = options;
    this.#fetcher = new ReportingMetadataFetcher({ hub: host.hub, infoHash: link.infoHashBytes, clock: host.clock, listenPort: () => host.port, holdConnections: true });
    this.#fetcher.onDialFailed = (address, reason) => this.emit('peer-failed', address, reason);
    this.#peerList = new PeerList({
      ...host.peerList,
      clock: host.clock,
      ...(host.addressFilter ? { filter: host.addressFilter } : {}),
      ...(options.peerRedialMs !== undefined ? { userRetryMs: options.peerRedialMs } : {}),
    });
    this.#peerList.add(link.peers, 'magnet');
    this.#peerList.add(options.peers ?? [], 'user');
    this.torrent = new Promise<Torrent>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // The caller may only watch events: the failure is the 'error' event and state (see start()).
    this.torrent.catch(() => undefined);
  }

  get state(): MagnetState {
    return this.#state;
  }

  get name(): string {
    return this.#name;
  }

  /** Peers to dial for the metadata (and, later, for the torrent). */
  get peers(): { ip: string; port: number }[] {
    return [...this.link.peers, ...(this.#options.peers ?? [])];
  }

  /** Every address known for the torrent: sources, backoff (retryIn) and counts; the torrent's once added. */
  get peerList(): PeerListView {
    return this.#peerList;
  }

  stats(): MagnetStats {
    const f = this.#fetcher.status();
    return {
      infoHash: this.infoHash,
      name: this.#name,
      state: this.#state,
      peers: f.peers,
      metadataPeers: f.metadataPeers,
      piecesReceived: f.piecesReceived,
      pieceCount: f.pieceCount,
      trackerPeers: this.#tracker.peers,
      trackerError: this.#tracker.error,
      ...trackerReport(this.#announcer, this.#host.clock),
      error: this.#error?.message,
    };
  }

  /** @internal Starts fetching (Session.addMagnet calls it). */
  start(): void {
    void this.#run().then(
      (t) => this.#resolve(t),
      (e: unknown) => {
        // Metadata connections held for a torrent that was never added: close them.
        this.#fetcher.release();
        this.#peerList.close();
        const error = e instanceof Error ? e : new Error(String(e));
        if (this.#state !== 'cancelled') {
          this.#error = error;
          this.#setState('error');
          if (this.listenerCount('error') > 0) this.emit('error', error);
        }
        this.#reject(error);
      },
    );
  }

  /** Stops fetching (or removes the torrent if it was being added); every socket and timer goes. */
  async cancel(): Promise<void> {
    if (this.#state === 'added' || this.#state === 'cancelled' || this.#state === 'error') return;
    const adding = this.#state === 'adding';
    this.#setState('cancelled');
    this.#fetcher.cancel();
    // While adding, the list is the torrent's: removing the torrent stops it.
    if (!adding) this.#peerList.close();
    await this.#stopAnnouncer();
    if (adding) {
      // A torrent that failed to be added is nothing to remove; one that was, but cannot be stopped cleanly, is a warning.
      const added = await this.torrent.catch(() => undefined);
      if (added) await this.#host.removeTorrent(added.infoHash).catch((e: unknown) => this.#warn('remove', e));
    }
    this.#host.settled(this);
  }

  /** A method, not a field test: the state changes across awaits, which narrowing cannot see. */
  #cancelled(): boolean {
    return this.#state === 'cancelled';
  }

  #setState(state: MagnetState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('state', state);
  }

  async #run(): Promise<Torrent> {
    const meta = (await this.#saved()) ?? (await this.#fetch());
    if (this.#cancelled()) throw new Error('cancelled');
    this.#name = meta.name;
    this.#setState('adding');
    this.emit('metadata', meta);
    const options: MagnetOptions = {
      ...this.#options,
      ...this.#options.withMetadata?.(meta),
      // Every address, source and backoff carries on: the list (with x.pe and the user's peers) is the torrent's now.
      peerList: this.#peerList,
      // The metadata connections stay open into the download: the torrent's swarm adopts them.
      handOff: this.#fetcher,
    };
    delete options.withMetadata;
    delete options.torrentFile;
    const torrent = await this.#host.addTorrent(meta, options);
    if (this.#cancelled()) return torrent; // cancel() removes it
    this.#added = torrent;
    this.#setState('added');
    this.#host.settled(this);
    this.emit('torrent', torrent);
    return torrent;
  }

  /** The .torrent a previous run saved, if it is there and is this magnet's. */
  async #saved(): Promise<Metainfo | undefined> {
    const file = this.#options.torrentFile;
    const bytes = file ? await readFileIfExists(file).catch((e: unknown) => this.#warn('torrent-read', e)) : undefined;
    if (!bytes) return undefined;
    try {
      const meta = parseTorrent(bytes);
      return meta.infoHash === this.infoHash ? meta : undefined;
    } catch {
      return undefined; // damaged: fetch again
    }
  }

  async #fetch(): Promise<Metainfo> {
    const fetcher = this.#fetcher;
    if (this.#cancelled()) throw new Error('cancelled');
    fetcher.on('progress', (got, total) => this.emit('progress', got, total));
    fetcher.on('peer-connected', (a) => this.emit('peer-connected', a));
    fetcher.on('peer-dropped', (a, r) => this.emit('peer-dropped', a, r));
    // The fetcher dials whom the peer list says, and tells it how each dial and connection went.
    const list = this.#peerList;
    fetcher.on('connected', (h, p, incoming) => list.connected(h, p, incoming));
    fetcher.on('connect-failed', (h, p) => list.connectFailed(h, p));
    fetcher.on('closed', (h, p) => list.closed(h, p));
    const metadata = fetcher.start();
    // The torrent's first piece waits for a hashing thread otherwise (tens of ms to boot).
    this.#host.pieceHasher?.prestart();
    list.attach(fetcher);
    if (!this.#options.noTrackers && this.link.trackers.length > 0) this.#startAnnouncer();
    const dht: DhtTorrent = { onPeers: (p) => list.add(p, 'dht'), shortOfPeers: () => fetcher.status().peers < MAGNET_ENOUGH_PEERS };
    this.#host.dht?.add(this.infoHash, dht);
    const lsd: LsdTorrent = { onLsdPeer: (p) => list.add([p], 'lsd') };
    this.#host.lsd?.add(this.infoHash, lsd);
    this.#leaveLsd = () => this.#host.lsd?.remove(this.infoHash, lsd);
    let bytes: Uint8Array;
    try {
      bytes = await metadata;
    } finally {
      this.#host.dht?.remove(this.infoHash, dht);
      this.#leaveLsd?.();
      this.#leaveLsd = undefined;
      await this.#stopAnnouncer();
    }
    const meta = metainfoFromMagnet(bytes, this.link);
    const file = this.#options.torrentFile;
    if (file) {
      await writeFileAtomic(file, encodeTorrent(meta)).catch((e: unknown) => {
        this.emit('torrent-save-failed', asError(e));
        this.#warn('torrent-save', e);
      });
    }
    return meta;
  }

  /** The session's peer port moved: the trackers hear the new one at once. */
  portChanged(port: number): void {
    this.#announcer?.setPort(port);
  }

  #startAnnouncer(): void {
    const host = this.#host;
    this.#announcer = startAnnouncer(
      {
        infoHash: this.link.infoHashBytes,
        peerId: host.peerId,
        port: host.port,
        announceList: this.link.trackers.map((t) => [t]),
        clock: host.clock,
        ...host.announcer,
      },
      this.#tracker,
      {
        announceStats: () => ({ uploaded: 0, downloaded: 0, left: this.link.length ?? MAGNET_UNKNOWN_LEFT, numPeers: this.#fetcher.status().peers }),
        trackerPeers: (peers) => this.#peerList.add(peers, 'tracker'),
        trackerError: (message) => this.emit('tracker-error', message),
      },
      host.addressFilter,
    );
  }

  async #stopAnnouncer(): Promise<void> {
    const announcer = this.#announcer;
    this.#announcer = undefined;
    if (announcer) await announcer.stop().catch((e: unknown) => this.#warn('tracker-stop', e));
  }

  #warn(what: WarningKind, err: unknown): undefined {
    this.emit('warning', makeWarning(what, { infoHash: this.infoHash, name: this.#name }, err));
    return undefined;
  }

  /** The torrent, once added. */
  get added(): Torrent | undefined {
    return this.#added;
  }
}
