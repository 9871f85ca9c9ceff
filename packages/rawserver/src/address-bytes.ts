import { isIP } from 'node:net';

/**
 * An IP address as its 4 (IPv4, also for IPv4-mapped IPv6) or 16 network-order bytes, the
 * form compact peer lists and BEP 10's `yourip` use; undefined for text that is no address.
 */
export function addressBytes(address: string): Uint8Array | undefined {
  const family = isIP(address);
  if (family === 4) return Uint8Array.from(address.split('.').map(Number));
  if (family !== 6) return undefined;
  const plain = address.split('%')[0] as string; // a zone id is local to us
  let head = plain;
  let tail = '';
  const dotted = /:(\d+\.\d+\.\d+\.\d+)$/.exec(plain);
  if (dotted) {
    head = plain.slice(0, dotted.index + 1) + '0:0';
    tail = dotted[1] as string;
  }
  const [left = '', right] = head.split('::');
  const groups = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const l = groups(left);
  const r = right === undefined ? [] : groups(right);
  const all = [...l, ...new Array<number>(8 - l.length - r.length).fill(0), ...r];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  if (tail) out.set(tail.split('.').map(Number), 12);
  const mapped = out.subarray(0, 10).every((b) => b === 0) && out[10] === 0xff && out[11] === 0xff;
  return mapped ? out.slice(12) : out;
}
