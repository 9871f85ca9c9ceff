import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/** Why an address is not dialled. */
export type AddressRejection =
  /** Not a host name or IP address, or a port outside 1..65535. */
  | 'invalid'
  /** `0.0.0.0/8` or `::`: nobody is there. */
  | 'unspecified'
  /** Multicast, broadcast or reserved (`224.0.0.0/3`, `ff00::/8`): dialling it is never a peer. */
  | 'multicast'
  /** A port below 1024: a peer there is rare, a web or mail server common (hostile trackers point clients at them). */
  | 'privileged-port'
  /** Our own listening address and port. */
  | 'self'
  /** Banned by this torrent (e.g. for sending corrupt data). */
  | 'banned';

/**
 * The text form every address is compared in: IPv4-mapped IPv6 as IPv4, IPv6 lower-case and
 * compressed (RFC 5952, as Node's URL parser writes it), host names lower-case.
 */
export function canonicalHost(host: string): string {
  const v = isIP(host);
  if (v === 4) return host;
  const lower = host.toLowerCase();
  if (v !== 6) return lower;
  if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7);
  try {
    const compressed = new URL(`http://[${lower}]/`).hostname.slice(1, -1);
    // `::ffff:1.2.3.4` written as hex groups comes out of the URL parser as `::ffff:102:304`.
    const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(compressed);
    if (!m) return compressed;
    const hi = parseInt(m[1]!, 16);
    const lo = parseInt(m[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  } catch {
    return lower; // a zone id (fe80::1%eth0): compared as written
  }
}

/** The class of an IP address that no peer can have: unspecified, multicast, broadcast, reserved. */
function unroutable(host: string): AddressRejection | undefined {
  const v = isIP(host);
  if (v === 4) {
    const first = Number(host.slice(0, host.indexOf('.')));
    if (first === 0) return 'unspecified';
    if (first >= 224) return 'multicast'; // 224/4 multicast, 240/4 reserved, 255.255.255.255 broadcast
    return undefined;
  }
  if (v === 6) {
    if (host === '::') return 'unspecified';
    if (host.startsWith('ff')) return 'multicast';
  }
  return undefined;
}

export interface AddressFilterOptions {
  /** Dial ports below 1024 too (default false; peers the user names are dialled on any port). */
  allowPrivilegedPorts?: boolean;
  /** The addresses of this machine (default: every interface's, from `os.networkInterfaces()`). */
  localAddresses?: () => Iterable<string>;
}

/**
 * Which addresses a torrent may dial, for every source of peers: never the unspecified address,
 * multicast or broadcast, port 0, ports below 1024 (unless allowed, or named by the user), or
 * ourselves (any of our addresses with our listening port, including the address a tracker says
 * it sees us at). One per session: the listening port and our addresses are the session's.
 */
export class AddressFilter {
  readonly allowPrivilegedPorts: boolean;
  #port = 0;
  readonly #own = new Set<string>();
  readonly #localAddresses: () => Iterable<string>;

  constructor(options: AddressFilterOptions = {}) {
    this.allowPrivilegedPorts = options.allowPrivilegedPorts ?? false;
    this.#localAddresses = options.localAddresses ?? interfaceAddresses;
  }

  /** We listen on `port` now, on `bind` ('' = every interface). */
  listening(port: number, bind = ''): void {
    this.#port = port;
    this.#own.clear();
    const mine = bind !== '' && bind !== '0.0.0.0' && bind !== '::' ? [bind] : [...this.#localAddresses(), '127.0.0.1', '::1'];
    for (const a of mine) this.#own.add(canonicalHost(a));
  }

  /** Another address we are reached at (a tracker's BEP 24 `external ip`, a configured public address). */
  addOwnAddress(host: string): void {
    this.#own.add(canonicalHost(host));
  }

  /** Whether `host:port` is us. */
  isSelf(host: string, port: number): boolean {
    return this.#port !== 0 && port === this.#port && this.#own.has(canonicalHost(host));
  }

  /**
   * Why `host:port` must not be dialled, or undefined when it may be. `named`: the user named this
   * peer (it may be on a privileged port). `host` must be canonical (see canonicalHost).
   */
  check(host: string, port: number, named = false): AddressRejection | undefined {
    if (typeof host !== 'string' || host === '' || !Number.isInteger(port) || port < 1 || port > 65535) return 'invalid';
    const bad = unroutable(host);
    if (bad) return bad;
    if (port < 1024 && !named && !this.allowPrivilegedPorts) return 'privileged-port';
    if (this.isSelf(host, port)) return 'self';
    return undefined;
  }

  /** The peers that pass check(), with canonical addresses. */
  allowed(peers: readonly { ip: string; port: number }[], named = false): { ip: string; port: number }[] {
    const out: { ip: string; port: number }[] = [];
    for (const p of peers) {
      const ip = typeof p.ip === 'string' ? canonicalHost(p.ip) : '';
      if (this.check(ip, p.port, named) === undefined) out.push({ ip, port: p.port });
    }
    return out;
  }
}

function interfaceAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.push(a.address);
  return out;
}
