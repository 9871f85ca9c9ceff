// A throwaway HTTP tracker on loopback for `mainline demo`, from the npm bittorrent-tracker
// server (the BitTorrent core is ours; a demo tracker is plumbing).

interface TrackerServer {
  http: { address(): { port: number } | string | null } | null;
  listen(port: number, hostname: string, onListening: () => void): void;
  close(cb?: () => void): void;
  on(event: 'start' | 'complete' | 'warning' | 'error', listener: (...args: unknown[]) => void): void;
  once(event: 'start', listener: (...args: unknown[]) => void): void;
}

type ServerClass = new (opts: { http: boolean; udp: boolean; ws: boolean; stats: boolean; interval?: number }) => TrackerServer;

export interface LocalTracker {
  announceUrl: string;
  /** Resolves on the next `started` announce. */
  nextStart(): Promise<void>;
  close(): Promise<void>;
}

export async function startLocalTracker(): Promise<LocalTracker> {
  // Only the server entry: the package root also loads the WebRTC client (a native addon).
  const { default: Server } = (await import('bittorrent-tracker/server')) as unknown as { default: ServerClass };
  const server = new Server({ http: true, udp: false, ws: false, stats: false, interval: 60_000 });
  server.on('warning', () => undefined);
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.http?.address();
  if (!address || typeof address === 'string') throw new Error('local tracker did not bind');
  return {
    announceUrl: `http://127.0.0.1:${address.port}/announce`,
    nextStart: () => new Promise<void>((resolve) => server.once('start', () => resolve())),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
