import type { TrackerPeer } from '@mainline/metainfo';
import { Announcer, type AnnouncerOptions } from '@mainline/rerequester';
import type { AddressFilter } from './address-filter.js';

/** What the last tracker answers said: peers in the last reply, and the last error (cleared by a success). */
export interface TrackerState {
  peers: number;
  error: string | undefined;
}

/**
 * Starts an announcer with the session's defaults and keeps `state` up to date; torrents and
 * magnet downloads hand the peers on (`onPeers`) and report errors (`onError`). The address a
 * tracker says it sees us at (BEP 24) is one of ours for `filter`: never dialled.
 */
export function startAnnouncer(
  options: AnnouncerOptions,
  state: TrackerState,
  onPeers: (peers: TrackerPeer[]) => void,
  onError: (message: string) => void,
  filter?: AddressFilter,
): Announcer {
  const announcer = new Announcer({
    ...options,
    // BEP 15's full schedule (8 retries, ~2 h) would hold up the next tier behind one dead UDP
    // tracker; two retries (15 s + 30 s + 60 s) fail over in under two minutes.
    udp: { maxRetries: 2, ...options.udp },
  });
  announcer.on('peers', (peers) => {
    state.peers = peers.length;
    onPeers(peers);
  });
  announcer.on('announce', (r) => {
    state.error = undefined;
    if (r.externalIp !== undefined) filter?.addOwnAddress(r.externalIp);
  });
  announcer.on('error', (e) => {
    state.error = e.message;
    onError(e.message);
  });
  announcer.start();
  return announcer;
}
