// MetadataFetcher against our own Swarms (serving BEP 9) on loopback: real hubs, real sockets.
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { encode } from '@mainline/bencode';
import { makeTempDir, removeTempDir } from '@mainline/interop';
import { parseInfo, type Metainfo } from '@mainline/metainfo';
import { ManualClock } from '@mainline/rate';
import {
  ConnecterError,
  MetadataFetcher,
  MetadataServer,
  WireHub,
  type MetadataFetcherOptions,
  type PeerConnection,
  type TorrentWire,
  type WireLogEvent,
} from './index.js';
import { eventually, Fixture, peerId, type SwarmNode } from './swarm-harness.js';

const PIECES = 2000; // 40 000 bytes of piece hashes: metadata of 3 BEP 9 pieces
let dir: string;
let meta: Metainfo;
const fx = new Fixture();
const hubs: WireHub[] = [];
const fetchers: MetadataFetcher[] = [];
let dirs = 0;

beforeAll(() => {
  dir = makeTempDir('metadata-fetcher');
  const info = encode({ length: PIECES * 16384, name: 'big.iso', 'piece length': 16384, pieces: randomBytes(PIECES * 20) });
  meta = parseInfo(info);
});
afterAll(() => removeTempDir(dir));
afterEach(async () => {
  for (const f of fetchers.splice(0)) f.cancel();
  await fx.cleanup();
  await Promise.all(hubs.splice(0).map((h) => h.close()));
});

/** A Swarm (empty storage) serving `metadata`: the real one, or a lie of the same size. */
function server(tag: string, metadata: Uint8Array = meta.infoBytes): Promise<SwarmNode> {
  return fx.node(meta, join(dir, `node-${++dirs}`), { id: peerId(tag), swarm: { metadata } });
}

/** The same bytes with one byte of every 16 KiB piece changed: whoever serves it lies about all of them. */
function lie(): Uint8Array {
  const bad = Uint8Array.from(meta.infoBytes);
  for (let i = bad.length - 1; i >= 0; i -= 16384) bad[i] = bad[i]! ^ 0xff;
  return bad;
}

async function fetcherHub(options: Partial<MetadataFetcherOptions> = {}): Promise<{ hub: WireHub; port: number; fetcher: MetadataFetcher; log: WireLogEvent[] }> {
  const log: WireLogEvent[] = [];
  const hub = new WireHub({ peerId: peerId('fetch'), log: (e) => log.push(e), rawServer: { onError: () => undefined } });
  hubs.push(hub);
  const { port } = await hub.listen({ minPort: 0, hosts: ['127.0.0.1'] });
  const fetcher = new MetadataFetcher({ hub, infoHash: meta.infoHashBytes, ...options });
  fetchers.push(fetcher);
  return { hub, port, fetcher, log };
}

/** Dials a node on loopback (whom to dial is the caller's choice: the session's peer list). */
function dial(fetcher: MetadataFetcher, n: { port: number }): void {
  expect(fetcher.connect('127.0.0.1', n.port)).toBe(true);
}

test('fetches multi-piece metadata from a serving Swarm, verifies it and leaves the hub to the torrent', async () => {
  const seed = await server('seed');
  const { hub, fetcher } = await fetcherHub();
  const progress: number[] = [];
  fetcher.on('progress', (got) => progress.push(got));
  const done = fetcher.start();
  dial(fetcher, seed);
  const bytes = await done;
  expect(Buffer.from(bytes).equals(Buffer.from(meta.infoBytes))).toBe(true);
  expect(createHash('sha1').update(bytes).digest('hex')).toBe(meta.infoHash);
  expect(progress).toEqual([1, 2, 3]);
  expect(fetcher.status().state).toBe('done');
  expect(hub.hasTorrent(meta.infoHashBytes)).toBe(false);
  await eventually(() => hub.connectionCount === 0, 'fetch connections closed');
  // The serving Swarm saw our request and nothing went wrong on its side.
  expect(seed.log).toEqual([]);
});

test('a peer that alone sent bad metadata is dropped, never redialled, and an honest one is used', async () => {
  const liar = await server('liar', lie());
  const honest = await server('honest');
  const { fetcher, log } = await fetcherHub();
  const bad: string[][] = [];
  fetcher.on('bad-metadata', (who) => bad.push(who));
  const done = fetcher.start();
  dial(fetcher, liar);
  await eventually(() => bad.length === 1, 'the lie to be detected');
  await eventually(() => log.some((e) => e.code === 'BAD_METADATA' && e.remotePort === liar.port), 'the liar dropped');
  // Whoever asks, the liar's address is not dialled again.
  expect(fetcher.connect('127.0.0.1', liar.port)).toBe(false);
  dial(fetcher, honest);
  const bytes = await done;
  expect(Buffer.from(bytes).equals(Buffer.from(meta.infoBytes))).toBe(true);
  expect(bad).toEqual([[`127.0.0.1:${liar.port}`]]);
  expect(log.filter((e) => e.code === 'BAD_METADATA')).toHaveLength(1);
});

/** A peer that offers the metadata but never answers, rejects every request, or answers lies slowly. */
async function unhelpful(kind: 'silent' | 'rejecting' | 'slow-liar'): Promise<{ port: number; requests: () => number }> {
  const hub = new WireHub({ peerId: peerId(kind), rawServer: { onError: () => undefined } });
  hubs.push(hub);
  const srv = new MetadataServer(kind === 'slow-liar' ? lie() : undefined);
  let requests = 0;
  const wire: TorrentWire = {
    limits: { numPieces: meta.pieceCount },
    onPeer: () => ({
      onMessage: (conn: PeerConnection, m) => {
        if (m.type !== 'extended') return;
        requests++;
        if (kind === 'rejecting') srv.onExtended(conn, m.id, m.payload);
        if (kind === 'slow-liar') setTimeout(() => srv.onExtended(conn, m.id, m.payload), 150);
      },
      onClose: () => undefined,
    }),
    extensionHandshake: () => srv.handshake({ metadataSize: meta.infoBytes.length }),
  };
  hub.addTorrent(meta.infoHashBytes, wire);
  const { port } = await hub.listen({ minPort: 0, hosts: ['127.0.0.1'] });
  return { port, requests: () => requests };
}

test('an unanswered request times out (injected clock) and goes to another peer', async () => {
  const clock = new ManualClock(1000);
  const silent = await unhelpful('silent');
  const honest = await server('honest');
  const { fetcher } = await fetcherHub({ clock, maxActivePeers: 1, requestTimeoutMs: 10_000 });
  const done = fetcher.start();
  dial(fetcher, silent);
  await eventually(() => silent.requests() === 2, 'two requests to the silent peer');
  dial(fetcher, honest);
  await eventually(() => fetcher.status().metadataPeers === 2, 'the honest peer to offer metadata');
  // Only one peer is asked at a time: nothing moves until the silent peer's requests time out.
  expect(fetcher.status().piecesReceived).toBe(0);
  clock.advance(10_000);
  const bytes = await done;
  expect(Buffer.from(bytes).equals(Buffer.from(meta.infoBytes))).toBe(true);
});

test('a peer that rejects is asked again only after retryAfterMs; another peer is asked meanwhile', async () => {
  const clock = new ManualClock(1000);
  const rejecting = await unhelpful('rejecting');
  const { fetcher } = await fetcherHub({ clock, retryAfterMs: 5_000 });
  const done = fetcher.start();
  dial(fetcher, rejecting);
  await eventually(() => rejecting.requests() === 2, 'two requests, rejected');
  await new Promise((r) => setTimeout(r, 100));
  expect(rejecting.requests()).toBe(2);
  clock.advance(5_000);
  await eventually(() => rejecting.requests() === 4, 'asked again after the back-off');
  const honest = await server('honest');
  dial(fetcher, honest);
  const bytes = await done;
  expect(Buffer.from(bytes).equals(Buffer.from(meta.infoBytes))).toBe(true);
});

test('pieces from a liar and an honest peer mixed: discarded, then one peer per attempt finds the liar', async () => {
  const liar = await unhelpful('slow-liar');
  const honest = await server('honest');
  const { fetcher, log } = await fetcherHub({ requestsPerPeer: 1 });
  const bad: string[][] = [];
  fetcher.on('bad-metadata', (who) => bad.push(who));
  const done = fetcher.start();
  dial(fetcher, liar);
  // The liar holds piece 0 for 150 ms; meanwhile the honest peer sends pieces 1 and 2.
  await eventually(() => liar.requests() === 1, 'a request to the liar');
  dial(fetcher, honest);
  const bytes = await done;
  expect(Buffer.from(bytes).equals(Buffer.from(meta.infoBytes))).toBe(true);
  const both = [`127.0.0.1:${liar.port}`, `127.0.0.1:${honest.port}`].sort();
  // First the mixed attempt fails (blame unclear), then the liar's own attempt names it.
  expect(bad.map((who) => who.sort())).toEqual([both, [`127.0.0.1:${liar.port}`]]);
  expect(log.filter((e) => e.code === 'BAD_METADATA').map((e) => e.remotePort)).toEqual([liar.port]);
});

test('cancel: the promise rejects, the hub is free and every connection closes', async () => {
  const silent = await unhelpful('silent');
  const { hub, fetcher } = await fetcherHub();
  const done = fetcher.start();
  dial(fetcher, silent);
  await eventually(() => silent.requests() > 0, 'a request to be in flight');
  fetcher.cancel();
  await expect(done).rejects.toBeInstanceOf(ConnecterError);
  expect(hub.hasTorrent(meta.infoHashBytes)).toBe(false);
  await eventually(() => hub.connectionCount === 0, 'connections closed');
  expect(fetcher.status().state).toBe('cancelled');
});

test('a serving Swarm that dials us (incoming peer) is used too', async () => {
  const { port, fetcher } = await fetcherHub();
  const done = fetcher.start();
  const seed = await server('seed');
  seed.dial(port);
  const bytes = await done;
  expect(Buffer.from(bytes).equals(Buffer.from(meta.infoBytes))).toBe(true);
});

test('as a PeerDialer: free slots, and each dial reported back as connected, connect-failed or closed', async () => {
  const seed = await server('seed');
  const plain = await fx.node(meta, join(dir, `node-${++dirs}`), { id: peerId('plain'), reserved: new Uint8Array(8) });
  const { fetcher } = await fetcherHub({ maxConnections: 2 });
  const events: string[] = [];
  fetcher.on('connected', (h, p, incoming) => events.push(`connected ${p === seed.port ? 'seed' : 'plain'} ${incoming}`));
  fetcher.on('closed', (h, p) => events.push(`closed ${p === seed.port ? 'seed' : 'plain'}`));
  fetcher.on('connect-failed', (h, p) => events.push(`failed ${p}`));
  expect(fetcher.outgoingSlots).toBe(0); // not started
  expect(fetcher.connect('127.0.0.1', seed.port)).toBe(false);
  const done = fetcher.start();
  expect(fetcher.outgoingSlots).toBe(2);
  expect(fetcher.finished).toBe(false);
  const dead = await deadPort();
  dial(fetcher, { port: dead });
  expect(fetcher.connect('127.0.0.1', dead)).toBe(false); // already dialling it
  dial(fetcher, plain);
  await eventually(() => events.length === 3, 'the dead port and the plain peer reported');
  // A peer without BEP 10 got through the handshake: no failure of its address, but no use.
  expect(events.sort()).toEqual([`failed ${dead}`, 'closed plain', 'connected plain false'].sort());
  expect(fetcher.status().dialing).toBe(0);
  dial(fetcher, seed);
  await done;
  expect(events).toContain('connected seed false');
  expect(fetcher.outgoingSlots).toBe(0); // done: nobody is dialled for it any more
});

/** A loopback port nothing listens on. */
async function deadPort(): Promise<number> {
  const { createServer } = await import('node:net');
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}
