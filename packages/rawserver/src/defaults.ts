import { checkNonNegative, RawServerError } from './errors.js';
import type { WriteLimits } from './peer-socket.js';

/** mainline 3.x defaults (download.py), plus the Node-era additions. */
export const RAWSERVER_DEFAULTS = {
  /** Close a socket after this long with nothing received. */
  timeoutMs: 300_000,
  /** How often that is checked. */
  timeoutCheckIntervalMs: 60_000,
  /** Refuse incoming connections while this many sockets are open. */
  maxAllowIn: 55,
  /** Most outgoing connects in progress at once; further dials wait their turn. (Not in mainline.) */
  maxHalfOpen: 20,
  /** Give up an outgoing connect after this long. (Not in mainline: it waited for the OS.) */
  connectTimeoutMs: 15_000,
  /** A socket whose send queue reaches this many bytes is congested. (mainline waited for empty.) */
  writeThreshold: 256 * 1024,
  /**
   * A send queue may never hold more than this (default: the larger of 2 MiB and 4 × the
   * threshold); a socket that would go past it is closed ('write-overflow'). (Not in mainline.)
   */
  maxWriteQueue: 2 * 1024 * 1024,
  /**
   * Listen backlog: Node's own default (mainline used 5, which drops bursts of honest connects;
   * the kernel caps it at net.core.somaxconn).
   */
  backlog: 511,
  /** Most sockets open to or from one IP address; incoming ones beyond it are refused. (Not in mainline.) */
  maxConnectionsPerIp: 8,
  /** Port range. */
  minPort: 6881,
  maxPort: 6999,
} as const;

/**
 * The send-queue bounds from options (`writeThreshold`, `lowWaterMark`, `maxWriteQueue`), with
 * their defaults, checked: every transport's sockets use the same rules.
 * @throws RawServerError BAD_ARGUMENT
 */
export function writeLimits(options: Partial<WriteLimits>): WriteLimits {
  const writeThreshold = checkNonNegative('writeThreshold', options.writeThreshold ?? RAWSERVER_DEFAULTS.writeThreshold, true);
  if (writeThreshold === 0) throw new RawServerError('BAD_ARGUMENT', 'writeThreshold must be at least 1');
  const lowWaterMark = checkNonNegative('lowWaterMark', options.lowWaterMark ?? Math.floor(writeThreshold / 2), true);
  if (lowWaterMark >= writeThreshold) throw new RawServerError('BAD_ARGUMENT', 'lowWaterMark must be below writeThreshold');
  const maxWriteQueue = checkNonNegative(
    'maxWriteQueue',
    options.maxWriteQueue ?? Math.max(RAWSERVER_DEFAULTS.maxWriteQueue, 4 * writeThreshold),
    true,
  );
  if (maxWriteQueue <= writeThreshold) throw new RawServerError('BAD_ARGUMENT', 'maxWriteQueue must be above writeThreshold');
  return { writeThreshold, lowWaterMark, maxWriteQueue };
}
