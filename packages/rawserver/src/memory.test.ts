// In-memory sockets and transports: the PeerSocket contract (data, back-pressure, overflow, close)
// without the OS, and a decorator (what MSE will be) that forwards all of it.
import { ManualClock } from '@mainline/rate';
import {
  ConnectionGate,
  MemoryNetwork,
  createMemorySocketPair,
  type CloseReason,
  type PeerSocket,
  type SocketHandler,
  type TransportHost,
} from './index.js';
import { Recorder } from './test-helpers.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Lets deliveries run (each is one event-loop turn) until `check` holds. */
async function until(check: () => boolean, what: string, turns = 1000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (check()) return;
    await turn();
  }
  throw new Error(`not within ${turns} turns: ${what}`);
}

function pair(options: Parameters<typeof createMemorySocketPair>[0] = {}) {
  const [a, b] = createMemorySocketPair({ onError: () => undefined, ...options });
  const ra = new Recorder();
  const rb = new Recorder();
  a.setHandler(ra);
  b.setHandler(rb);
  return { a, b, ra, rb };
}

describe('createMemorySocketPair', () => {
  test('bytes go both ways in order, as views of what was written, addresses and flags as TCP reports them', async () => {
    const { a, b, ra, rb } = pair();
    expect([a.incoming, b.incoming]).toEqual([false, true]);
    expect([a.transport, a.state, a.remoteAddress, a.remotePort, a.localAddress]).toEqual(['memory', 'open', '192.0.2.2', 6881, '192.0.2.1']);
    expect(b.remotePort).toBe(a.localPort);
    const block = Buffer.alloc(100_000, 7);
    expect(a.writeMany([Buffer.from('head'), block])).toBe(true);
    b.write(Buffer.from('back'));
    expect(rb.chunks).toHaveLength(0); // nothing synchronous: delivery is the next turn
    await until(() => rb.received.length === 100_004 && ra.received.length === 4, 'both directions delivered');
    expect(rb.received.subarray(0, 4).toString()).toBe('head');
    expect(rb.chunks.some((c) => c.buffer === block.buffer)).toBe(true); // no copy
    expect(ra.received.toString()).toBe('back');
    expect(b.lastReceivedAt).toBeGreaterThanOrEqual(b.createdAt);
  });

  test('a paused reader congests the writer; resuming drains it to the low-water mark and calls onFlushed once', async () => {
    const { a, b, ra, rb } = pair({ writeThreshold: 64 * 1024, chunkSize: 16 * 1024 });
    b.pause();
    const block = Buffer.alloc(16 * 1024, 1);
    let writes = 0;
    while (a.write(block)) writes++;
    expect(writes).toBe(3); // the 4th reached 64 KiB
    expect(a.congested).toBe(true);
    expect(a.writableLength).toBe(64 * 1024);
    for (let i = 0; i < 20; i++) await turn();
    expect(rb.chunks).toHaveLength(0); // paused: nothing read
    b.resume();
    await until(() => ra.flushedCount === 1, 'onFlushed');
    expect(a.congested).toBe(false);
    expect(a.writableLength).toBeLessThanOrEqual(32 * 1024);
    await until(() => rb.received.length === 64 * 1024, 'every byte');
    expect(ra.flushedCount).toBe(1);
  });

  test('a peer that never reads: past maxWriteQueue the write is dropped and the socket closes with write-overflow', async () => {
    const { a, b, ra } = pair({ writeThreshold: 1024, maxWriteQueue: 8192 });
    b.pause();
    for (let i = 0; i < 8; i++) a.write(Buffer.alloc(1024));
    expect(a.write(Buffer.alloc(1))).toBe(false);
    expect(a.state).toBe('open'); // closed just after the write returns, not inside it
    await Promise.resolve();
    expect(ra.closeReason).toBe('write-overflow');
    expect(ra.closeError?.message).toMatch(/over 8192/);
    expect(a.write(Buffer.alloc(1))).toBe(false);
  });

  test('close: what was written still arrives, then the other end closes with remote-closed; each end once', async () => {
    const { a, b, ra, rb } = pair();
    a.write(Buffer.from('last words'));
    a.close();
    expect(ra.closeReason).toBe('local');
    await until(() => rb.closeReason !== undefined, 'the EOF');
    expect(rb.received.toString()).toBe('last words');
    expect(rb.closeReason).toBe('remote-closed');
    expect(b.write(Buffer.from('x'))).toBe(false);
    b.close();
    expect(rb.closeReason).toBe('remote-closed');
  });

  test('transient reads come through one reused buffer', async () => {
    const { a, b, rb } = pair({ transientReads: true, chunkSize: 4 });
    const views: Buffer[] = [];
    b.setHandler({ ...rb, onData: (s, c) => (views.push(c), rb.onData(s, Buffer.from(c))), onClose: (s, r) => rb.onClose(s, r) });
    expect(b.transientReads).toBe(true);
    a.write(Buffer.from('abcdefgh'));
    await until(() => rb.received.length === 8, 'both chunks');
    expect(rb.received.toString()).toBe('abcdefgh');
    expect(views[0]!.buffer).toBe(views[1]!.buffer);
  });

  test('latency on a ManualClock: nothing moves until the clock does', async () => {
    const clock = new ManualClock(0);
    const { a, rb } = pair({ clock, latencyMs: 50 });
    a.write(Buffer.from('hi'));
    for (let i = 0; i < 5; i++) await turn();
    expect(rb.chunks).toHaveLength(0);
    clock.advance(49);
    expect(rb.chunks).toHaveLength(0);
    clock.advance(1);
    expect(rb.received.toString()).toBe('hi');
  });
});

/**
 * What MSE will be: a PeerSocket around another one that transforms the bytes (here XOR) and
 * forwards back-pressure and close. The test shows the interface is enough for it.
 */
class XorSocket implements PeerSocket {
  handler: SocketHandler;
  constructor(
    private readonly inner: PeerSocket,
    handler: SocketHandler,
  ) {
    this.handler = handler;
    inner.setHandler({
      onData: (_s, chunk) => this.handler.onData(this, xor(chunk)),
      onFlushed: () => this.handler.onFlushed?.(this),
      onClose: (_s, reason, error) => this.handler.onClose(this, reason, error),
    });
  }
  get id(): number {
    return this.inner.id;
  }
  get transport(): string {
    return this.inner.transport;
  }
  get incoming(): boolean {
    return this.inner.incoming;
  }
  get state(): PeerSocket['state'] {
    return this.inner.state;
  }
  get remoteAddress(): string {
    return this.inner.remoteAddress;
  }
  get remotePort(): number {
    return this.inner.remotePort;
  }
  get localAddress(): string | undefined {
    return this.inner.localAddress;
  }
  get localPort(): number | undefined {
    return this.inner.localPort;
  }
  readonly transientReads = false; // decrypted chunks are fresh buffers
  get createdAt(): number {
    return this.inner.createdAt;
  }
  get lastReceivedAt(): number {
    return this.inner.lastReceivedAt;
  }
  get writableLength(): number {
    return this.inner.writableLength;
  }
  get congested(): boolean {
    return this.inner.congested;
  }
  setHandler(handler: SocketHandler): void {
    this.handler = handler;
  }
  write(data: Uint8Array): boolean {
    return this.inner.write(xor(data));
  }
  writeMany(chunks: readonly Uint8Array[]): boolean {
    return this.inner.writeMany(chunks.map(xor));
  }
  isFlushed(): boolean {
    return this.inner.isFlushed();
  }
  pause(): void {
    this.inner.pause();
  }
  resume(): void {
    this.inner.resume();
  }
  close(reason?: CloseReason, error?: Error): void {
    this.inner.close(reason, error);
  }
}

function xor(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i]! ^ 0x5a;
  return out;
}

test('a decorator socket (MSE-like) transforms both ways and forwards back-pressure, onFlushed and close', async () => {
  const { a, b, rb } = pair({ writeThreshold: 4096, chunkSize: 1024 });
  const outer = new Recorder();
  const wrapped = new XorSocket(a, outer);
  const inner = new Recorder();
  const peer = new XorSocket(b, inner);
  expect(wrapped.transport).toBe('memory');
  b.pause();
  while (wrapped.write(Buffer.from('x'.repeat(1024))));
  expect(wrapped.congested).toBe(true);
  expect(wrapped.writableLength).toBe(4096);
  b.resume();
  await until(() => outer.flushedCount === 1, 'onFlushed through the decorator');
  await until(() => inner.received.length === 4096, 'decrypted on the other side');
  expect(inner.received.toString()).toBe('x'.repeat(4096));
  expect(rb.chunks).toHaveLength(0); // the decorator took the inner handler
  peer.write(Buffer.from('reply'));
  await until(() => outer.received.length === 5, 'the reply');
  expect(outer.received.toString()).toBe('reply');
  wrapped.close();
  expect(outer.closeReason).toBe('local');
  await until(() => inner.closeReason === 'remote-closed', 'the close through both decorators');
});

describe('MemoryNetwork', () => {
  function host(clock: MemoryNetwork['clock'], accept: TransportHost['accept'] = () => new Recorder()): TransportHost {
    return { clock, gate: new ConnectionGate({ clock, timeoutMs: 0 }), accept, reportError: () => undefined };
  }

  test('dials by address and port; an address nobody listens on fails the connect; listen takes the first free port', async () => {
    const net = new MemoryNetwork({ onError: () => undefined });
    const accepted: PeerSocket[] = [];
    const server = net.transport('192.0.2.10');
    server.attach(
      host(net.clock, (s) => {
        accepted.push(s);
        return new Recorder();
      }),
    );
    const other = net.transport('192.0.2.10', { name: 'memory-b' });
    other.attach(host(net.clock));
    const third = net.transport('192.0.2.10');
    third.attach(host(net.clock));
    expect((await server.listen({ minPort: 6881, maxPort: 6889 })).port).toBe(6881);
    expect((await third.listen({ minPort: 6881, maxPort: 6889 })).port).toBe(6882); // 6881 is taken for 'memory'
    expect((await other.listen({ minPort: 6881, maxPort: 6881 })).port).toBe(6881); // another name: its own ports
    const client = net.transport('192.0.2.11');
    client.attach(host(net.clock));
    const ok = new Recorder();
    const s = client.connect('192.0.2.10', 6881, ok);
    expect(s.state).toBe('connecting');
    await until(() => ok.connected, 'connected');
    expect(accepted).toHaveLength(1);
    expect([accepted[0]!.incoming, accepted[0]!.remoteAddress, accepted[0]!.remotePort]).toEqual([true, '192.0.2.11', s.localPort]);
    const refused = new Recorder();
    client.connect('192.0.2.10', 7000, refused);
    await until(() => refused.closeReason !== undefined, 'refused');
    expect(refused.closeReason).toBe('connect-failed');
    const named = new Recorder();
    const clientB = net.transport('192.0.2.11', { name: 'memory-b' });
    clientB.attach(host(net.clock));
    expect(clientB.connect('192.0.2.10', 6881, named).transport).toBe('memory-b');
    await until(() => named.connected, "the 'memory-b' listener on the same port");
    expect(other.socketCount).toBe(1);
    expect(server.socketCount).toBe(1);
    expect(net.congestions).toBe(0);
    await server.close();
    await until(() => ok.closeReason === 'remote-closed', 'shutdown seen by the dialler');
    expect(server.socketCount).toBe(0);
  });

  test('an incoming connection the host refuses: the dialler sees the connect, then remote-closed', async () => {
    const net = new MemoryNetwork();
    const server = net.transport('192.0.2.10');
    server.attach(host(net.clock, () => undefined));
    await server.listen({ minPort: 0 });
    const client = net.transport('192.0.2.11');
    client.attach(host(net.clock));
    const rec = new Recorder();
    client.connect('192.0.2.10', server.port!, rec);
    await until(() => rec.closeReason !== undefined, 'closed');
    expect(rec.connected).toBe(true);
    expect(rec.closeReason).toBe('remote-closed');
  });

  test('a host on another clock is refused (the sockets and the latency would not agree)', () => {
    const net = new MemoryNetwork({ clock: new ManualClock() });
    expect(() => net.transport('192.0.2.1').attach(host(new ManualClock()))).toThrow(/clock/);
    expect(() => net.transport('example.org')).toThrow(/IP address/);
  });
});
