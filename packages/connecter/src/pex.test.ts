// ut_pex (BEP 11) on the wire-extension host: the codec, what a Swarm lists and when, and hostile
// senders, against scripted peers over loopback TCP (PEX timing on a ManualClock).
import { decode, encode, type BencodeDict } from '@mainline/bencode';
import { ManualClock } from '@mainline/rate';
import { decodePex, encodeMetadataMessage, encodePex, makeReserved, PEX_MAX_ENTRIES, PexExtension, PexFlags, UT_METADATA_ID, UT_PEX_ID, type PexPeer } from './index.js';
import { eventually, peerId, rawOptions as opts, seededTorrent, type RawPeer, type SwarmNode } from './swarm-harness.js';

const EXT = makeReserved({ extended: true });
const t = seededTorrent('pex', 256 * 1024);
const fx = t.fx;

function compact(peers: [string, number][]): Buffer {
  const out = Buffer.alloc(peers.length * 6);
  peers.forEach(([ip, port], i) => {
    out.set(ip.split('.').map(Number), i * 6);
    out.writeUInt16BE(port, i * 6 + 4);
  });
  return out;
}

test('codec: all six keys, flags per entry, IPv4 and IPv6; at most 50 of each are read', () => {
  const added: PexPeer[] = [
    { ip: '127.0.0.2', port: 6881, flags: PexFlags.seed | PexFlags.reachable },
    { ip: '2001:db8:0:0:0:0:0:1', port: 51413, flags: 0 },
  ];
  const wire = encodePex({ added, dropped: [{ ip: '127.0.0.3', port: 7000, flags: 0 }] });
  const dict = decode(wire) as BencodeDict;
  expect([...dict].map(([k, v]) => [Buffer.from(k).toString(), (v as Uint8Array).length])).toEqual([
    ['added', 6],
    ['added.f', 1],
    ['added6', 18],
    ['added6.f', 1],
    ['dropped', 6],
    ['dropped6', 0],
  ]);
  expect([...(dict.get('added.f') as Uint8Array), ...(dict.get('added6.f') as Uint8Array)]).toEqual([0x12, 0]);
  expect(decodePex(wire)).toEqual({ added, dropped: [{ ip: '127.0.0.3', port: 7000, flags: 0 }] });
  const many = Array.from({ length: 400 }, (_, i): [string, number] => [`127.0.${i >> 8}.${i & 255}`, 1024 + i]);
  const big = decodePex(encode({ added: compact(many), 'added.f': Buffer.alloc(400, 0xff), dropped: compact(many) }));
  expect([big.added.length, big.dropped.length]).toEqual([PEX_MAX_ENTRIES, PEX_MAX_ENTRIES]);
  // Flags garbage: libtorrent's internal 0x80 and unknown bits are masked off.
  expect(new Set(big.added.map((p) => p.flags))).toEqual(new Set([0x1f]));
  // added.f of the wrong length: the entries count, their flags do not.
  expect(decodePex(encode({ added: compact([['127.0.0.9', 9000]]), 'added.f': Buffer.from([1, 2]) })).added).toEqual([{ ip: '127.0.0.9', port: 9000, flags: 0 }]);
  // Port 0 and a trailing partial entry are left out; a non-dictionary is an error.
  expect(decodePex(encode({ added: Buffer.concat([compact([['127.0.0.9', 0]]), Buffer.from([1, 2, 3])]) })).added).toEqual([]);
  expect(() => decodePex(Buffer.from('le'))).toThrow(/not a dictionary/);
});

interface PexNode {
  node: SwarmNode;
  clock: ManualClock;
  found: PexPeer[][];
}

async function pexNode(tag: string, extra: { private?: boolean } = {}): Promise<PexNode> {
  const clock = new ManualClock(1_000_000);
  const found: PexPeer[][] = [];
  // The extension needs the swarm's peers, and the swarm its extensions: a late binding.
  const ref: { swarm?: SwarmNode['swarm'] } = {};
  const pex = new PexExtension({ clock, peerId: peerId(tag), peers: () => ref.swarm?.peers ?? [], onPeers: (p) => found.push(p) });
  const node = await fx.node(t.meta, t.seedDir, {
    id: peerId(tag),
    swarm: { extensions: [pex], metadata: t.meta.infoBytes, listenPort: 6881, ...(extra.private ? { private: true } : {}) },
  });
  ref.swarm = node.swarm;
  return { node, clock, found };
}

/** A scripted peer that advertises ut_pex under id 7 and, if given, its listen port. */
async function pexPeer(n: PexNode, tag: string, p?: number): Promise<RawPeer> {
  const raw = await fx.handshaken(n.node.port, opts(t.meta, tag, { reserved: EXT }));
  raw.send({ type: 'extended-handshake', handshake: { m: new Map([['ut_pex', 7], ['ut_metadata', 8]]), ...(p ? { p } : {}) } });
  await raw.until(() => raw.of('extended-handshake').length === 1, 'the node handshake');
  await eventually(() => [...n.node.swarm.peers].some((v) => v.listenPort === p || p === undefined), 'the handshake handled');
  return raw;
}

/** Returns once the node has handled everything `raw` sent before: a metadata request's answer comes after it. */
async function sync(raw: RawPeer): Promise<void> {
  const answers = (): number => raw.of('extended').filter((m) => m.id === 8).length;
  const before = answers();
  raw.send({ type: 'extended', id: UT_METADATA_ID, payload: encodeMetadataMessage({ type: 'request', piece: 0 }) });
  await raw.until(() => answers() > before, 'the metadata answer');
}

const pexOf = (raw: RawPeer): ReturnType<typeof decodePex>[] => raw.of('extended').filter((m) => m.id === 7).map((m) => decodePex(m.payload));

test('a Swarm lists its peers a second after the handshake, then only changes, at most once a minute', async () => {
  const n = await pexNode('pex-lister');
  const probe = await pexPeer(n, 'probe', 30001);
  const listed = await pexPeer(n, 'listed', 30002);
  await pexPeer(n, 'no-port'); // incoming without `p`: not listable
  expect(probe.of('extended-handshake')[0]!.handshake.m.get('ut_pex')).toBe(UT_PEX_ID);
  n.clock.advance(1000);
  await probe.until(() => pexOf(probe).length === 1, 'the first PEX message');
  // The other peers it can list (not the probe itself, not the one without a listen port).
  expect(pexOf(probe)[0]).toEqual({ added: [{ ip: '127.0.0.1', port: 30002, flags: 0 }], dropped: [] });
  // Nothing changed: nothing is sent a minute later.
  n.clock.advance(60_000);
  await sync(probe);
  expect(pexOf(probe)).toHaveLength(1);
  listed.destroy();
  await eventually(() => n.node.swarm.peers.size === 2, 'the listed peer gone');
  n.clock.advance(60_000);
  await probe.until(() => pexOf(probe).length === 2, 'the dropped message');
  expect(pexOf(probe)[1]).toEqual({ added: [], dropped: [{ ip: '127.0.0.1', port: 30002, flags: 0 }] });
  expect(n.node.log).toEqual([]);
});

test('received peers: at most 50 a message and 50 from one connection, deduplicated', async () => {
  const n = await pexNode('pex-receiver');
  const raw = await pexPeer(n, 'flooder', 30010);
  const many = Array.from({ length: 300 }, (_, i): [string, number] => [`127.0.1.${i % 250}`, 2000 + i]);
  raw.send({ type: 'extended', id: UT_PEX_ID, payload: encode({ added: compact(many.slice(0, 200)), 'added.f': Buffer.alloc(200, 0) }) });
  raw.send({ type: 'extended', id: UT_PEX_ID, payload: encode({ added: compact([...many.slice(0, 10), ...many.slice(200)]), 'added.f': Buffer.alloc(110, 0) }) });
  raw.send({ type: 'extended', id: UT_PEX_ID, payload: encode({ added: compact(many.slice(250)) }) });
  await sync(raw);
  expect(n.found.map((b) => b.length)).toEqual([50]);
  expect(new Set(n.found.flat().map((p) => `${p.ip}:${p.port}`)).size).toBe(50);
  expect(n.node.swarm.peers.size).toBe(1); // still connected: too many entries are ignored, not punished
});

test('a peer sending more than 6 messages a minute is dropped with the reason logged', async () => {
  const n = await pexNode('pex-freq');
  const raw = await pexPeer(n, 'chatty', 30020);
  for (let i = 0; i < 7; i++) raw.send({ type: 'extended', id: UT_PEX_ID, payload: encode({ added: compact([['127.0.2.1', 3000 + i]]) }) });
  await raw.closedWithin();
  expect(n.node.log.map((l) => [l.code, l.message])).toEqual([['EXTENSION_ERROR', 'ut_pex: more than 6 messages within 60 s']]);
  expect(n.found.flat()).toHaveLength(6);
});

test('a private torrent has no ut_pex: not advertised, its messages ignored, nothing sent', async () => {
  const n = await pexNode('pex-private', { private: true });
  const raw = await fx.handshaken(n.node.port, opts(t.meta, 'priv-probe', { reserved: EXT }));
  raw.send({ type: 'extended-handshake', handshake: { m: new Map([['ut_pex', 7]]), p: 30030 } });
  await raw.until(() => raw.of('extended-handshake').length === 1, 'the node handshake');
  expect(raw.of('extended-handshake')[0]!.handshake.m.has('ut_pex')).toBe(false);
  // Its message is one of an id we never assigned: with 64 more such, the peer is dropped for them.
  raw.send({ type: 'extended', id: UT_PEX_ID, payload: encode({ added: compact([['127.0.3.1', 4000]]) }) });
  for (let i = 0; i < 64; i++) raw.send({ type: 'extended', id: 99, payload: Buffer.from('x') });
  await raw.closedWithin();
  expect(n.node.log.map((l) => l.code)).toEqual(['UNKNOWN_EXTENDED_MESSAGE']);
  expect(raw.of('extended')).toEqual([]);
  expect(n.found).toEqual([]);
});
