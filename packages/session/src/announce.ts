import type { TrackerPeer } from '@mainline/metainfo';
import { Announcer, type AnnouncerOptions } from '@mainline/rerequester';

/** What the last tracker answers said: peers in the last reply, and the last error (cleared by a success). */
export interface TrackerState {
  peers: number;
  error: string | undefined;
}

/**
 * Starts an announcer with the session's defaults and keeps `state` up to date; torrents and
 * magnet downloads hand the peers on (`onPeers`) and report errors (`onError`).
 */
export function startAnnouncer(
  options: AnnouncerOptions,
  state: TrackerState,
  onPeers: (peers: TrackerPeer[]) => void,
  onError: (message: string) => void,
): Announcer {
  const announcer = new Announcer({
    // BEP 15's full schedule (8 retries, ~2 h) would hold up the next tier behind one dead UDP
    // tracker; two retries (15 s + 30 s + 60 s) fail over in under two minutes.
    udp: { maxRetries: 2 },
    ...options,
  });
  announcer.on('peers', (peers) => {
    state.peers = peers.length;
    onPeers(peers);
  });
  announcer.on('announce', () => {
    state.error = undefined;
  });
  announcer.on('error', (e) => {
    state.error = e.message;
    onError(e.message);
  });
  announcer.start();
  return announcer;
}
