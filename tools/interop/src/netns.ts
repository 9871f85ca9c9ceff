// Two network namespaces joined by a veth pair, made by a test and removed after it: a private
// link for traffic that must not touch loopback's shortcuts or the machine's real interfaces
// (multicast, clients that refuse 127/8). Nothing else is attached to either namespace: no
// bridge, no route out, so no packet can reach the host's network.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { InteropError } from './errors.js';

/** One end of the pair: its namespace, its interface and the addresses given to it. */
export interface NetnsEnd {
  readonly ns: string;
  readonly dev: string;
  /** In 198.18.0.0/15 (RFC 2544 benchmarking), a /24 for the pair. */
  readonly ipv4: string;
  /** In 2001:db8::/32 (documentation), a /64 for the pair. */
  readonly ipv6: string;
}

/** Multicast packets sent, at the IP layer, from one namespace (the kernel's IpExt / Ip6 counters). */
export interface MulticastCounters {
  ipv4: number;
  ipv6: number;
}

export interface VethPair {
  readonly a: NetnsEnd;
  readonly b: NetnsEnd;
  /** The argv prefix that runs a program inside `end`'s namespace (`ip netns exec NS`). */
  prefix(end: NetnsEnd): string[];
  /** Multicast packets sent from inside `end`'s namespace so far. */
  multicastSent(end: NetnsEnd): MulticastCounters;
  /** Packets the veth end has sent (`ip -s link`). */
  txPackets(end: NetnsEnd): number;
  /** The interfaces in `end`'s namespace, with the namespace their peer is in (`link-netns`). */
  links(end: NetnsEnd): { name: string; peerNamespace: string | undefined }[];
  /** Deletes both namespaces (the veth pair goes with them). Idempotent; also done at process exit. */
  remove(): void;
}

function ip(args: readonly string[]): { ok: boolean; out: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error) return { ok: false, out: r.error.message };
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

function must(args: readonly string[]): string {
  const r = ip(args);
  if (!r.ok) throw new InteropError('PROGRAM_FAILED', `ip ${args.join(' ')}: ${r.out.trim()}`);
  return r.out;
}

/**
 * Why this machine cannot make network namespaces (not root, no iproute2, no netns support),
 * or undefined when it can. Tests that need them must fail with this, not skip.
 */
export function netnsUnavailable(): string | undefined {
  const version = ip(['-V']);
  if (!version.ok) return `iproute2's ip is not installed (${version.out.trim()}): apt-get install iproute2`;
  if (process.getuid?.() !== 0) return `network namespaces need root (uid ${process.getuid?.() ?? '?'})`;
  const probe = `mlprobe${process.pid}`;
  const add = ip(['netns', 'add', probe]);
  if (!add.ok) return `ip netns add failed: ${add.out.trim()}`;
  ip(['netns', 'del', probe]);
  return undefined;
}

const live = new Set<() => void>();
let hooked = false;

/** Multicast packets sent from the namespace this process is in (the root one, for a test). */
export function hostMulticastSent(): MulticastCounters {
  return parseCounters(readFileSync('/proc/net/netstat', 'utf8'), readFileSync('/proc/net/snmp6', 'utf8'));
}

/** The multicast groups joined on the host namespace's interfaces (`ip maddr show`). */
export function hostMulticastGroups(): string {
  return must(['maddr', 'show']);
}

/**
 * The host's multicast groups on the interfaces that reach other machines (every one but `lo`):
 * a group joined on `lo` (by another test's LSD on loopback) never leaves this machine.
 */
export function hostOutsideMulticastGroups(): string {
  // `ip maddr show` prints one block per interface, each opening with `N:\tname`.
  return hostMulticastGroups()
    .split(/\n(?=\d+:\s)/)
    .filter((block) => !/^\d+:\s+lo\b/.test(block))
    .join('\n');
}

function parseCounters(netstat: string, snmp6: string): MulticastCounters {
  const lines = netstat.split('\n').filter((l) => l.startsWith('IpExt:'));
  const names = (lines[0] ?? '').trim().split(/\s+/);
  const values = (lines[1] ?? '').trim().split(/\s+/);
  const v4 = Number(values[names.indexOf('OutMcastPkts')] ?? NaN);
  const v6 = Number(/^Ip6OutMcastPkts\s+(\d+)/m.exec(snmp6)?.[1] ?? NaN);
  return { ipv4: v4, ipv6: v6 };
}

/**
 * Makes namespaces `mlA<id>` and `mlB<id>` with one veth pair between them (created inside
 * them: the pair never exists in the host namespace), addresses `198.18.N.1/24` and `.2`,
 * `2001:db8:N::1/64` and `::2` (no duplicate address detection wait), both ends and loopback up,
 * and a multicast route on each end (Transmission joins groups on the default interface).
 * @throws InteropError START_FAILED naming why namespaces cannot be made here
 */
export function makeVethPair(): VethPair {
  const why = netnsUnavailable();
  if (why) throw new InteropError('START_FAILED', `cannot make network namespaces: ${why}`);
  const id = `${process.pid % 100000}${randomBytes(2).toString('hex')}`;
  const n = randomBytes(1)[0]!;
  const end = (side: 'a' | 'b', host: number): NetnsEnd => ({
    ns: `ml${side.toUpperCase()}${id}`,
    dev: `ml${side}${id}`.slice(0, 15),
    ipv4: `198.18.${n}.${host}`,
    ipv6: `2001:db8:${n.toString(16)}::${host}`,
  });
  const a = end('a', 1);
  const b = end('b', 2);
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    live.delete(remove);
    ip(['netns', 'del', a.ns]);
    ip(['netns', 'del', b.ns]);
  };
  live.add(remove);
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const r of [...live]) r();
    });
  }
  try {
    must(['netns', 'add', a.ns]);
    must(['netns', 'add', b.ns]);
    must(['link', 'add', a.dev, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.dev, 'netns', b.ns]);
    for (const e of [a, b]) {
      must(['-n', e.ns, 'link', 'set', 'lo', 'up']);
      must(['-n', e.ns, 'addr', 'add', `${e.ipv4}/24`, 'dev', e.dev]);
      must(['-n', e.ns, '-6', 'addr', 'add', `${e.ipv6}/64`, 'dev', e.dev, 'nodad']);
      must(['-n', e.ns, 'link', 'set', e.dev, 'multicast', 'on', 'up']);
      must(['-n', e.ns, 'route', 'add', '224.0.0.0/4', 'dev', e.dev]);
    }
  } catch (err) {
    remove();
    throw err;
  }
  return {
    a,
    b,
    prefix: (e) => ['ip', 'netns', 'exec', e.ns],
    multicastSent: (e) => parseCounters(must(['netns', 'exec', e.ns, 'cat', '/proc/net/netstat']), must(['netns', 'exec', e.ns, 'cat', '/proc/net/snmp6'])),
    txPackets: (e) => {
      const [link] = JSON.parse(must(['-n', e.ns, '-s', '-j', 'link', 'show', 'dev', e.dev])) as { stats64?: { tx?: { packets?: number } } }[];
      return link?.stats64?.tx?.packets ?? NaN;
    },
    links: (e) =>
      (JSON.parse(must(['-n', e.ns, '-j', 'link', 'show'])) as { ifname: string; link_netnsid?: number }[]).map((l) => ({
        name: l.ifname,
        peerNamespace: l.link_netnsid === undefined ? undefined : namespaceOfId(e.ns, l.link_netnsid),
      })),
    remove,
  };
}

/** The name of the namespace that `ns` knows by `id` (`ip netns list-id`). */
function namespaceOfId(ns: string, id: number): string | undefined {
  const out = must(['-n', ns, 'netns', 'list-id']);
  return new RegExp(`nsid ${id} \\(iproute2 netns name: (\\S+)\\)`).exec(out)?.[1];
}
