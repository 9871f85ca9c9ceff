import { isIP } from 'node:net';
import {
  LocalDiscovery,
  createUdpTransport,
  lsdInterfaces,
  type LocalDiscoveryOptions,
  type LsdInterface,
  type LsdPeer,
  type LsdStats,
  type LsdTransport,
} from '@mainline/lsd';
import type { Clock } from '@mainline/rate';
import { OnOff } from './on-off.js';

/** How the session runs local service discovery (BEP 14). */
export interface SessionLsdOptions extends Partial<Omit<LocalDiscoveryOptions, 'transport' | 'port' | 'clock'>> {
  /**
   * Interfaces by address or name (see lsdInterfaces). Default: the interface of the session's
   * `bind` address (IPv4 only for `0.0.0.0`), or every interface but loopback when bind is ''.
   * Loopback takes part only when named here.
   */
  interfaces?: string[];
  /** Makes the sockets (default createUdpTransport on those interfaces); tests pass their own. */
  transport?: () => Promise<LsdTransport>;
}

/** What `Session.lsdStatus()` says. */
export interface LsdStatus {
  /** On (SessionOptions.lsd, setLsd). */
  enabled: boolean;
  /** The sockets are open and torrents are announced. */
  running: boolean;
  /** Where it runs: `name family address`. */
  interfaces: string[];
  /** Why it is not running although enabled (no usable interface, sockets refused...). */
  error: string | undefined;
  /** The latest warnings of the sockets (an interface that failed, a send that failed), at most 10. */
  warnings: string[];
  stats: LsdStats | undefined;
}

/** What a torrent registers with LSD: peers heard on the local network for it come here. */
export interface LsdTorrent {
  onLsdPeer(peer: LsdPeer): void;
}

/** Where running torrents and magnets register (also while LSD is off: they are announced once it is on). */
export interface LsdRegistry {
  /** Registers `torrent` for `infoHash`, in place of any registered before. */
  add(infoHash: string, torrent: LsdTorrent): void;
  /** Unregisters it; nothing when another torrent took its place since. */
  remove(infoHash: string, torrent: LsdTorrent): void;
}

const MAX_WARNINGS = 10;

/** The interfaces LSD uses for a session bound to `bind` ('' = all). */
export function sessionLsdInterfaces(bind: string, named?: readonly string[]): LsdInterface[] {
  if (named) return lsdInterfaces(named);
  if (bind === '' || bind === '::') return lsdInterfaces();
  if (bind === '0.0.0.0') return lsdInterfaces().filter((i) => i.family === 'IPv4');
  if (isIP(bind) === 0) return [];
  // A loopback bind has no neighbours to find: LSD then has no interface (named ones aside).
  return lsdInterfaces([bind]).filter((i) => !i.internal);
}

/**
 * The session's LSD: one LocalDiscovery on the session's port that every running, non-private
 * torrent registers with (through `registry`), which can be switched on and off while the session
 * runs (the daemon's `lpd-enabled`): torrents registered stay registered across the switch.
 */
export class SessionLsd {
  readonly registry: LsdRegistry;
  readonly #options: SessionLsdOptions;
  readonly #clock: Clock;
  readonly #bind: string;
  readonly #torrents = new Map<string, LsdTorrent>();
  readonly #removals = new Map<string, () => void>();
  readonly #warnings: string[] = [];
  #port = 0;
  #service: LocalDiscovery | undefined;
  #interfaces: string[] = [];
  #error: string | undefined;
  readonly #switch: OnOff;

  constructor(options: { enabled: boolean; options: SessionLsdOptions; clock: Clock; bind: string }) {
    this.#switch = new OnOff(options.enabled, () => this.#start(), () => this.#stop());
    this.#options = options.options;
    this.#clock = options.clock;
    this.#bind = options.bind;
    this.registry = {
      add: (infoHash, torrent) => {
        const hash = infoHash.toLowerCase();
        this.#removals.get(hash)?.(); // registered again: the new torrent replaces the old one
        this.#torrents.set(hash, torrent);
        if (this.#service) this.#announce(this.#service, hash, torrent);
      },
      remove: (infoHash, torrent) => {
        const hash = infoHash.toLowerCase();
        if (this.#torrents.get(hash) !== torrent) return;
        this.#torrents.delete(hash);
        this.#removals.get(hash)?.();
        this.#removals.delete(hash);
      },
    };
  }

  /** Announces a registered torrent on the running service (its callback exists only while it runs). */
  #announce(service: LocalDiscovery, hash: string, torrent: LsdTorrent): void {
    this.#removals.set(
      hash,
      service.add(hash, (peer) => torrent.onLsdPeer(peer)),
    );
  }

  get enabled(): boolean {
    return this.#switch.enabled;
  }

  status(): LsdStatus {
    return {
      enabled: this.#switch.enabled,
      running: this.#service !== undefined,
      interfaces: [...this.#interfaces],
      error: this.#error,
      warnings: [...this.#warnings],
      stats: this.#service?.stats(),
    };
  }

  /** The session listens on `port` now: start if enabled. */
  listening(port: number): Promise<void> {
    this.#port = port;
    return this.set(this.#switch.enabled);
  }

  /** The session's port moved: announce the new one from now on (the service restarts if on). */
  moved(port: number): Promise<void> {
    this.#port = port;
    return this.#switch.restart();
  }

  /** Switches LSD on or off (opening or closing its sockets); resolves when done. */
  set(enabled: boolean): Promise<void> {
    return this.#switch.set(enabled);
  }

  close(): Promise<void> {
    return this.#switch.close();
  }

  async #start(): Promise<void> {
    if (this.#service || this.#port === 0) return;
    this.#error = undefined;
    const { interfaces: named, transport: makeTransport, ...rest } = this.#options;
    let transport: LsdTransport;
    try {
      if (makeTransport) {
        transport = await makeTransport();
        this.#interfaces = ['(given transport)'];
      } else {
        const interfaces = sessionLsdInterfaces(this.#bind, named);
        const udp = await createUdpTransport({ interfaces, onWarning: (m) => this.#warn(m) });
        this.#interfaces = udp.interfaces.map((i) => `${i.name} ${i.family} ${i.address}`);
        transport = udp;
      }
    } catch (err) {
      this.#error = (err as Error).message;
      this.#interfaces = [];
      return;
    }
    this.#service = new LocalDiscovery({ ...rest, transport, port: this.#port, clock: this.#clock });
    for (const [hash, torrent] of this.#torrents) this.#announce(this.#service, hash, torrent);
  }

  async #stop(): Promise<void> {
    const service = this.#service;
    this.#service = undefined;
    this.#removals.clear();
    this.#interfaces = [];
    this.#error = undefined;
    if (service) await service.close();
  }

  #warn(message: string): void {
    this.#warnings.push(message);
    if (this.#warnings.length > MAX_WARNINGS) this.#warnings.shift();
  }
}
