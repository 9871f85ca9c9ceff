import { randomBytes } from 'node:crypto';

/** Client version in peer ids: Azureus style `-ML0100-` (ML = mainline TS, 0.1.0.0). */
export const PEER_ID_PREFIX = '-ML0100-';

/**
 * A fresh 20-byte peer id: the Azureus-style prefix other clients recognise, then 12 random
 * bytes (mainline used `M3-4-2--` + hex of a SHA-1 of time and pid; random bytes are stronger).
 */
export function makePeerId(prefix = PEER_ID_PREFIX): Uint8Array {
  const head = Buffer.from(prefix, 'ascii');
  if (head.length > 20) throw new RangeError('peer id prefix longer than 20 bytes');
  return Buffer.concat([head, randomBytes(20 - head.length)]);
}
