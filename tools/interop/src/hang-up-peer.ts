import { createServer, type AddressInfo } from 'node:net';

/** A peer that takes our connection and hangs up: see {@link startHangUpPeer}. */
export interface HangUpPeer {
  readonly port: number;
  /** Handshakes received (each one hung up on). */
  handshakes(): number;
  close(): Promise<void>;
}

/**
 * A TCP peer on 127.0.0.1 that reads the 68-byte BitTorrent handshake and closes the connection,
 * as a peer that insists on encryption (or is full) does with a plain one.
 */
export async function startHangUpPeer(): Promise<HangUpPeer> {
  let handshakes = 0;
  const server = createServer((sock) => {
    let got = 0;
    sock.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= 68) {
        handshakes++;
        sock.destroy();
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    handshakes: () => handshakes,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
