import type { LsdFamily } from './message.js';
import type { LsdSender, LsdTransport } from './transport.js';

/** A transport that records what is sent and lets a test deliver datagrams; "on link" is 198.18.0.0/15 and fe80::/10. */
export class FakeTransport implements LsdTransport {
  readonly families: LsdFamily[];
  readonly sent: { family: LsdFamily; datagram: Uint8Array }[] = [];
  closed = false;
  #handler: ((datagram: Uint8Array, from: LsdSender) => void) | undefined;

  constructor(families: LsdFamily[] = ['IPv4']) {
    this.families = families;
  }

  receive(handler: (datagram: Uint8Array, from: LsdSender) => void): void {
    this.#handler = handler;
  }

  send(family: LsdFamily, datagram: Uint8Array): void {
    this.sent.push({ family, datagram });
  }

  onLink(address: string): boolean {
    return /^198\.1[89]\./.test(address) || address.startsWith('fe80:');
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** A datagram arrives from `address`. */
  deliver(datagram: Uint8Array | string, address = '198.18.0.2'): void {
    const bytes = typeof datagram === 'string' ? Buffer.from(datagram, 'latin1') : datagram;
    this.#handler?.(bytes, { address, family: address.includes(':') ? 'IPv6' : 'IPv4', port: 6771 });
  }
}
