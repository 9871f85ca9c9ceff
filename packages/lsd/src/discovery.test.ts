import { randomBytes } from 'node:crypto';
import { ManualClock } from '@mainline/rate';
import { LocalDiscovery, type LocalDiscoveryOptions, type LsdLogEvent, type LsdPeer } from './discovery.js';
import { MAX_ANNOUNCE_BYTES, encodeAnnounce, parseAnnounce } from './message.js';
import { FakeTransport } from './testing.testutil.js';

const MIN = 60_000;
const hash = (): string => randomBytes(20).toString('hex');

function setup(options: Partial<LocalDiscoveryOptions> = {}, families: ('IPv4' | 'IPv6')[] = ['IPv4']) {
  const clock = new ManualClock(1_000_000);
  const transport = new FakeTransport(families);
  const log: LsdLogEvent[] = [];
  const lsd = new LocalDiscovery({ transport, clock, port: 6881, cookie: 'c00c1e', log: (e) => log.push(e), ...options });
  /** Info-hashes of each datagram sent so far (and forgets them). */
  const sent = (): string[][] => transport.sent.splice(0).map((s) => parseAnnounce(s.datagram).infoHashes);
  return { clock, transport, lsd, log, sent };
}

const announce = (infoHashes: string[], port = 51413, cookie?: string): Uint8Array => encodeAnnounce({ family: 'IPv4', port, infoHashes, ...(cookie ? { cookie } : {}) });

describe('announcing', () => {
  test('a torrent is announced when it registers, on every family, with our port and cookie', () => {
    const ctx = setup({}, ['IPv4', 'IPv6']);
    const { lsd, transport } = ctx;
    const { clock } = ctx;
    const h = hash();
    lsd.add(h, () => undefined);
    clock.advance(249);
    expect(transport.sent).toEqual([]);
    clock.advance(1);
    expect(transport.sent.map((s) => s.family)).toEqual(['IPv4', 'IPv6']);
    for (const s of transport.sent) expect(parseAnnounce(s.datagram)).toMatchObject({ port: 6881, infoHashes: [h], cookie: 'c00c1e' });
    expect(lsd.stats()).toMatchObject({ sent: 2, sentInfoHashes: 2, torrents: 1 });
  });

  test('then every 5 minutes, not sooner', () => {
    const { lsd, clock, sent } = setup();
    const h = hash();
    lsd.add(h, () => undefined);
    clock.advance(250);
    expect(sent()).toEqual([[h]]);
    clock.advance(5 * MIN - 1);
    expect(sent()).toEqual([]);
    clock.advance(1);
    expect(sent()).toEqual([[h]]);
    clock.advance(5 * MIN);
    expect(sent()).toEqual([[h]]);
  });

  test('torrents due together share a datagram (up to 1400 bytes); 60 at once make 25 + 25 + 10', () => {
    const { lsd, transport, sent, clock } = setup();
    const hashes = Array.from({ length: 60 }, hash);
    for (const h of hashes) lsd.add(h, () => undefined);
    clock.advance(250);
    const sizes = transport.sent.map((s) => s.datagram.length);
    expect(sent().map((b) => b.length)).toEqual([25, 25, 10]);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_ANNOUNCE_BYTES);
  });

  test('overall rate: 3 datagrams back to back, then one per 20 s, oldest due first', () => {
    const { lsd, clock, sent } = setup();
    const hashes = Array.from({ length: 6 }, hash);
    for (const h of hashes) {
      lsd.add(h, () => undefined);
      clock.advance(250); // each one comes later: none can share the earlier datagrams
    }
    expect(sent()).toEqual([[hashes[0]], [hashes[1]], [hashes[2]]]);
    // Tokens refill at one per 20 s from the first send (at 250 ms): 0.025 are left after the
    // third (at 750 ms), a whole one is there at 20,250 ms. The 4th waited for it since 1000 ms;
    // the 5th and 6th became due meanwhile and go with it.
    clock.advance(20_250 - 1500 - 1);
    expect(sent()).toEqual([]);
    clock.advance(1);
    expect(sent()).toEqual([[hashes[3], hashes[4], hashes[5]]]);
  });

  test('a torrent that stops and starts again within 5 minutes is not announced again before its time', () => {
    const { lsd, clock, sent } = setup();
    const h = hash();
    const remove = lsd.add(h, () => undefined);
    clock.advance(250);
    expect(sent()).toEqual([[h]]);
    clock.advance(MIN);
    remove();
    lsd.add(h, () => undefined);
    clock.advance(4 * MIN - 1);
    expect(sent()).toEqual([]);
    clock.advance(1);
    expect(sent()).toEqual([[h]]);
  });

  test('a removed torrent is not announced again; nothing is left on the clock', () => {
    const { lsd, clock, sent } = setup();
    const remove = lsd.add(hash(), () => undefined);
    clock.advance(250);
    expect(sent()).toHaveLength(1);
    remove();
    remove(); // twice is harmless
    expect(clock.pendingTimers).toBe(0);
    clock.advance(60 * MIN);
    expect(sent()).toEqual([]);
  });

  test('close() stops everything and closes the transport', async () => {
    const { lsd, clock, transport, sent } = setup();
    lsd.add(hash(), () => undefined);
    await lsd.close();
    expect(transport.closed).toBe(true);
    expect(clock.pendingTimers).toBe(0);
    clock.advance(60 * MIN);
    expect(sent()).toEqual([]);
    expect(() => lsd.add(hash(), () => undefined)).toThrow(/closed/);
  });

  test('options are checked', () => {
    expect(() => setup({ announceIntervalMs: 0 })).toThrow(/announceIntervalMs/);
    expect(() => setup({ sendIntervalMs: NaN })).toThrow(/sendIntervalMs/);
    expect(() => setup({ port: 0 })).toThrow(/port/);
    expect(() => setup({ maxAnnounceBytes: 120 })).toThrow(/no room/);
  });
});

describe('receiving', () => {
  test("a matching announce hands the torrent the datagram's source address and the message's port", () => {
    const { lsd, transport } = setup();
    const h = hash();
    const found: LsdPeer[] = [];
    lsd.add(h, (p) => found.push(p));
    transport.deliver(announce([h], 51413, 'other'), '198.18.0.2');
    expect(found).toEqual([{ ip: '198.18.0.2', port: 51413 }]);
    expect(lsd.stats()).toMatchObject({ received: 1, peers: 1, unknownInfoHashes: 0 });
  });

  test('one datagram naming several of our torrents reaches each; unknown hashes are counted, nothing else', () => {
    const { lsd, transport } = setup();
    const [a, b, c] = [hash(), hash(), hash()];
    const got: string[] = [];
    lsd.add(a, (p) => got.push(`a ${p.ip}:${p.port}`));
    lsd.add(b, (p) => got.push(`b ${p.ip}:${p.port}`));
    transport.deliver(announce([c, a, b], 7000), 'fe80::1%veth0');
    expect(got).toEqual(['a fe80::1%veth0:7000', 'b fe80::1%veth0:7000']);
    expect(lsd.stats()).toMatchObject({ peers: 2, unknownInfoHashes: 1 });
  });

  test('our own announce, looped back, is ignored by its cookie (libtorrent does the same)', () => {
    const { lsd, transport, log, clock } = setup();
    const h = hash();
    const found: LsdPeer[] = [];
    lsd.add(h, (p) => found.push(p));
    clock.advance(250);
    transport.deliver(transport.sent[0]!.datagram);
    expect(found).toEqual([]);
    expect(lsd.stats().dropped.own).toBe(1);
    expect(log).toContainEqual({ type: 'dropped', reason: 'own', from: '198.18.0.2' });
    // Another client's announce without a cookie (Transmission 3) is used.
    transport.deliver(announce([h]));
    expect(found).toHaveLength(1);
  });

  test('an announce from outside our networks is dropped before it is parsed', () => {
    const { lsd, transport } = setup();
    const found: LsdPeer[] = [];
    const h = hash();
    lsd.add(h, (p) => found.push(p));
    transport.deliver(announce([h]), '203.0.113.5');
    expect(found).toEqual([]);
    expect(lsd.stats().dropped['off-link']).toBe(1);
  });

  test('malformed datagrams are dropped with their reason logged', () => {
    const { lsd, transport, log } = setup();
    transport.deliver(randomBytes(3000));
    transport.deliver('BT-SEARCH * HTTP/1.1\r\nPort: 99999\r\nInfohash: x\r\n\r\n');
    expect(lsd.stats().dropped.malformed).toBe(2);
    expect(log.filter((e) => e.type === 'dropped').map((e) => (e.type === 'dropped' ? e.code : ''))).toEqual(['TOO_LARGE', 'BAD_PORT']);
  });

  test('a flood from one address: 10 read at once, then one a second; only the first drop is logged', () => {
    const { lsd, transport, clock, log } = setup();
    const h = hash();
    const found: LsdPeer[] = [];
    lsd.add(h, (p) => found.push(p));
    for (let i = 0; i < 1000; i++) transport.deliver(announce([h], 10_000 + i), '198.18.0.66');
    expect(found.map((p) => p.port)).toEqual(Array.from({ length: 10 }, (_, i) => 10_000 + i));
    expect(lsd.stats().dropped['source-rate']).toBe(990);
    expect(log.filter((e) => e.type === 'dropped' && e.reason === 'source-rate')).toHaveLength(1);
    // Others are not held back by it.
    transport.deliver(announce([h], 20_000), '198.18.0.7');
    expect(found.at(-1)).toEqual({ ip: '198.18.0.7', port: 20_000 });
    clock.advance(1000);
    transport.deliver(announce([h], 30_000), '198.18.0.66');
    transport.deliver(announce([h], 30_001), '198.18.0.66');
    expect(found.slice(-1)).toEqual([{ ip: '198.18.0.66', port: 30_000 }]);
  });

  test('a flood from many addresses: 50 read at once, then 10 a second for all of them', () => {
    const { lsd, transport, clock } = setup();
    const h = hash();
    let found = 0;
    lsd.add(h, () => found++);
    for (let i = 0; i < 500; i++) transport.deliver(announce([h]), `198.18.${i >> 8}.${i & 255}`);
    expect(found).toBe(50);
    expect(lsd.stats().dropped['global-rate']).toBe(450);
    clock.advance(1000);
    for (let i = 0; i < 500; i++) transport.deliver(announce([h]), `198.19.${i >> 8}.${i & 255}`);
    expect(found).toBe(60);
  });

  test('the table of senders is bounded: the least recently heard is forgotten', () => {
    const { lsd, transport } = setup({ maxSources: 2, perSourceBurst: 1, perSourceIntervalMs: 60_000 });
    const h = hash();
    const from: string[] = [];
    lsd.add(h, (p) => from.push(p.ip));
    transport.deliver(announce([h]), '198.18.0.1');
    transport.deliver(announce([h]), '198.18.0.1'); // over its rate
    transport.deliver(announce([h]), '198.18.0.2');
    transport.deliver(announce([h]), '198.18.0.3'); // pushes out .1
    transport.deliver(announce([h]), '198.18.0.1'); // a new sender again
    expect(from).toEqual(['198.18.0.1', '198.18.0.2', '198.18.0.3', '198.18.0.1']);
  });

  test('after a torrent unregisters, its announces reach nobody', () => {
    const { lsd, transport } = setup();
    const h = hash();
    const found: LsdPeer[] = [];
    const remove = lsd.add(h, (p) => found.push(p));
    remove();
    transport.deliver(announce([h]));
    expect(found).toEqual([]);
    expect(lsd.stats().unknownInfoHashes).toBe(1);
  });
});
