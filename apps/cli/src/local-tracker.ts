// A small HTTP tracker (BEP 3 announce, BEP 23 compact and BEP 7 peers6 replies) for `mainline
// demo`, on node:http and our bencode: the demo's swarm needs no more, and a CLI should not
// install a WebRTC stack (the npm bittorrent-tracker pulls a native addon) to run it.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { encode, type Encodable } from '@mainline/bencode';
import { systemClock, type Clock } from '@mainline/rate';

export interface LocalTrackerOptions {
  /** Address to listen on (default 127.0.0.1); port 0 = any free one. */
  host?: string;
  port?: number;
  /** `interval` told to clients, seconds (default 60). Peers silent for 3 intervals are dropped. */
  intervalSeconds?: number;
  /** Bounds that keep a hostile client from growing the tables (defaults 64 torrents, 256 peers each). */
  maxTorrents?: number;
  maxPeersPerTorrent?: number;
  clock?: Clock;
}

export interface LocalTracker {
  announceUrl: string;
  /** Resolves on the next `started` announce. */
  nextStart(): Promise<void>;
  /** Peers the tracker currently lists for an info-hash (hex). */
  peerCount(infoHashHex: string): number;
  close(): Promise<void>;
}

interface Peer {
  ip: string;
  port: number;
  peerId: Uint8Array;
  seed: boolean;
  seenAt: number;
}

/** Thrown for a request the tracker refuses; answered as a bencoded `failure reason`. */
class AnnounceRefused extends Error {}

const MAX_URL_LENGTH = 4096;
const DEFAULT_NUMWANT = 50;
const MAX_NUMWANT = 200;

/** Splits a raw query string, percent-decoding each value to bytes (info_hash is binary, not text). */
function parseQueryBytes(query: string): Map<string, Uint8Array> {
  const params = new Map<string, Uint8Array>();
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? '' : part.slice(eq + 1);
    if (!params.has(key)) params.set(key, percentDecode(value));
  }
  return params;
}

function percentDecode(value: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x25 /* % */) {
      const hex = value.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new AnnounceRefused('malformed percent-encoding');
      out.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (c === 0x2b /* + */) out.push(0x20);
    else if (c < 0x80) out.push(c);
    else throw new AnnounceRefused('non-ASCII byte in the query');
  }
  return Uint8Array.from(out);
}

function text(params: Map<string, Uint8Array>, key: string): string | undefined {
  const v = params.get(key);
  return v === undefined ? undefined : Buffer.from(v).toString('latin1');
}

function integer(params: Map<string, Uint8Array>, key: string, min: number, max: number): number | undefined {
  const raw = text(params, key);
  if (raw === undefined) return undefined;
  if (!/^\d{1,16}$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new AnnounceRefused(`invalid ${key}`);
  return Number(raw);
}

function exactBytes(params: Map<string, Uint8Array>, key: string, length: number): Uint8Array {
  const v = params.get(key);
  if (v === undefined || v.length !== length) throw new AnnounceRefused(`${key} must be ${length} bytes`);
  return v;
}

function compactPeers(peers: Peer[], family: 4 | 6): Uint8Array {
  const size = family === 4 ? 6 : 18;
  const out = Buffer.alloc(peers.length * size);
  peers.forEach((p, i) => {
    const at = i * size;
    if (family === 4) p.ip.split('.').forEach((octet, j) => out.writeUInt8(Number(octet), at + j));
    else ipv6Bytes(p.ip).forEach((byte, j) => out.writeUInt8(byte, at + j));
    out.writeUInt16BE(p.port, at + size - 2);
  });
  return out;
}

function ipv6Bytes(ip: string): number[] {
  const [head = '', tail] = ip.split('::');
  const groups = (s: string | undefined) => (s ? s.split(':') : []);
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return all.flatMap((g) => [Number.parseInt(g, 16) >> 8, Number.parseInt(g, 16) & 0xff]);
}

/** Starts the tracker; `announceUrl` is `http://<host>:<port>/announce`. */
export async function startLocalTracker(options: LocalTrackerOptions = {}): Promise<LocalTracker> {
  const host = options.host ?? '127.0.0.1';
  const clock = options.clock ?? systemClock;
  const interval = options.intervalSeconds ?? 60;
  const maxTorrents = options.maxTorrents ?? 64;
  const maxPeers = options.maxPeersPerTorrent ?? 256;
  const torrents = new Map<string, Map<string, Peer>>();
  const startWaiters: (() => void)[] = [];

  function expire(swarm: Map<string, Peer>): void {
    const cutoff = clock.now() - 3 * interval * 1000;
    for (const [id, p] of swarm) if (p.seenAt < cutoff) swarm.delete(id);
  }

  function announce(params: Map<string, Uint8Array>, remoteAddress: string): Record<string, Encodable> {
    const infoHash = Buffer.from(exactBytes(params, 'info_hash', 20)).toString('hex');
    const peerId = exactBytes(params, 'peer_id', 20);
    const port = integer(params, 'port', 1, 65535);
    if (port === undefined) throw new AnnounceRefused('port is missing');
    const left = integer(params, 'left', 0, Number.MAX_SAFE_INTEGER);
    const numwant = Math.min(integer(params, 'numwant', 0, Number.MAX_SAFE_INTEGER) ?? DEFAULT_NUMWANT, MAX_NUMWANT);
    const event = text(params, 'event') ?? '';
    if (!['', 'started', 'completed', 'stopped', 'paused'].includes(event)) throw new AnnounceRefused('invalid event');
    // Loopback demo peers report no `ip`; the socket's address is the one that works.
    const ip = remoteAddress.startsWith('::ffff:') ? remoteAddress.slice(7) : remoteAddress;

    let swarm = torrents.get(infoHash);
    if (swarm === undefined) {
      if (event === 'stopped') return { interval, peers: new Uint8Array(0) };
      if (torrents.size >= maxTorrents) throw new AnnounceRefused('this tracker serves no more torrents');
      swarm = new Map();
      torrents.set(infoHash, swarm);
    }
    expire(swarm);
    const key = Buffer.from(peerId).toString('hex');
    if (event === 'stopped') swarm.delete(key);
    else {
      if (!swarm.has(key) && swarm.size >= maxPeers) throw new AnnounceRefused('this torrent has too many peers');
      swarm.set(key, { ip, port, peerId, seed: left === 0, seenAt: clock.now() });
    }
    if (swarm.size === 0) torrents.delete(infoHash);
    if (event === 'started') startWaiters.splice(0).forEach((resolve) => resolve());

    const others = [...swarm.entries()].filter(([id]) => id !== key).map(([, p]) => p).slice(0, numwant);
    const complete = [...swarm.values()].filter((p) => p.seed).length;
    const reply: Record<string, Encodable> = { interval, complete, incomplete: swarm.size - complete };
    if (text(params, 'compact') === '0') {
      reply.peers = others.map((p) => ({ 'peer id': p.peerId, ip: p.ip, port: p.port }));
    } else {
      reply.peers = compactPeers(others.filter((p) => isIP(p.ip) === 4), 4);
      const v6 = others.filter((p) => isIP(p.ip) === 6 && !p.ip.includes('%')); // a zone id has no wire form
      if (v6.length > 0) reply.peers6 = compactPeers(v6, 6);
    }
    return reply;
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    let reply: Record<string, Encodable>;
    let status = 200;
    try {
      const url = req.url ?? '';
      if (req.method !== 'GET') throw new AnnounceRefused('only GET is served');
      if (url.length > MAX_URL_LENGTH) throw new AnnounceRefused('request too long');
      const q = url.indexOf('?');
      if ((q < 0 ? url : url.slice(0, q)) !== '/announce') {
        status = 404;
        throw new AnnounceRefused('this tracker serves /announce only');
      }
      reply = announce(parseQueryBytes(q < 0 ? '' : url.slice(q + 1)), req.socket.remoteAddress ?? '');
    } catch (error) {
      // A bug here must cost one request, never the demo's process.
      if (!(error instanceof AnnounceRefused)) status = 500;
      reply = { 'failure reason': error instanceof AnnounceRefused ? error.message : 'internal tracker error' };
    }
    const body = encode(reply);
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': body.length });
    res.end(body);
  }

  const server = createServer({ requestTimeout: 10_000, headersTimeout: 10_000, maxHeaderSize: 8192 }, handle);
  server.maxConnections = 256;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('local tracker did not bind');
  const urlHost = isIP(host) === 6 ? `[${host}]` : host;
  return {
    announceUrl: `http://${urlHost}:${address.port}/announce`,
    nextStart: () => new Promise<void>((resolve) => startWaiters.push(resolve)),
    peerCount: (infoHashHex) => {
      const swarm = torrents.get(infoHashHex.toLowerCase());
      if (swarm) expire(swarm);
      return swarm?.size ?? 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
