/** A request the daemon refuses (bad torrent, unreadable file, ...): answered as an RPC error result. */
export class DaemonError extends Error {
  override name = 'DaemonError';
}
