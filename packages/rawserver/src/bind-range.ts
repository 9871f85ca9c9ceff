import { isIP } from 'node:net';
import { RawServerError } from './errors.js';

const PORT_TAKEN = new Set(['EADDRINUSE', 'EACCES']);
const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EPROTONOSUPPORT']);

/** How to bind one kind of socket (a TCP server, a UDP socket) on one host and port. */
export interface Binder<H> {
  bind(host: string, port: number): Promise<H>;
  portOf(handle: H): number;
  close(handle: H): Promise<void>;
  /** The owner was closed meanwhile: give up (CLOSED). */
  closed(): boolean;
  /** For messages: 'listen' or 'bind UDP'. */
  readonly what: string;
}

/**
 * Binds every host on the first port of [minPort, maxPort] that all of them can take (minPort 0:
 * an ephemeral one, retried a few times when a later host has it taken). Without explicit hosts:
 * '::' dual-stack, falling back to '0.0.0.0' where there is no IPv6. TCP listeners and the UDP
 * endpoint share these rules, so both end up on the same kind of addresses.
 * @throws RawServerError NO_FREE_PORT, LISTEN_FAILED, CLOSED, BAD_ARGUMENT
 */
export async function bindHosts<H>(binder: Binder<H>, explicit: readonly string[] | undefined, minPort: number, maxPort: number): Promise<H[]> {
  if (explicit) {
    if (explicit.length === 0) throw new RawServerError('BAD_ARGUMENT', 'hosts must not be empty');
    for (const h of explicit) {
      if (isIP(h) === 0) throw new RawServerError('BAD_ARGUMENT', `listen host must be an IP address, got ${JSON.stringify(h)}`);
    }
    return bindRange(binder, explicit, minPort, maxPort);
  }
  try {
    return await bindRange(binder, ['::'], minPort, maxPort);
  } catch (err) {
    const code = ((err as RawServerError).cause as NodeJS.ErrnoException | undefined)?.code;
    if (err instanceof RawServerError && err.code === 'LISTEN_FAILED' && code && NO_IPV6.has(code)) {
      return bindRange(binder, ['0.0.0.0'], minPort, maxPort);
    }
    throw err;
  }
}

async function bindRange<H>(binder: Binder<H>, hosts: readonly string[], minPort: number, maxPort: number): Promise<H[]> {
  let lastTaken: unknown;
  // An ephemeral first port (0) may collide on a later host: retry a few times.
  const attempts = minPort === 0 ? 5 : maxPort - minPort + 1;
  for (let i = 0; i < attempts; i++) {
    const port = minPort === 0 ? 0 : minPort + i;
    const bound: H[] = [];
    let actual = port;
    try {
      for (const host of hosts) {
        const handle = await binder.bind(host, actual);
        bound.push(handle);
        actual = binder.portOf(handle);
        if (binder.closed()) throw new RawServerError('CLOSED', `closed while trying to ${binder.what}`);
      }
    } catch (err) {
      await Promise.all(bound.map((h) => binder.close(h)));
      if (err instanceof RawServerError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code && PORT_TAKEN.has(code)) {
        lastTaken = err;
        continue;
      }
      throw new RawServerError('LISTEN_FAILED', `couldn't ${binder.what} on ${hosts.join(', ')} port ${actual}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return bound;
  }
  throw new RawServerError('NO_FREE_PORT', `Couldn't ${binder.what} - no free port in ${minPort}-${maxPort} on ${hosts.join(', ')}`, {
    cause: lastTaken,
  });
}
