// One ConnectionGate for several transports: the caps, eviction and the idle sweep apply to every
// connection, TCP or in-memory.
import { ManualClock } from '@mainline/rate';
import { ConnectionGate, MemoryNetwork, RawServer, TcpTransport, type PeerSocket, type TransportHost } from './index.js';
import { eventually, Recorder } from './test-helpers.js';

/** A host that admits through the gate, as a peer-wire hub does, and records what came in. */
function hostOf(gate: ConnectionGate) {
  const incoming: { socket: PeerSocket; rec: Recorder }[] = [];
  const host: TransportHost = {
    clock: gate.clock,
    gate,
    accept: (socket) => {
      if (!gate.has(socket) && !gate.admit(socket.remoteAddress)) return undefined;
      gate.track(socket);
      const rec = new Recorder();
      const release = rec.onClose.bind(rec);
      rec.onClose = (s, r, e) => {
        gate.release(s);
        release(s, r, e);
      };
      incoming.push({ socket, rec });
      return rec;
    },
    reportError: () => undefined,
  };
  return { host, incoming };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
async function turns(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await turn();
  expect(check()).toBe(true);
}

test('maxAllowIn and maxConnectionsPerIp count the connections of every transport; onFull evicts across them', async () => {
  const clock = new ManualClock();
  let victim: PeerSocket | undefined = undefined;
  const gate = new ConnectionGate({ clock, maxAllowIn: 3, maxConnectionsPerIp: 2, timeoutMs: 0, onFull: () => victim });
  const { host, incoming } = hostOf(gate);
  const net = new MemoryNetwork({ clock });
  const a = net.transport('192.0.2.1');
  const b = net.transport('192.0.2.1', { name: 'other' });
  a.attach(host);
  b.attach(host);
  const portA = (await a.listen({ minPort: 0 })).port;
  const portB = (await b.listen({ minPort: 0 })).port;
  const dialler = (address: string, name = 'memory') => {
    const t = net.transport(address, { name });
    t.attach(hostOf(new ConnectionGate({ clock, timeoutMs: 0 })).host);
    return t;
  };
  const x = dialler('192.0.2.50');
  const xOther = dialler('192.0.2.50', 'other'); // one address, both transports
  const y = dialler('192.0.2.60');
  const yOther = dialler('192.0.2.60', 'other');
  const recs = [new Recorder(), new Recorder(), new Recorder(), new Recorder()];
  x.connect('192.0.2.1', portA, recs[0]!);
  xOther.connect('192.0.2.1', portB, recs[1]!);
  x.connect('192.0.2.1', portA, recs[2]!); // third from one address: over the per-IP cap
  await turns(() => recs.slice(0, 3).every((r) => r.connected));
  await turns(() => recs[2]!.closeReason !== undefined);
  expect(recs[2]!.closeReason).toBe('remote-closed');
  expect(gate.connectionsFrom('192.0.2.50')).toBe(2);
  expect(incoming.map((i) => i.socket.transport)).toEqual(['memory', 'other']);
  const y1 = new Recorder();
  yOther.connect('192.0.2.1', portB, y1);
  await turns(() => gate.count === 3);
  // Full: a newcomer gets in only if onFull names an incoming socket, of any transport.
  y.connect('192.0.2.1', portA, recs[3]!);
  await turns(() => recs[3]!.closeReason !== undefined);
  expect(gate.refusedCount).toBe(2);
  victim = incoming[1]!.socket; // the 'other' transport's
  const y2 = new Recorder();
  y.connect('192.0.2.1', portA, y2);
  await turns(() => incoming[1]!.rec.closeReason !== undefined && incoming.length === 4);
  expect(incoming[1]!.rec.closeReason).toBe('evicted');
  await turns(() => recs[1]!.closeReason === 'remote-closed');
  expect(y2.closeReason).toBeUndefined();
  expect(gate.count).toBe(3);
});

test('the idle sweep closes sockets of any transport after more than timeoutMs without a byte', async () => {
  const clock = new ManualClock();
  const gate = new ConnectionGate({ clock, timeoutMs: 300_000, timeoutCheckIntervalMs: 60_000 });
  const { host, incoming } = hostOf(gate);
  const net = new MemoryNetwork({ clock });
  const server = net.transport('192.0.2.1');
  server.attach(host);
  await server.listen({ minPort: 6881, maxPort: 6881 });
  const client = net.transport('192.0.2.2');
  client.attach(hostOf(new ConnectionGate({ clock, timeoutMs: 0 })).host);
  const quiet = new Recorder();
  const chatty = new Recorder();
  const c1 = client.connect('192.0.2.1', 6881, quiet);
  const c2 = client.connect('192.0.2.1', 6881, chatty);
  await turns(() => incoming.length === 2 && quiet.connected && chatty.connected);
  for (let t = 0; t < 5; t++) {
    clock.advance(60_000);
    c2.write(Buffer.from('x'));
    await turns(() => incoming[1]!.rec.received.length === t + 1);
  }
  clock.advance(60_000); // 360 s: the quiet one is past 300 s at this sweep
  expect(incoming[0]!.rec.closeReason).toBe('timeout');
  expect(incoming[1]!.rec.closeReason).toBeUndefined();
  await turns(() => quiet.closeReason === 'remote-closed');
  expect(c1.state).toBe('closed');
  gate.close();
  expect(clock.pendingTimers).toBe(0);
});

test('a TcpTransport counts its sockets in the host gate, with a memory transport beside it', async () => {
  const clock = new ManualClock();
  const gate = new ConnectionGate({ clock, maxAllowIn: 1, timeoutMs: 0 });
  const { host, incoming } = hostOf(gate);
  const tcp = new TcpTransport();
  tcp.attach(host);
  const { port } = await tcp.listen({ minPort: 0, hosts: ['127.0.0.1'] });
  const mem = new MemoryNetwork({ clock }).transport('192.0.2.1');
  mem.attach(host);
  await mem.listen({ minPort: 0 });
  const client = new RawServer({ onError: () => undefined });
  try {
    const first = new Recorder();
    client.connect('127.0.0.1', port, first);
    await eventually(() => incoming.length === 1);
    expect(gate.count).toBe(1);
    expect(incoming[0]!.socket.transport).toBe('tcp');
    // Full, and TCP refuses early (before it builds a socket), through the same gate.
    const second = new Recorder();
    client.connect('127.0.0.1', port, second);
    await eventually(() => second.closeReason !== undefined);
    expect(gate.refusedCount).toBe(1);
    expect(tcp.server.connectionCount).toBe(1);
    expect(() => new RawServer({ gate, maxAllowIn: 3 })).toThrow(/maxAllowIn: the shared gate's/);
    expect(() => new RawServer({ gate })).toThrow(/another clock/);
  } finally {
    await client.close();
    await tcp.close();
    await mem.close();
    gate.close();
  }
});
