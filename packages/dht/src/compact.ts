import { isIP } from 'node:net';
import { ID_BYTES } from './id.js';

/** An address family: the IPv4 DHT or the IPv6 DHT (BEP 32). */
export type Family = 4 | 6;

/** A UDP (or peer) address. */
export interface Address {
  readonly host: string;
  readonly port: number;
}

/** A DHT node: its id and UDP address. */
export interface NodeInfo extends Address {
  readonly id: Uint8Array;
}

/** A peer address (from `values`) in the family of the DHT that returned it. */
export interface Peer extends Address {
  readonly family: Family;
}

/** 4 or 6 for an IP literal, undefined for anything else (names are resolved before they get here). */
export function familyOf(host: string): Family | undefined {
  const v = isIP(host);
  return v === 4 ? 4 : v === 6 ? 6 : undefined;
}

/** An IPv4-mapped IPv6 address (from a dual-stack socket) as plain IPv4; other hosts unchanged. */
export function unmapHost(host: string): string {
  if (host.length > 7 && host.slice(0, 7).toLowerCase() === '::ffff:' && isIP(host.slice(7)) === 4) return host.slice(7);
  return host;
}

export const ipBytes = (family: Family): number => (family === 4 ? 4 : 16);
export const peerBytes = (family: Family): number => ipBytes(family) + 2;
export const nodeBytes = (family: Family): number => ID_BYTES + peerBytes(family);

/** The bytes of an IP literal of the given family, or undefined if it is not one. */
export function encodeIp(host: string, family: Family): Uint8Array | undefined {
  if (familyOf(host) !== family) return undefined;
  if (family === 4) {
    const parts = host.split('.');
    return Uint8Array.from(parts, (p) => Number(p));
  }
  return encodeIpv6(host);
}

function encodeIpv6(host: string): Uint8Array {
  let text = host;
  const out = new Uint8Array(16);
  // A trailing dotted quad (::ffff:1.2.3.4) fills the last 4 bytes.
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    tail = text
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? headGroups : [...headGroups, ...new Array<string>(8 - headGroups.length - restGroups.length).fill('0'), ...restGroups];
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  if (tail.length === 4) out.set(tail, 12);
  return out;
}

/** The text form of 4 or 16 IP bytes (IPv6 in the shortest form, as node:net prints it). */
export function decodeIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // Longest run of zero groups (length ≥ 2) becomes '::'.
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

/** Compact peer info: IP bytes then the port, big-endian (6 or 18 bytes). */
export function encodePeer(addr: Address, family: Family): Uint8Array | undefined {
  const ip = encodeIp(addr.host, family);
  if (!ip) return undefined;
  const out = new Uint8Array(ip.length + 2);
  out.set(ip);
  out[ip.length] = addr.port >> 8;
  out[ip.length + 1] = addr.port & 0xff;
  return out;
}

/** Reads compact peer info of 6 or 18 bytes. */
export function decodePeer(bytes: Uint8Array): Peer {
  const n = bytes.length - 2;
  return { host: decodeIp(bytes.subarray(0, n)), port: (bytes[n]! << 8) | bytes[n + 1]!, family: n === 4 ? 4 : 6 };
}

/** Compact forms of the nodes we list often (table entries), so replies do not re-parse their addresses. */
const compactCache = new WeakMap<NodeInfo, Uint8Array>();

/** Concatenated compact node infos (26 or 38 bytes each); nodes of the other family are skipped. */
export function encodeNodes(nodes: readonly NodeInfo[], family: Family): Uint8Array {
  const size = nodeBytes(family);
  const out = new Uint8Array(nodes.length * size);
  let at = 0;
  for (const n of nodes) {
    let entry = compactCache.get(n);
    if (!entry) {
      const peer = encodePeer(n, family);
      if (!peer || n.id.length !== ID_BYTES) continue;
      entry = new Uint8Array(size);
      entry.set(n.id);
      entry.set(peer, ID_BYTES);
      compactCache.set(n, entry);
    }
    if (entry.length !== size) continue;
    out.set(entry, at);
    at += size;
  }
  return out.subarray(0, at);
}

/** Splits a `nodes`/`nodes6` string; the caller has checked that its length is a multiple of the entry size. */
export function decodeNodes(bytes: Uint8Array, family: Family): NodeInfo[] {
  const size = nodeBytes(family);
  const out: NodeInfo[] = [];
  for (let at = 0; at + size <= bytes.length; at += size) {
    const peer = decodePeer(bytes.subarray(at + ID_BYTES, at + size));
    out.push({ id: bytes.slice(at, at + ID_BYTES), host: peer.host, port: peer.port });
  }
  return out;
}

/** Concatenated compact addresses without ids (6 or 18 bytes each), as in Transmission's dht.dat. */
export function encodeAddresses(addrs: readonly Address[], family: Family): Uint8Array {
  const parts = addrs.map((a) => encodePeer(a, family)).filter((p): p is Uint8Array => p !== undefined);
  const out = new Uint8Array(parts.length * peerBytes(family));
  parts.forEach((p, i) => out.set(p, i * p.length));
  return out;
}

export function decodeAddresses(bytes: Uint8Array, family: Family): Peer[] {
  const size = peerBytes(family);
  const out: Peer[] = [];
  for (let at = 0; at + size <= bytes.length; at += size) out.push(decodePeer(bytes.subarray(at, at + size)));
  return out;
}

/** Key of an address in maps. */
export const addressKey = (a: Address): string => `${a.host}|${a.port}`;
