// Test-only helpers (not exported from index.ts).
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { CloseReason, PeerSocket, SocketHandler } from './peer-socket.js';

/** A handler that records everything and lets a test await conditions. */
export class Recorder implements SocketHandler {
  readonly chunks: Buffer[] = [];
  connected = false;
  flushedCount = 0;
  closeReason: CloseReason | undefined;
  closeError: Error | undefined;
  private waiters: { check: () => boolean; resolve: () => void }[] = [];

  onData(_socket: PeerSocket, chunk: Buffer): void {
    this.chunks.push(chunk);
    this.poke();
  }
  onConnect(): void {
    this.connected = true;
    this.poke();
  }
  onFlushed(): void {
    this.flushedCount++;
    this.poke();
  }
  onClose(_socket: PeerSocket, reason: CloseReason, error?: Error): void {
    this.closeReason = reason;
    this.closeError = error;
    this.poke();
  }
  get received(): Buffer {
    return Buffer.concat(this.chunks);
  }
  /** Resolves once `check()` holds (checked after every event); rejects after `ms`. */
  until(check: () => boolean, ms = 5000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting')), ms);
      this.waiters.push({
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
  private poke(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.check()) return true;
      w.resolve();
      return false;
    });
  }
}

/** Polls `check` on the real event loop until it holds. */
export async function eventually(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A plain Node server holding a port (to make it "taken"). */
export function blocker(host: string, port = 0): Promise<Server & { port: number }> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host, port, exclusive: true }, () => {
      resolve(Object.assign(s, { port: (s.address() as AddressInfo).port }));
    });
  });
}

export function closeNodeServer(s: Server): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

/** Counts of the active libuv resources that matter for leak checks. */
export function handleCounts(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) {
    if (r === 'TCPSocketWrap' || r === 'TCPServerWrap' || r === 'Timeout') out[r] = (out[r] ?? 0) + 1;
  }
  return out;
}
