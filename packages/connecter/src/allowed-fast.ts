import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { ConnecterError } from './errors.js';

/** BEP 6's size of the allowed-fast set. */
export const ALLOWED_FAST_COUNT = 10;

/**
 * The address bytes the set is derived from. IPv4 (also IPv4-mapped IPv6): the /24, last octet
 * zeroed, as BEP 6 says, so that peers behind one NAT share one set and cannot collect several.
 * IPv6 has no rule in the BEP: its /48 (the rest zeroed), the usual size of one site.
 */
function addressBytes(address: string): Uint8Array {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const v4 = mapped ? mapped[1]! : address;
  if (isIP(v4) === 4) {
    const octets = v4.split('.').map(Number);
    return Uint8Array.of(octets[0]!, octets[1]!, octets[2]!, 0);
  }
  if (isIP(address) !== 6) throw new ConnecterError('BAD_ARGUMENT', `not an IP address: ${address}`);
  const bytes = new Uint8Array(16);
  const [head = '', tail = ''] = address.split('::');
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const h = groups(head);
  const t = address.includes('::') ? groups(tail) : [];
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  for (let i = 0; i < 3; i++) {
    bytes[2 * i] = all[i]! >> 8;
    bytes[2 * i + 1] = all[i]! & 0xff;
  }
  return bytes;
}

/**
 * The allowed-fast set of BEP 6 for a peer at `address`: x = masked address ‖ info-hash, then
 * x = SHA-1(x) again and again, each digest giving five 32-bit big-endian words, each word mod
 * `pieceCount` a piece, until `k` distinct pieces (all of them when the torrent has no more
 * than `k`). Deterministic, so a peer that reconnects gets the same set.
 */
export function allowedFastSet(address: string, infoHash: Uint8Array, pieceCount: number, k = ALLOWED_FAST_COUNT): number[] {
  if (infoHash.length !== 20) throw new ConnecterError('BAD_ARGUMENT', 'infoHash must be 20 bytes');
  if (!Number.isInteger(pieceCount) || pieceCount < 0) throw new ConnecterError('BAD_ARGUMENT', `bad piece count ${pieceCount}`);
  const want = Math.min(k, pieceCount);
  if (want <= 0) return [];
  if (want === pieceCount) return Array.from({ length: pieceCount }, (_, i) => i);
  const ip = addressBytes(address);
  let x: Buffer = Buffer.concat([ip, infoHash]);
  const set: number[] = [];
  const seen = new Set<number>();
  while (set.length < want) {
    x = createHash('sha1').update(x).digest();
    for (let i = 0; i < 5 && set.length < want; i++) {
      const index = x.readUInt32BE(4 * i) % pieceCount;
      if (!seen.has(index)) {
        seen.add(index);
        set.push(index);
      }
    }
  }
  return set;
}
