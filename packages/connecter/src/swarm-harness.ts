// Test helpers for the Swarm tests (not exported from index.ts): real Storage/PieceStore/
// PiecePicker/WireHub nodes on loopback, and scripted raw-socket peers.
import { readFile } from 'node:fs/promises';
import { makePayload, makeTempDir, makeTorrent, removeTempDir } from '@mainline/interop';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { Bitfield } from '@mainline/bitfield';
import type { Metainfo } from '@mainline/metainfo';
import { PiecePicker } from '@mainline/piecepicker';
import type { MemoryNetwork } from '@mainline/rawserver';
import { systemClock, type Clock } from '@mainline/rate';
import { PieceStore, Storage } from '@mainline/storage';
import { encodeHandshake, encodeMessage, makeReserved, Swarm, WireHub, WireReader } from './index.js';
import type { Message, PeerHandOff, PeerView, SwarmOptions, WireLimits, WireLogEvent } from './index.js';
import { stateOf, type SwarmPeer } from './swarm-peer.js';

/** A 20-byte peer id `-ML0001-` + tag, padded with `x`. */
export function peerId(tag: string): Uint8Array {
  return Buffer.from(`-ML0001-${tag}`.padEnd(20, 'x').slice(0, 20), 'latin1');
}

export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 5 ms until it holds; fails with `what` after `ms`. */
export async function eventually(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}

/**
 * The multi-file torrent the transfer tests use: a zero-length file inside, 34 pieces of 32 KiB,
 * the last one 1434 bytes. Written under `dir`; `seedDir` is the seeder's save directory.
 */
export async function multiFileTorrent(dir: string, seed: string): Promise<{ meta: Metainfo; seedDir: string }> {
  const payload = await makePayload(join(dir, `seed-${seed}`), {
    name: 'multi',
    seed,
    files: [
      { path: 'a.bin', size: 300_001 },
      { path: 'empty/zero.bin', size: 0 },
      { path: 'sub/b.bin', size: 777_777 },
      { path: 'c.bin', size: 5_000 },
    ],
  });
  const meta = makeTorrent(payload.path, { pieceLength: 32768, outPath: join(dir, `${seed}.torrent`) }).metainfo;
  return { meta, seedDir: payload.saveDir };
}

/** Every byte of the torrent, read from a save directory in file order. */
export async function readTorrentData(meta: Metainfo, saveDir: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const f of meta.files) parts.push(await readFile(join(saveDir, ...f.path)));
  return Buffer.concat(parts);
}

export interface SwarmNode {
  readonly hub: WireHub;
  readonly swarm: Swarm;
  readonly store: PieceStore;
  readonly picker: PiecePicker<PeerView>;
  readonly port: number;
  readonly peerId: Uint8Array;
  /** WireHub drop log (protocol errors). */
  readonly log: WireLogEvent[];
  readonly dropped: { address: string; peerId: string | undefined; reason: string }[];
  readonly banned: { key: string; reason: string }[];
  readonly hashfails: number[];
  readonly errors: unknown[];
  /** Exceptions that reached the RawServer (a handler threw). */
  readonly serverErrors: { error: unknown; context: string }[];
  readonly completed: Promise<void>;
  /** Where the node listens (127.0.0.1, or its address on a memory network). */
  readonly host: string;
  /** Dials another node (or any listening peer) for this torrent, on loopback or on the memory network. */
  dial(port: number, host?: string, source?: string): void;
  close(): Promise<void>;
}

export interface NodeOptions {
  id: Uint8Array;
  /** The Swarm's clock (default: the system clock; the hub's sockets always use the system clock). */
  clock?: Clock;
  swarm?: Partial<Omit<SwarmOptions, 'hub' | 'infoHash' | 'store' | 'picker' | 'clock'>>;
  reserved?: Uint8Array;
  /** Run on an in-memory network instead of TCP: its clock is the node's, the address its own. */
  memory?: { network: MemoryNetwork; address: string };
  /** Join this hub, listening on `port` already (e.g. a metadata fetcher's), instead of a new one. */
  hub?: { hub: WireHub; port: number };
  /** Connections to take over when the swarm starts (Swarm.start's hand-off). */
  handOff?: PeerHandOff;
}

/** A full peer: Storage + PieceStore (checked from disk) + PiecePicker + Swarm on its own WireHub. */
export async function startNode(meta: Metainfo, saveDir: string, options: NodeOptions): Promise<SwarmNode> {
  const log: WireLogEvent[] = [];
  const serverErrors: { error: unknown; context: string }[] = [];
  const memory = options.memory;
  const hub =
    options.hub?.hub ??
    new WireHub({
    peerId: options.id,
    log: (e) => log.push(e),
    rawServer: { onError: (error, context) => serverErrors.push({ error, context }) },
    ...(options.reserved ? { reserved: options.reserved } : {}),
    ...(memory ? { clock: memory.network.clock, transports: [memory.network.transport(memory.address)] } : {}),
    });
  const storage = new Storage({
    root: saveDir,
    files: meta.files.map((f) => ({ path: f.path, length: f.length })),
    pieceLength: meta.pieceLength,
    name: meta.infoHash,
  });
  await storage.open();
  const store = new PieceStore(storage, { pieceHashes: meta.pieces, hashWorkers: 1 });
  await store.start();
  const picker = new PiecePicker<PeerView>({
    pieceCount: meta.pieceCount,
    pieceLength: meta.pieceLength,
    totalLength: meta.totalLength,
    have: store.haveBitfield(),
  });
  const clock = options.clock ?? memory?.network.clock ?? systemClock;
  const swarm = new Swarm({ ...options.swarm, hub, infoHash: meta.infoHashBytes, store, picker, clock });
  const dropped: SwarmNode['dropped'] = [];
  const banned: SwarmNode['banned'] = [];
  const hashfails: number[] = [];
  const errors: unknown[] = [];
  const completed = new Promise<void>((resolve) => swarm.once('complete', resolve));
  swarm.on('peer-dropped', (p, reason) => dropped.push({ address: p.address, peerId: p.peerId && hex(p.peerId), reason }));
  swarm.on('banned', (key, reason) => banned.push({ key, reason }));
  swarm.on('hashfail', (i) => hashfails.push(i));
  swarm.on('error', (e) => errors.push(e));
  swarm.start(options.handOff);
  const host = memory?.address ?? '127.0.0.1';
  const { port } = options.hub ?? (await hub.listen(memory ? { minPort: 6881, maxPort: 6881 } : { minPort: 0, hosts: [host] }));
  let closed = false;
  return {
    hub,
    swarm,
    store,
    picker,
    port,
    peerId: options.id,
    log,
    dropped,
    banned,
    hashfails,
    errors,
    serverErrors,
    completed,
    host,
    dial: (p, h = '127.0.0.1', source) => void swarm.connect(h, p, undefined, source),
    async close() {
      if (closed) return;
      closed = true;
      swarm.stop();
      await hub.close();
      await store.close();
    },
  };
}

export interface RawPeerOptions {
  infoHash: Uint8Array;
  peerId: Uint8Array;
  /** Our reserved bytes (default: none of the extensions). */
  reserved?: Uint8Array;
  /** Limits for parsing what the node sends us. */
  limits: WireLimits;
  /** Called for each message from the node (after it is recorded). */
  onMessage?: (peer: RawPeer, message: Message) => void;
}

/** Options for a raw peer of torrent `meta` with id `id` (a tag for {@link peerId}, or the bytes). */
export function rawOptions(meta: Metainfo, id: string | Uint8Array, extra: Partial<RawPeerOptions> = {}): RawPeerOptions {
  return {
    infoHash: meta.infoHashBytes,
    peerId: typeof id === 'string' ? peerId(id) : id,
    limits: { numPieces: meta.pieceCount, pieceLength: meta.pieceLength, totalLength: meta.totalLength },
    ...extra,
  };
}

/**
 * A scripted peer on a raw TCP socket: it sends exactly the bytes it is told to, and records the
 * node's handshake and messages (parsed by a WireReader) and when the node closed the connection.
 */
export class RawPeer {
  readonly messages: Message[] = [];
  remotePeerId: Uint8Array | undefined;
  remoteInfoHash: Uint8Array | undefined;
  /** Set if what the node sent did not parse. */
  parseError: unknown;
  closed = false;
  readonly whenClosed: Promise<void>;
  /** Our end's port (what the node logs as the remote port); kept after the socket closes. */
  readonly localPort: number;
  readonly #reader: WireReader;

  private constructor(
    readonly socket: Socket,
    readonly options: RawPeerOptions,
  ) {
    this.localPort = socket.localPort ?? 0;
    this.#reader = new WireReader(
      {
        onInfoHash: (ih) => {
          this.remoteInfoHash = ih;
        },
        onPeerId: (id) => {
          this.remotePeerId = id;
        },
        onMessage: (m) => {
          this.messages.push(m);
          options.onMessage?.(this, m);
        },
      },
      { limits: options.limits, localReserved: options.reserved ?? new Uint8Array(8) },
    );
    socket.on('data', (chunk: Buffer) => {
      try {
        this.#reader.push(chunk);
      } catch (err) {
        this.parseError = err;
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    this.whenClosed = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        resolve();
      }),
    );
  }

  /** Connects to `port` (nothing is sent yet). */
  static connect(port: number, options: RawPeerOptions): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => {
        s.removeListener('error', reject);
        resolve(new RawPeer(s, options));
      });
      s.once('error', reject);
    });
  }

  /** Wraps an accepted socket (for a raw listener that a node dials). */
  static accept(socket: Socket, options: RawPeerOptions): RawPeer {
    return new RawPeer(socket, options);
  }

  /** Connects and sends a correct handshake; resolves once the node's handshake is in. */
  static async handshaken(port: number, options: RawPeerOptions): Promise<RawPeer> {
    const p = await RawPeer.connect(port, options);
    p.sendHandshake();
    await p.until(() => p.remotePeerId !== undefined, 'the node handshake');
    return p;
  }

  get fast(): boolean {
    return this.#reader.fast;
  }

  sendHandshake(infoHash = this.options.infoHash, id = this.options.peerId): void {
    this.socket.write(encodeHandshake(infoHash, id, this.options.reserved ?? new Uint8Array(8)));
  }

  send(...messages: Message[]): void {
    const chunks: Uint8Array[] = [];
    for (const m of messages) chunks.push(...encodeMessage(m));
    this.socket.write(Buffer.concat(chunks));
  }

  sendRaw(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** Messages of one type received so far. */
  of<T extends Message['type']>(type: T): Extract<Message, { type: T }>[] {
    return this.messages.filter((m): m is Extract<Message, { type: T }> => m.type === type);
  }

  async until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
    await eventually(() => check() || (this.closed && check()), what, ms);
  }

  /** Resolves when the node closed the connection; fails after `ms`. */
  async closedWithin(ms = 5_000): Promise<void> {
    await eventually(() => this.closed, 'the node to close the connection', ms);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A raw TCP listener whose accepted sockets are handed to `onSocket`. */
export async function rawListener(onSocket: (s: Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * What a test opened (nodes, raw peers, listeners), closed by `cleanup()` in afterEach.
 */
export class Fixture {
  readonly #nodes: SwarmNode[] = [];
  readonly #raws: RawPeer[] = [];
  readonly #closers: (() => Promise<void>)[] = [];

  async node(meta: Metainfo, saveDir: string, options: NodeOptions): Promise<SwarmNode> {
    const n = await startNode(meta, saveDir, options);
    this.#nodes.push(n);
    return n;
  }

  /** A raw peer that connected (and sent nothing yet). */
  async connect(port: number, options: RawPeerOptions): Promise<RawPeer> {
    const p = await RawPeer.connect(port, options);
    this.#raws.push(p);
    return p;
  }

  /** A raw peer that completed the handshake. */
  async handshaken(port: number, options: RawPeerOptions): Promise<RawPeer> {
    const p = await RawPeer.handshaken(port, options);
    this.#raws.push(p);
    return p;
  }

  async listener(onSocket: (s: Socket) => void): Promise<{ port: number }> {
    const l = await rawListener(onSocket);
    this.#closers.push(l.close);
    return l;
  }

  async cleanup(): Promise<void> {
    for (const r of this.#raws.splice(0)) r.destroy();
    await Promise.all(this.#nodes.splice(0).map((n) => n.close()));
    await Promise.all(this.#closers.splice(0).map((c) => c()));
  }
}

/** The swarm's state for a raw peer (its internals: upload queue, choke()). */
export function swarmPeerOf(n: SwarmNode, p: RawPeer): SwarmPeer {
  const found = [...n.swarm.peers].find((sp) => sp.remotePort === p.localPort);
  if (!found) throw new Error('no such peer in the swarm');
  return stateOf(found);
}

/** A full bitfield for `n` pieces. */
export function fullBitfield(n: number): Bitfield {
  return Bitfield.full(n);
}

export const FAST_RESERVED = makeReserved({ fast: true });

/**
 * A one-file torrent of `size` bytes made (with its seed's data) before the tests of a file and
 * removed after them, and a Fixture cleaned up after each test. Read the fields inside tests.
 */
export function seededTorrent(tag: string, size: number, pieceLength = 32768): { readonly meta: Metainfo; readonly seedDir: string; readonly dir: string; readonly fx: Fixture } {
  const state = { meta: undefined as Metainfo | undefined, seedDir: '', dir: '' };
  const fx = new Fixture();
  beforeAll(async () => {
    state.dir = makeTempDir(tag);
    const payload = await makePayload(join(state.dir, 'seed'), { name: `${tag}.bin`, size });
    state.meta = makeTorrent(payload.path, { pieceLength, outPath: join(state.dir, `${tag}.torrent`) }).metainfo;
    state.seedDir = payload.saveDir;
  });
  afterEach(() => fx.cleanup());
  afterAll(() => {
    if (state.dir) removeTempDir(state.dir);
  });
  return {
    get meta() {
      return state.meta as Metainfo;
    },
    get seedDir() {
      return state.seedDir;
    },
    get dir() {
      return state.dir;
    },
    fx,
  };
}
