import type { Limiter, TokenTicket } from '@mainline/rate';
import type { SwarmPeer } from './swarm-peer.js';

/**
 * Waits until every limiter granted `bytes` (e.g. [torrent, global]), then calls `done`. The
 * waits are the peer's: cancelled when it goes, so a gone peer uses up no shared bandwidth.
 */
export function takeAll(peer: SwarmPeer, limiters: readonly Limiter[], bytes: number, done: () => void): void {
  let i = 0;
  let ticket: TokenTicket | undefined;
  const step = (): void => {
    if (ticket) peer.tickets.delete(ticket);
    if (i === limiters.length) return done();
    ticket = limiters[i++]!.take(bytes, step);
    if (ticket.pending) peer.tickets.add(ticket);
  };
  step();
}

/** Cancels every limiter wait of a peer that went. */
export function cancelWaits(peer: SwarmPeer): void {
  for (const t of peer.tickets) t.cancel();
  peer.tickets.clear();
  peer.pendingTokens = 0;
}
