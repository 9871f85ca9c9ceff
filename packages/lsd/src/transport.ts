import { createSocket, type Socket } from 'node:dgram';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { LsdError } from './errors.js';
import { LSD_GROUP_IPV4, LSD_GROUP_IPV6, LSD_PORT, type LsdFamily } from './message.js';

/** Who sent a datagram: its source address (with a `%zone` for IPv6 link-local) and UDP port. */
export interface LsdSender {
  address: string;
  family: LsdFamily;
  port: number;
}

/**
 * What LocalDiscovery sends and receives through: the multicast sockets, or a fake in tests.
 * `send` goes to the group of `family` on every interface of that family.
 */
export interface LsdTransport {
  /** The families that have at least one working interface. */
  readonly families: readonly LsdFamily[];
  /** Starts handing received datagrams to `handler` (called once). */
  receive(handler: (datagram: Uint8Array, from: LsdSender) => void): void;
  send(family: LsdFamily, datagram: Uint8Array): void;
  /** Whether `address` is on the network of one of our interfaces (a neighbour, not someone far away). */
  onLink(address: string): boolean;
  close(): Promise<void>;
}

/** One interface LSD runs on, for one family. */
export interface LsdInterface {
  /** The OS name (eth0, veth1...). */
  name: string;
  family: LsdFamily;
  /** The address we send from (IPv6 link-local with its `%name` zone). */
  address: string;
  /** Every prefix of this interface in this family, for onLink (`198.18.0.0/24`, `2001:db8::/64`). */
  prefixes: string[];
  internal: boolean;
}

/** What `os.networkInterfaces()` returns. */
export type NetworkInterfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

const familyOf = (a: NetworkInterfaceInfo): LsdFamily => a.family;
const linkLocal = (address: string): boolean => /^fe[89ab]/i.test(address);
const stripZone = (address: string): string => address.replace(/%.*$/, '');

/**
 * The interfaces to run LSD on. `select` names them by address (`198.18.0.1`, `2001:db8::1`: that
 * family on the interface holding it) or by name (`eth0`: both families). Without `select`: every
 * interface that is not loopback (LSD is for the local network; loopback is used only when named).
 * An address or name this machine does not have is an error.
 * @throws LsdError BAD_ARGUMENT naming what was not found
 */
export function lsdInterfaces(select?: readonly string[], interfaces: NetworkInterfaces = networkInterfaces()): LsdInterface[] {
  const all: LsdInterface[] = [];
  for (const [name, addrs] of Object.entries(interfaces)) {
    for (const family of ['IPv4', 'IPv6'] as const) {
      const mine = (addrs ?? []).filter((a) => familyOf(a) === family);
      if (mine.length === 0) continue;
      // Send from a global (or ULA) address when there is one: link-local needs its zone everywhere.
      const best = mine.find((a) => !linkLocal(a.address)) ?? mine[0]!;
      all.push({
        name,
        family,
        address: family === 'IPv6' && linkLocal(best.address) ? `${stripZone(best.address)}%${name}` : best.address,
        prefixes: mine.map((a) => a.cidr ?? `${a.address}/${family === 'IPv4' ? 32 : 128}`),
        internal: mine.every((a) => a.internal),
      });
    }
  }
  if (!select) return all.filter((i) => !i.internal);
  const out: LsdInterface[] = [];
  for (const want of select) {
    let found: LsdInterface[];
    if (isIP(stripZone(want)) !== 0) {
      const wanted = stripZone(want).toLowerCase();
      found = all.filter((i) => (interfaces[i.name] ?? []).some((a) => familyOf(a) === i.family && stripZone(a.address).toLowerCase() === wanted));
      // Send from the very address asked for.
      found = found.map((i) => ({ ...i, address: i.family === 'IPv6' && linkLocal(wanted) ? `${wanted}%${i.name}` : wanted }));
    } else {
      found = all.filter((i) => i.name === want);
    }
    if (found.length === 0) throw new LsdError('BAD_ARGUMENT', `no interface ${JSON.stringify(want)} on this machine`);
    for (const i of found) if (!out.some((o) => o.name === i.name && o.family === i.family)) out.push(i);
  }
  return out;
}

/** Whether `address` lies in one of `interfaces`' prefixes (IPv6 link-local always does: it is on some link of ours). */
export function onLink(address: string, interfaces: readonly LsdInterface[]): boolean {
  const bare = stripZone(address);
  const v = isIP(bare);
  if (v === 0) return false;
  if (v === 6 && linkLocal(bare)) return interfaces.some((i) => i.family === 'IPv6');
  const list = new BlockList();
  for (const i of interfaces) {
    for (const p of i.prefixes) {
      const slash = p.lastIndexOf('/');
      const net = stripZone(p.slice(0, slash));
      const type = isIP(net) === 4 ? 'ipv4' : 'ipv6';
      list.addSubnet(net, Number(p.slice(slash + 1)), type);
    }
  }
  return list.check(bare, v === 4 ? 'ipv4' : 'ipv6');
}

/** The real transport: it also says which interfaces it runs on. */
export interface UdpLsdTransport extends LsdTransport {
  readonly interfaces: readonly LsdInterface[];
}

export interface UdpTransportOptions {
  /** Where to run (see lsdInterfaces); default every non-loopback interface. */
  interfaces?: readonly LsdInterface[];
  /** Told about sockets that could not be set up and sends that failed (never thrown). */
  onWarning?: (message: string) => void;
}

/** The BEP 14 groups' sockets: one receiving socket per family, one sending socket per interface. */
class UdpTransport implements UdpLsdTransport {
  readonly families: LsdFamily[];
  readonly interfaces: readonly LsdInterface[];
  readonly #receivers: Socket[];
  readonly #senders: { family: LsdFamily; socket: Socket; name: string }[];
  readonly #warn: (message: string) => void;
  #handler: ((datagram: Uint8Array, from: LsdSender) => void) | undefined;
  #closed = false;

  constructor(interfaces: LsdInterface[], receivers: Socket[], senders: { family: LsdFamily; socket: Socket; name: string }[], warn: (m: string) => void) {
    this.interfaces = interfaces;
    this.#receivers = receivers;
    this.#senders = senders;
    this.#warn = warn;
    this.families = [...new Set(senders.map((s) => s.family))];
    for (const r of receivers) {
      r.on('message', (msg, rinfo) => {
        this.#handler?.(msg, {
          address: rinfo.address,
          family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4',
          port: rinfo.port,
        });
      });
    }
  }

  receive(handler: (datagram: Uint8Array, from: LsdSender) => void): void {
    this.#handler = handler;
  }

  send(family: LsdFamily, datagram: Uint8Array): void {
    if (this.#closed) return;
    const group = family === 'IPv4' ? LSD_GROUP_IPV4 : LSD_GROUP_IPV6;
    for (const s of this.#senders) {
      if (s.family !== family) continue;
      s.socket.send(datagram, LSD_PORT, group, (err) => {
        if (err) this.#warn(`LSD announce on ${s.name} (${family}) failed: ${err.message}`);
      });
    }
  }

  onLink(address: string): boolean {
    return onLink(address, this.interfaces);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handler = undefined;
    await Promise.all([...this.#receivers, ...this.#senders.map((s) => s.socket)].map(closeSocket));
  }
}

function closeSocket(s: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

function bindSocket(s: Socket, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    s.once('error', onError);
    s.bind({ address, port, exclusive: false }, () => {
      s.off('error', onError);
      resolve();
    });
  });
}

/**
 * Opens the LSD sockets on `interfaces`. Per family, one socket bound to the group's address and
 * port 6771 (shared with other clients through SO_REUSEADDR; bound to the group, it gets no unicast
 * sent to port 6771), joined on each interface. Per interface, one socket bound to the interface's
 * address that sends to the group with that interface as the multicast interface and TTL / hop
 * limit 1, so an announce never leaves the link it is meant for. Multicast loopback is on: other
 * clients on this machine hear us (and we hear ourselves: LocalDiscovery drops its own cookie).
 * A family or interface that cannot be set up is skipped with a warning (IPv6 is best-effort).
 * @throws LsdError NO_INTERFACE when no interface could be set up
 */
export async function createUdpTransport(options: UdpTransportOptions = {}): Promise<UdpLsdTransport> {
  const warn = options.onWarning ?? (() => undefined);
  const wanted = options.interfaces ?? lsdInterfaces();
  const receivers: Socket[] = [];
  const senders: { family: LsdFamily; socket: Socket; name: string }[] = [];
  const used: LsdInterface[] = [];
  for (const family of ['IPv4', 'IPv6'] as const) {
    const ifaces = wanted.filter((i) => i.family === family);
    if (ifaces.length === 0) continue;
    const group = family === 'IPv4' ? LSD_GROUP_IPV4 : LSD_GROUP_IPV6;
    const type = family === 'IPv4' ? 'udp4' : 'udp6';
    const receiver = createSocket({ type, reuseAddr: true });
    receiver.on('error', (err) => warn(`LSD ${family} socket: ${err.message}`));
    try {
      await bindSocket(receiver, group, LSD_PORT);
    } catch (err) {
      warn(`LSD ${family}: cannot bind ${group} port ${LSD_PORT}: ${(err as Error).message}`);
      await closeSocket(receiver);
      continue;
    }
    let joined = 0;
    for (const i of ifaces) {
      const membership = family === 'IPv4' ? i.address : `::%${i.name}`;
      const sender = createSocket({ type });
      sender.on('error', (err) => warn(`LSD ${family} on ${i.name}: ${err.message}`));
      try {
        receiver.addMembership(group, membership);
        await bindSocket(sender, i.address, 0);
        sender.setMulticastInterface(membership);
        sender.setMulticastTTL(1);
        sender.setMulticastLoopback(true);
      } catch (err) {
        warn(`LSD ${family} on ${i.name} (${i.address}): ${(err as Error).message}`);
        await closeSocket(sender);
        continue;
      }
      senders.push({ family, socket: sender, name: i.name });
      used.push(i);
      joined++;
    }
    if (joined > 0) receivers.push(receiver);
    else await closeSocket(receiver);
  }
  if (senders.length === 0) {
    const names = wanted.map((i) => `${i.name} ${i.address}`).join(', ');
    throw new LsdError('NO_INTERFACE', wanted.length === 0 ? 'no network interface to run LSD on (loopback is used only when named)' : `LSD could not start on ${names}`);
  }
  return new UdpTransport(used, receivers, senders, warn);
}
