// The wire-extension host (BEP 10) in a Swarm, against scripted peers over loopback TCP.
import { join } from 'node:path';
import { encodeMetadataMessage, ExtensionHost, makeReserved, MAX_UNKNOWN_EXTENDED_MESSAGES, UT_METADATA_ID, type Extension, type ExtensionPeer } from './index.js';
import { eventually, fullBitfield, rawOptions as opts, seededTorrent, type RawPeer, type SwarmNode } from './swarm-harness.js';

const EXT = makeReserved({ extended: true });
const t = seededTorrent('ext-host', 512 * 1024 + 99);
const fx = t.fx;

/** A test extension that records what it is told and echoes each message back with a prefix. */
class Echo implements Extension {
  readonly name = 'x_echo';
  readonly seen: string[] = [];
  readonly closed: string[] = [];
  readonly handshakes: (number | undefined)[] = [];
  throwOn: string | undefined;
  onHandshake(peer: ExtensionPeer): void {
    this.handshakes.push(peer.handshake?.m.get(this.name));
  }
  onMessage(peer: ExtensionPeer, payload: Uint8Array): void {
    const text = Buffer.from(payload).toString();
    if (text === this.throwOn) throw new Error('echo refuses this');
    this.seen.push(text);
    peer.send(Buffer.from(`echo ${text}`));
  }
  onClose(peer: ExtensionPeer): void {
    this.closed.push(peer.conn.remoteAddress);
  }
}

async function seed(extensions: Extension[], extra: { private?: boolean; metadata?: boolean } = {}): Promise<SwarmNode> {
  return fx.node(t.meta, t.seedDir, {
    id: Buffer.from('-ML0001-ext-host-sd1'),
    swarm: {
      extensions,
      listenPort: 51413,
      ...(extra.private ? { private: true } : {}),
      ...(extra.metadata === false ? {} : { metadata: t.meta.infoBytes }),
    },
  });
}

async function peer(node: SwarmNode, tag: string, m: [string, number][] = [['x_echo', 9]], reqq?: number): Promise<RawPeer> {
  const p = await fx.handshaken(node.port, opts(t.meta, tag, { reserved: EXT }));
  p.send({ type: 'extended-handshake', handshake: { m: new Map(m), ...(reqq ? { reqq } : {}) } });
  await p.until(() => p.of('extended-handshake').length > 0, 'the node extension handshake');
  return p;
}

test('our handshake: m with every extension, v, reqq, p, yourip and metadata_size', async () => {
  const node = await seed([new Echo()]);
  const p = await peer(node, 'hs-pub');
  const hs = p.of('extended-handshake')[0]!.handshake;
  expect([...hs.m].sort()).toEqual([
    ['ut_metadata', UT_METADATA_ID],
    ['x_echo', 1],
  ]);
  expect(hs.v).toMatch(/^mainline /);
  expect(hs.p).toBe(51413);
  expect(hs.reqq).toBeGreaterThan(0);
  expect(Buffer.from(hs.yourip!).toString('hex')).toBe('7f000001');
  expect(hs.metadataSize).toBe(t.meta.infoBytes.length);
});

test('a private torrent sends the handshake too, without public-only extensions (ut_metadata, publicOnly ones)', async () => {
  const node = await seed([new Echo(), { name: 'x_public', publicOnly: true, onMessage: () => undefined }], { private: true });
  const p = await peer(node, 'hs-priv', [
    ['x_echo', 9],
    ['ut_metadata', 2],
  ]);
  const hs = p.of('extended-handshake')[0]!.handshake;
  expect([...hs.m]).toEqual([['x_echo', 1]]);
  expect(hs.metadataSize).toBeUndefined();
  expect(hs.reqq).toBeGreaterThan(0);
  expect(hs.p).toBe(51413);
  // A metadata request on a private torrent goes nowhere: it is an id we never assigned.
  p.send({ type: 'extended', id: UT_METADATA_ID, payload: encodeMetadataMessage({ type: 'request', piece: 0 }) });
  p.send({ type: 'extended', id: 1, payload: Buffer.from('ping') });
  await p.until(() => p.of('extended').length > 0, 'the echo');
  expect(p.of('extended').map((m) => [m.id, Buffer.from(m.payload).toString()])).toEqual([[9, 'echo ping']]);
});

test('messages reach their extension by our id and answers go under the peer id; the extension hears of the handshake and the close', async () => {
  const echo = new Echo();
  const node = await seed([echo]);
  const p = await peer(node, 'dispatch');
  p.send({ type: 'extended', id: 1, payload: Buffer.from('a') }, { type: 'extended', id: 1, payload: Buffer.from('b') });
  await p.until(() => p.of('extended').length === 2, 'two echoes');
  expect(echo.seen).toEqual(['a', 'b']);
  expect(echo.handshakes).toEqual([9]);
  expect(p.of('extended').map((m) => m.id)).toEqual([9, 9]);
  p.destroy();
  await eventually(() => echo.closed.length === 1, 'onClose');
  expect(echo.closed).toEqual(['127.0.0.1']);
});

test('unknown ids are ignored up to a bound, then the peer is dropped with a logged reason', async () => {
  const node = await seed([new Echo()]);
  const p = await peer(node, 'unknown');
  for (let i = 0; i < MAX_UNKNOWN_EXTENDED_MESSAGES; i++) p.send({ type: 'extended', id: 77, payload: Buffer.from('?') });
  p.send({ type: 'extended', id: 1, payload: Buffer.from('still here') });
  await p.until(() => p.of('extended').length === 1, 'the echo after ignored messages');
  p.send({ type: 'extended', id: 77, payload: Buffer.from('?') });
  await p.closedWithin();
  expect(node.log.map((l) => l.code)).toEqual(['UNKNOWN_EXTENDED_MESSAGE']);
});

test('an extension that throws drops only that peer, with the extension named in the log', async () => {
  const echo = new Echo();
  echo.throwOn = 'boom';
  const node = await seed([echo]);
  const bad = await peer(node, 'thrower');
  const good = await peer(node, 'bystander');
  bad.send({ type: 'extended', id: 1, payload: Buffer.from('boom') });
  await bad.closedWithin();
  expect(node.log.map((l) => [l.code, l.message])).toEqual([['EXTENSION_ERROR', 'x_echo: echo refuses this']]);
  good.send({ type: 'extended', id: 1, payload: Buffer.from('ok') });
  await good.until(() => good.of('extended').length === 1, 'the bystander is still served');
  expect(node.serverErrors).toEqual([]);
});

test("the peer's reqq bounds our requests in flight to it", async () => {
  const leech = await fx.node(t.meta, join(t.dir, 'leech-reqq'), { id: Buffer.from('-ML0001-ext-host-lc1'), swarm: { extensions: [new Echo()] } });
  // A seed that queues at most 3 requests dials the leecher.
  const p = await fx.handshaken(leech.port, opts(t.meta, 'reqq-seed', { reserved: EXT }));
  p.send(
    { type: 'extended-handshake', handshake: { m: new Map([['x_echo', 5]]), reqq: 3 } },
    { type: 'bitfield', bitfield: fullBitfield(t.meta.pieceCount) },
    { type: 'unchoke' },
    { type: 'unchoke' },
    { type: 'extended', id: 1, payload: Buffer.from('sync') },
  );
  // The echo comes after everything before it was handled (requests are sent as the unchoke is).
  await p.until(() => p.of('extended').length === 1, 'the echo');
  expect(p.of('request').length).toBe(3);
  expect([...leech.swarm.peers][0]!.outstanding).toBe(3);
});

test('ids: the preferred one when free, else the lowest free; names are unique; publicOnly skipped when private', () => {
  const host = new ExtensionHost({ extensions: [{ name: 'a', preferredId: 3, onMessage: () => undefined }] });
  host.register({ name: 'b', preferredId: 3, onMessage: () => undefined });
  host.register({ name: 'c', onMessage: () => undefined });
  expect([host.localId('a'), host.localId('b'), host.localId('c')]).toEqual([3, 1, 2]);
  expect(() => host.register({ name: 'a', onMessage: () => undefined })).toThrow(/twice/);
  const priv = new ExtensionHost({ private: true, extensions: [{ name: 'p', publicOnly: true, onMessage: () => undefined }] });
  expect(priv.localId('p')).toBeUndefined();
});
