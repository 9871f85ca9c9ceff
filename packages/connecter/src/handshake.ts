import { HANDSHAKE_LENGTH, PROTOCOL_NAME } from './constants.js';
import { ConnecterError } from './errors.js';

export const PROTOCOL_HEADER: Uint8Array = Buffer.concat([Buffer.from([PROTOCOL_NAME.length]), Buffer.from(PROTOCOL_NAME, 'latin1')]);

export function checkId(name: string, bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 20) {
    throw new ConnecterError('BAD_ARGUMENT', `${name} must be 20 bytes`);
  }
}

/** The 68-byte handshake: 19, "BitTorrent protocol", reserved[8], info-hash[20], peer id[20]. */
export function encodeHandshake(infoHash: Uint8Array, peerId: Uint8Array, reserved: Uint8Array): Buffer {
  checkId('infoHash', infoHash);
  checkId('peerId', peerId);
  if (reserved.length !== 8) throw new ConnecterError('BAD_ARGUMENT', 'reserved must be 8 bytes');
  const out = Buffer.allocUnsafe(HANDSHAKE_LENGTH);
  out.set(PROTOCOL_HEADER, 0);
  out.set(reserved, 20);
  out.set(infoHash, 28);
  out.set(peerId, 48);
  return out;
}
