import { randomBytes } from 'node:crypto';
import { VERSION } from './version.js';

/**
 * The Azureus-style prefix for a version: `-MN` + major, minor, patch as one character each
 * (0-9, then A-Z for 10-35, as other clients do) + `0-`. 0.1.0 → `-MN0100-`.
 * @throws RangeError for a version that is not x.y.z with parts up to 35
 */
export function peerIdPrefix(version: string): string {
  const parts = /^(\d+)\.(\d+)\.(\d+)/.exec(version)?.slice(1).map(Number);
  if (!parts || parts.some((n) => n > 35)) throw new RangeError(`version ${version} does not fit an Azureus-style peer id`);
  return `-MN${parts.map((n) => n.toString(36).toUpperCase()).join('')}0-`;
}

/**
 * Client version in peer ids: Azureus style `-MN0100-` (MN = mainline, 0.1.0.0: from the session
 * package's version). `ML` was taken:
 * it is MLDonkey's code in BEP 20's list, libtorrent's identify_client and Transmission's
 * clients.c, so they showed us as MLDonkey. MN is in none of them (nor in BiglyBT's table):
 * libtorrent names us `MN 0.1.0`, Transmission `-MN0100-`.
 */
export const PEER_ID_PREFIX = peerIdPrefix(VERSION);

/**
 * A fresh 20-byte peer id: the Azureus-style prefix other clients recognise, then 12 random
 * bytes (mainline used `M3-4-2--` + hex of a SHA-1 of time and pid; random bytes are stronger).
 */
export function makePeerId(prefix = PEER_ID_PREFIX): Uint8Array {
  const head = Buffer.from(prefix, 'ascii');
  if (head.length > 20) throw new RangeError('peer id prefix longer than 20 bytes');
  return Buffer.concat([head, randomBytes(20 - head.length)]);
}

/** Azureus-style codes of the clients met most (BEP 20, libtorrent's identify_client). */
const CLIENTS: Record<string, string> = {
  LT: 'libtorrent (Rasterbar)',
  lt: 'libTorrent (Rakshasa)',
  TR: 'Transmission',
  qB: 'qBittorrent',
  DE: 'Deluge',
  UT: 'µTorrent',
  AZ: 'Azureus',
  BI: 'BiglyBT',
  ML: 'MLDonkey',
  MN: 'mainline-ts',
  WW: 'WebTorrent',
};

/**
 * A readable client name from a peer id: Azureus style `-LT2080-` → `libtorrent (Rasterbar)
 * 2.0.8.0` (an unknown code stays as its two letters), otherwise the printable start of the id
 * (`A2-1-37-` for aria2); '' when there is nothing to go by.
 */
export function clientName(peerId: Uint8Array | undefined): string {
  if (!peerId || peerId.length < 8) return '';
  const head = Buffer.from(peerId.subarray(0, 8)).toString('latin1');
  const m = /^-([A-Za-z~]{2})([0-9A-Za-z]{4})-$/.exec(head);
  if (m) {
    const name = CLIENTS[m[1]!] ?? m[1]!;
    const digits = [...m[2]!].map((c) => (/[0-9]/.test(c) ? c : String(c.charCodeAt(0) - 55)));
    return `${name} ${digits.join('.')}`;
  }
  return [...head].every((c) => c >= ' ' && c <= '~') ? head.replace(/-+$/, '') : '';
}
