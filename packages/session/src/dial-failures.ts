import { MetadataFetcher, Swarm, type PeerCloseReason } from '@mainline/connecter';

/** Told when a dial fails before the handshake completed: `ip:port` and why, in words. */
export type DialFailureListener = (address: string, reason: string) => void;

const CONNECT_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'refused the connection (nothing listens on that port)',
  EHOSTUNREACH: 'is unreachable (no route to the host)',
  ENETUNREACH: 'is unreachable (no route to its network)',
  ECONNRESET: 'reset the connection',
};

/**
 * Why an outgoing connection ended before the peers' handshakes completed, as a user reads it
 * after "peer 10.0.0.1:6881 ..."; undefined when we closed it ourselves (shutting down). A peer
 * that accepts the TCP connection and closes it on our plain handshake most likely insists on
 * encryption (MSE), which we do not speak, or is full.
 */
export function dialFailure(reason: PeerCloseReason | undefined, error: Error | undefined): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (reason) {
    case 'local':
    case 'shutdown':
      return undefined;
    case 'connect-failed':
      return (code && CONNECT_ERRORS[code]) ?? `could not be connected: ${error?.message ?? 'connect failed'}`;
    case 'connect-timeout':
      return 'did not answer (connect timed out)';
    case 'remote-closed':
      return 'closed the connection after the handshake: it may require encryption';
    case 'timeout':
      return 'sent no handshake in time';
    case 'protocol-error':
      return `was dropped: ${error?.message ?? 'it broke the protocol'}`;
    default:
      return `could not be connected: ${error?.message ?? reason ?? 'unknown reason'}`;
  }
}

function report(listener: DialFailureListener | undefined, host: string, port: number, reason?: PeerCloseReason, error?: Error): void {
  const why = dialFailure(reason, error);
  if (listener && why !== undefined) listener(`${host}:${port}`, why);
}

/**
 * A Swarm that says why its dials fail (the wire hub tells the swarm, which only frees the
 * slot and tells the peer list). This is where Torrent's `peer-failed` comes from.
 */
export class ReportingSwarm extends Swarm {
  onDialFailed: DialFailureListener | undefined;

  override onConnectFailed(host: string, port: number, reason: PeerCloseReason, error?: Error): void {
    super.onConnectFailed(host, port, reason, error);
    report(this.onDialFailed, host, port, reason, error);
  }
}

/** The metadata fetcher of a magnet link, saying why its dials fail (as ReportingSwarm). */
export class ReportingMetadataFetcher extends MetadataFetcher {
  onDialFailed: DialFailureListener | undefined;

  override onConnectFailed(host: string, port: number, reason?: PeerCloseReason, error?: Error): void {
    super.onConnectFailed(host, port, reason, error);
    report(this.onDialFailed, host, port, reason, error);
  }
}
