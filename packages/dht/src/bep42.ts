// BEP 42: a node id whose top 21 bits come from a CRC32C of the node's (masked) external IP, so an
// attacker cannot pick ids next to a target without also owning addresses there.
import { randomBytes } from 'node:crypto';
import { encodeIp, familyOf } from './compact.js';
import { ID_BYTES } from './id.js';

const CRC32C = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC32C (Castagnoli), as BEP 42 uses. */
export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC32C[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const V4_MASK = [0x03, 0x0f, 0x3f, 0xff];
const V6_MASK = [0x01, 0x03, 0x07, 0x0f, 0x1f, 0x3f, 0x7f, 0xff];

function crcOf(ip: Uint8Array, r: number): number {
  const mask = ip.length === 4 ? V4_MASK : V6_MASK;
  const b = Uint8Array.from(mask, (m, i) => ip[i]! & m);
  b[0]! |= (r & 7) << 5;
  return crc32c(b);
}

/**
 * The node id BEP 42 prescribes for `host` with the random byte `r` (its low 3 bits enter the CRC,
 * the whole byte is the id's last byte); the bytes in between come from `fill` (random by default).
 */
export function bep42Id(host: string, r: number = randomBytes(1)[0]!, fill: Uint8Array = randomBytes(ID_BYTES)): Uint8Array {
  const family = familyOf(host);
  const ip = family === undefined ? undefined : encodeIp(host, family);
  if (!ip) throw new TypeError(`not an IP address: ${host}`);
  const crc = crcOf(ip, r);
  const id = Uint8Array.from(fill.subarray(0, ID_BYTES));
  id[0] = (crc >>> 24) & 0xff;
  id[1] = (crc >>> 16) & 0xff;
  id[2] = ((crc >>> 8) & 0xf8) | (id[2]! & 0x07);
  id[19] = r & 0xff;
  return id;
}

/** Whether `id` satisfies BEP 42 for `host` (exempt addresses always do). */
export function isValidBep42Id(id: Uint8Array, host: string): boolean {
  if (isBep42Exempt(host)) return true;
  const family = familyOf(host);
  const ip = family === undefined ? undefined : encodeIp(host, family);
  if (!ip || id.length !== ID_BYTES) return false;
  const crc = crcOf(ip, id[19]!);
  return id[0] === ((crc >>> 24) & 0xff) && id[1] === ((crc >>> 16) & 0xff) && (id[2]! & 0xf8) === ((crc >>> 8) & 0xf8);
}

/**
 * Addresses BEP 42 does not apply to: local networks (10/8, 172.16/12, 192.168/16, 169.254/16,
 * 127/8), and for IPv6 loopback, link-local and unique-local ones.
 */
export function isBep42Exempt(host: string): boolean {
  const family = familyOf(host);
  const ip = family === undefined ? undefined : encodeIp(host, family);
  if (!ip) return true;
  if (family === 4) {
    const [a, b] = [ip[0]!, ip[1]!];
    return a === 10 || a === 127 || (a === 172 && (b & 0xf0) === 16) || (a === 192 && b === 168) || (a === 169 && b === 254) || a === 0;
  }
  const loopback = ip.every((v, i) => v === (i === 15 ? 1 : 0));
  return loopback || (ip[0] === 0xfe && (ip[1]! & 0xc0) === 0x80) || (ip[0]! & 0xfe) === 0xfc;
}
