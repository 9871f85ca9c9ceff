// The session's one UDP endpoint, over real UDP on loopback: datagrams go to the owner that
// claims them, the rest are dropped and counted.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isDhtDatagram, isUtpDatagram, UdpEndpoint, type DatagramOwner, type DatagramSource } from './index.js';
import { eventually } from './test-helpers.js';

const endpoints: UdpEndpoint[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  await Promise.all(endpoints.splice(0).map((e) => e.close()));
  for (const s of sockets.splice(0)) s.close();
});

function endpoint(options: ConstructorParameters<typeof UdpEndpoint>[0] = {}): UdpEndpoint {
  const e = new UdpEndpoint({ onError: () => undefined, ...options });
  endpoints.push(e);
  return e;
}

/** A plain UDP socket on loopback that records what it receives. */
async function remote(type: 'udp4' | 'udp6' = 'udp4'): Promise<{ socket: Socket; port: number; got: { msg: Buffer; rinfo: RemoteInfo }[] }> {
  const socket = createSocket(type);
  sockets.push(socket);
  const got: { msg: Buffer; rinfo: RemoteInfo }[] = [];
  socket.on('message', (msg, rinfo) => got.push({ msg, rinfo }));
  await new Promise<void>((r) => socket.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', r));
  return { socket, port: socket.address().port, got };
}

function recorder(name: string, claims: (d: Buffer, from: DatagramSource) => boolean) {
  const got: { data: string; from: DatagramSource }[] = [];
  const errors: Error[] = [];
  const owner: DatagramOwner = { name, claims, onMessage: (d, from) => got.push({ data: d.toString('latin1'), from }), onError: (e) => errors.push(e) };
  return { owner, got, errors };
}

test('each datagram goes to the first owner that claims it; unclaimed ones are dropped and counted', async () => {
  const e = endpoint();
  const port = await e.bind({ hosts: ['127.0.0.1'] });
  expect(e.port).toBe(port);
  const tracker = recorder('udp-tracker', (d) => d.length >= 8 && d[0] === 0);
  const dht = recorder('dht', isDhtDatagram);
  const greedy = recorder('greedy', () => true); // registered last: gets only what nobody before it took
  const trackerRoute = e.register(tracker.owner);
  e.register(dht.owner);
  const peer = await remote();
  const send = (s: string | Buffer): void => void peer.socket.send(typeof s === 'string' ? Buffer.from(s, 'latin1') : s, port, '127.0.0.1');
  send(Buffer.alloc(16)); // tracker-shaped
  send('d1:ad2:id20:aaaaaaaaaaaaaaaaaaaae1:q4:ping1:t2:aa1:y1:qe');
  send('junk');
  await eventually(() => e.stats().received === 3);
  expect(tracker.got).toHaveLength(1);
  expect(tracker.got[0]!.from).toEqual({ address: '127.0.0.1', port: peer.port, family: 'IPv4' });
  expect(dht.got.map((g) => g.data[0])).toEqual(['d']);
  expect(e.stats()).toMatchObject({ received: 3, unclaimed: 1, claimed: { 'udp-tracker': 1, dht: 1 } });
  // Replies go out through the route, from the endpoint's port.
  trackerRoute.send(Buffer.from('answer'), peer.port, '127.0.0.1');
  await eventually(() => peer.got.length === 1);
  expect(peer.got[0]!.msg.toString()).toBe('answer');
  expect(peer.got[0]!.rinfo.port).toBe(port);
  // A route that closed takes nothing any more; a later owner does.
  trackerRoute.close();
  e.register(greedy.owner);
  send(Buffer.alloc(16));
  await eventually(() => greedy.got.length === 1);
  expect(tracker.got).toHaveLength(1);
  expect(e.stats().claimed['udp-tracker']).toBe(1); // kept after the close
});

test('bounded: at most maxOwners, names unique; a throwing claim is a no and is reported', async () => {
  const reported: string[] = [];
  const e = endpoint({ maxOwners: 2, onError: (_err, context) => reported.push(context) });
  const port = await e.bind({ hosts: ['127.0.0.1'] });
  const bad = recorder('bad', () => {
    throw new Error('boom');
  });
  const ok = recorder('ok', () => true);
  e.register(bad.owner);
  expect(() => e.register(bad.owner)).toThrow(/named bad/);
  e.register(ok.owner);
  expect(() => e.register(recorder('third', () => true).owner)).toThrow(/its 2 owners/);
  const peer = await remote();
  peer.socket.send(Buffer.from('x'), port, '127.0.0.1');
  await eventually(() => ok.got.length === 1);
  expect(reported).toEqual(['bad claims']);
});

test('a bound port is taken for a second endpoint; sends to bad hosts, or after close, fail through onError', async () => {
  const first = endpoint();
  const port = await first.bind({ hosts: ['127.0.0.1'] });
  await expect(endpoint().bind({ port, hosts: ['127.0.0.1'] })).rejects.toMatchObject({ code: 'NO_FREE_PORT' });
  const r = recorder('r', () => false);
  const route = first.register(r.owner);
  route.send(Buffer.from('x'), 1234, 'example.org');
  route.send(Buffer.from('x'), 1234, '::1'); // bound on IPv4 only
  expect(r.errors.map((err) => err.message)).toEqual([
    'cannot send to "example.org" from this endpoint',
    'cannot send to "::1" from this endpoint',
  ]);
  expect(first.stats().sendErrors).toBe(2);
  const told: (Error | undefined)[] = [];
  route.send(Buffer.from('x'), 1234, 'example.org', (err) => told.push(err)); // a callback takes the error instead
  expect(told.map((e) => e?.message)).toEqual(['cannot send to "example.org" from this endpoint']);
  expect(r.errors).toHaveLength(2);
  await first.close();
  route.send(Buffer.from('x'), 1234, '127.0.0.1');
  expect(r.errors).toHaveLength(3);
});

test('default bind is dual-stack: IPv4 and IPv6 peers on one socket, IPv4 sources reported as plain IPv4', async () => {
  const e = endpoint();
  let port: number;
  try {
    port = await e.bind();
  } catch {
    return; // no IPv6 here: bindHosts fell back, nothing dual-stack to test
  }
  const r = recorder('all', () => true);
  const route = e.register(r.owner);
  const v4 = await remote('udp4');
  v4.socket.send(Buffer.from('four'), port, '127.0.0.1');
  await eventually(() => r.got.length === 1);
  expect(r.got[0]!.from).toMatchObject({ address: '127.0.0.1', family: 'IPv4' });
  route.send(Buffer.from('back'), v4.port, '127.0.0.1');
  await eventually(() => v4.got.length === 1);
  let v6: Awaited<ReturnType<typeof remote>>;
  try {
    v6 = await remote('udp6');
  } catch {
    return;
  }
  v6.socket.send(Buffer.from('six'), port, '::1');
  await eventually(() => r.got.length === 2);
  expect(r.got[1]!.from).toMatchObject({ address: '::1', family: 'IPv6' });
});

test('the claim predicates for the DHT and uTP', () => {
  expect(isDhtDatagram(Buffer.from('d1:y1:qe'))).toBe(true);
  expect(isDhtDatagram(Buffer.alloc(0))).toBe(false);
  const utp = Buffer.alloc(20);
  for (const type of [0, 1, 2, 3, 4]) {
    utp[0] = (type << 4) | 1;
    expect(isUtpDatagram(utp)).toBe(true);
  }
  utp[0] = (5 << 4) | 1;
  expect(isUtpDatagram(utp)).toBe(false);
  utp[0] = 0x41;
  expect(isUtpDatagram(utp.subarray(0, 19))).toBe(false);
  expect(isUtpDatagram(Buffer.alloc(20))).toBe(false); // version 0: a UDP tracker reply's first byte
  expect(isDhtDatagram(Buffer.alloc(20))).toBe(false);
});
