import * as dgram from 'node:dgram';
import { UdpEndpoint, isDhtDatagram } from '@mainline/rawserver';
import { ManualClock } from '@mainline/rate';
import { TrackerError } from './errors.js';
import { rejectionOf } from './rejection.testutil.js';
import type { AnnounceRequest } from './types.js';
import { UdpTracker } from './udp.js';
import { UdpTrackerClient } from './udp-client.js';

interface Packet {
  msg: Buffer;
  rinfo: dgram.RemoteInfo;
}

/** A scripted UDP tracker: records packets, answers through `handler`. */
class ScriptedUdp {
  readonly packets: Packet[] = [];
  #waiters: ((p: Packet) => void)[] = [];
  #seen = 0;
  handler: (p: Packet, srv: ScriptedUdp) => void = () => undefined;
  constructor(readonly sock: dgram.Socket) {
    sock.on('message', (msg, rinfo) => {
      const p = { msg, rinfo };
      this.packets.push(p);
      this.handler(p, this);
      this.#waiters.shift()?.(p);
    });
  }
  static async open(family: 4 | 6 = 4): Promise<ScriptedUdp> {
    const sock = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((r) => sock.bind(0, family === 6 ? '::1' : '127.0.0.1', r));
    return new ScriptedUdp(sock);
  }
  get port(): number {
    return this.sock.address().port;
  }
  /** The next packet not yet taken by nextPacket(). */
  nextPacket(): Promise<Packet> {
    const i = this.#seen++;
    const got = this.packets[i];
    if (got) return Promise.resolve(got);
    return new Promise((r) => this.#waiters.push(r));
  }
  send(buf: Buffer, to: dgram.RemoteInfo): void {
    this.sock.send(buf, to.port, to.address);
  }
  close(): void {
    this.sock.close();
  }
}

const action = (m: Buffer) => m.readUInt32BE(8);
const tidOf = (m: Buffer) => m.readUInt32BE(12);
function reply(act: number, tid: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32BE(act, 0);
  h.writeUInt32BE(tid, 4);
  return Buffer.concat([h, body]);
}
const CID = Buffer.from('0102030405060708', 'hex');
const connectReply = (tid: number) => reply(0, tid, CID);
function announceReply(tid: number, peers: Buffer, interval = 1800, leechers = 3, seeders = 4): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(interval, 0);
  b.writeUInt32BE(leechers, 4);
  b.writeUInt32BE(seeders, 8);
  return reply(1, tid, Buffer.concat([b, peers]));
}

/** A well-behaved tracker: connect → CID, announce → two IPv4 peers, scrape → counts. */
function honest(p: Packet, srv: ScriptedUdp): void {
  const m = p.msg;
  if (m.length === 16 && m.readBigUInt64BE(0) === 0x41727101980n && action(m) === 0) srv.send(connectReply(tidOf(m)), p.rinfo);
  else if (m.subarray(0, 8).equals(CID) && action(m) === 1) {
    srv.send(announceReply(tidOf(m), Buffer.from([127, 0, 0, 1, 0x1a, 0xe1, 10, 1, 2, 3, 0, 0])), p.rinfo);
  } else if (m.subarray(0, 8).equals(CID) && action(m) === 2) {
    const n = (m.length - 16) / 20;
    const body = Buffer.alloc(12 * n);
    for (let i = 0; i < n; i++) {
      body.writeUInt32BE(m[16 + 20 * i]!, 12 * i); // seeders = first byte of the hash
      body.writeUInt32BE(7, 12 * i + 4);
      body.writeUInt32BE(i, 12 * i + 8);
    }
    srv.send(reply(2, tidOf(m), body), p.rinfo);
  }
}

const request = (over: Partial<AnnounceRequest> = {}): AnnounceRequest => ({
  infoHash: Buffer.alloc(20, 0xab),
  peerId: Buffer.from('-ML0100-123456789012'),
  port: 6881,
  uploaded: 2 ** 40,
  downloaded: 5,
  left: 2 ** 33 + 1,
  key: 0xcafebabe,
  event: 'completed',
  numwant: 33,
  ip: '10.9.8.7',
  ...over,
});

let srv: ScriptedUdp;
const trackers: UdpTracker[] = [];
const open = (opts: ConstructorParameters<typeof UdpTracker>[1] = {}, host = '127.0.0.1') => {
  const t = new UdpTracker(`udp://${host}:${srv.port}/announce`, { timeoutBaseMs: 200, ...opts });
  trackers.push(t);
  return t;
};
beforeEach(async () => {
  srv = await ScriptedUdp.open();
});
afterEach(() => {
  srv.close();
  trackers.splice(0).forEach((t) => t.close());
});

describe('UdpTracker (BEP 15) against a scripted loopback tracker', () => {
  it('connects, then announces with the exact BEP 15 layout, and maps the reply', async () => {
    srv.handler = honest;
    const r = await open().announce(request());
    const [c, a] = srv.packets.map((p) => p.msg);
    expect(c!.length).toBe(16);
    expect(c!.readBigUInt64BE(0)).toBe(0x41727101980n);
    expect(a!.length).toBe(98);
    expect(a!.subarray(0, 8).equals(CID)).toBe(true);
    expect(a!.subarray(16, 36).equals(Buffer.alloc(20, 0xab))).toBe(true);
    expect(a!.subarray(36, 56).toString()).toBe('-ML0100-123456789012');
    expect(a!.readBigUInt64BE(56)).toBe(5n); // downloaded
    expect(a!.readBigUInt64BE(64)).toBe(2n ** 33n + 1n); // left
    expect(a!.readBigUInt64BE(72)).toBe(2n ** 40n); // uploaded
    expect(a!.readUInt32BE(80)).toBe(1); // completed
    expect([...a!.subarray(84, 88)]).toEqual([10, 9, 8, 7]);
    expect(a!.readUInt32BE(88)).toBe(0xcafebabe);
    expect(a!.readInt32BE(92)).toBe(33);
    expect(a!.readUInt16BE(96)).toBe(6881);
    expect(r).toEqual({ peers: [{ ip: '127.0.0.1', port: 6881 }], droppedPeers: 1, interval: 1800, incomplete: 3, complete: 4 });
  });

  it('sends event codes none/started/stopped and numwant -1 by default', async () => {
    srv.handler = honest;
    const t = open();
    for (const event of ['none', 'started', 'stopped'] as const) await t.announce(request({ event, numwant: undefined }));
    const ann = srv.packets.map((p) => p.msg).filter((m) => action(m) === 1);
    expect(ann.map((m) => m.readUInt32BE(80))).toEqual([0, 2, 3]);
    expect(ann[0]!.readInt32BE(92)).toBe(-1);
  });

  it('reuses the connection id for one minute, then reconnects', async () => {
    srv.handler = honest;
    const clock = new ManualClock(0);
    const t = open({ clock });
    await t.announce(request());
    clock.advance(59_999);
    await t.announce(request());
    await t.scrape([Buffer.alloc(20, 1)]);
    expect(srv.packets.map((p) => action(p.msg))).toEqual([0, 1, 1, 2]);
    clock.advance(1);
    await t.announce(request());
    expect(srv.packets.map((p) => action(p.msg))).toEqual([0, 1, 1, 2, 0, 1]);
  });

  it('retransmits on the spec schedule, 15·2^n s, and gives up after n = maxRetries', async () => {
    const clock = new ManualClock(0);
    const t = open({ clock, timeoutBaseMs: 15_000, maxRetries: 2 }); // silent tracker
    const tries: string[] = [];
    const result = rejectionOf(t.announce(request(), { onAttempt: (a) => tries.push(`${a.attempt}/${a.maxAttempts} ${a.timeoutMs}`) }));
    await srv.nextPacket();
    // Each try is told as it goes out, so a UI can say "no answer yet, retrying in 15 s".
    expect(tries).toEqual(['1/3 15000']);
    const quiet = async (ms: number) => {
      clock.advance(ms);
      await new Promise((r) => setTimeout(r, 30));
    };
    await quiet(14_999);
    expect(srv.packets).toHaveLength(1);
    clock.advance(1);
    await srv.nextPacket();
    await quiet(29_999);
    expect(srv.packets).toHaveLength(2);
    clock.advance(1);
    await srv.nextPacket();
    await quiet(59_999);
    expect(srv.packets).toHaveLength(3);
    clock.advance(1);
    const e = await result;
    expect(e.code).toBe('TIMEOUT');
    expect(e.message).toMatch(/no reply after 3 tries \(105000 ms\)/);
    expect(tries).toEqual(['1/3 15000', '2/3 30000', '3/3 60000']);
    expect(srv.packets.every((p) => action(p.msg) === 0)).toBe(true);
  });

  it('keeps counting n across connect and announce: a lost announce is resent after base·2^n', async () => {
    let dropped = 0;
    srv.handler = (p, s) => {
      if (action(p.msg) === 1 && dropped++ < 1) return; // lose the first announce
      honest(p, s);
    };
    const t0 = Date.now();
    const r = await open({ timeoutBaseMs: 100 }).announce(request());
    expect(r.complete).toBe(4);
    expect(srv.packets.map((p) => action(p.msg))).toEqual([0, 1, 1]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(95);
  });

  it('ignores packets with a wrong transaction id or from elsewhere, then accepts the right one', async () => {
    const stranger = await ScriptedUdp.open();
    srv.handler = (p, s) => {
      if (action(p.msg) === 0) {
        const tid = tidOf(p.msg);
        s.send(connectReply((tid ^ 1) >>> 0), p.rinfo);
        s.send(connectReply((tid + 12345) >>> 0), p.rinfo);
        s.send(Buffer.from('junk'), p.rinfo);
        stranger.send(connectReply(tid), p.rinfo); // right id, wrong source port
        setTimeout(() => s.send(connectReply(tid), p.rinfo), 30);
      } else honest(p, s);
    };
    const t = open({ timeoutBaseMs: 2000 });
    const r = await t.announce(request());
    stranger.close();
    expect(r.peers).toHaveLength(1);
    expect(t.ignoredPackets).toBe(4);
    expect(srv.packets.map((p) => action(p.msg))).toEqual([0, 1]);
  });

  it('error action (3) → REJECTED with the message, and the connection id is dropped', async () => {
    let refuse = true;
    srv.handler = (p, s) => {
      if (action(p.msg) === 1 && refuse) s.send(reply(3, tidOf(p.msg), Buffer.from('torrent not registered')), p.rinfo);
      else honest(p, s);
    };
    const t = open();
    const e = await rejectionOf(t.announce(request()));
    expect(e).toBeInstanceOf(TrackerError);
    expect(e.code).toBe('REJECTED');
    expect(e.message).toBe(`udp://127.0.0.1:${srv.port}/announce: rejected by tracker: torrent not registered`);
    refuse = false;
    await t.announce(request());
    expect(srv.packets.map((p) => action(p.msg))).toEqual([0, 1, 0, 1]);
  });

  it.each([
    ['a truncated announce reply', (tid: number) => reply(1, tid, Buffer.alloc(5)), /at least 20/],
    ['peer bytes not a multiple of 6', (tid: number) => announceReply(tid, Buffer.alloc(7)), /not a multiple of 6/],
    ['a reply with the wrong action', (tid: number) => reply(2, tid, Buffer.alloc(12)), /action 2, expected 1/],
  ])('%s → BAD_RESPONSE', async (_name, bad, msg) => {
    srv.handler = (p, s) => (action(p.msg) === 1 ? s.send(bad(tidOf(p.msg)), p.rinfo) : honest(p, s));
    const e = await rejectionOf(open().announce(request()));
    expect(e.code).toBe('BAD_RESPONSE');
    expect(e.message).toMatch(msg);
  });

  it('reads 18-byte IPv6 peers from a tracker reached over IPv6', async () => {
    srv.close();
    srv = await ScriptedUdp.open(6);
    srv.handler = (p, s) => {
      if (action(p.msg) === 0) s.send(connectReply(tidOf(p.msg)), p.rinfo);
      else s.send(announceReply(tidOf(p.msg), Buffer.from('20010db8000000000000000000000001c8d5', 'hex')), p.rinfo);
    };
    const r = await open({}, '[::1]').announce(request());
    expect(r.peers).toEqual([{ ip: '2001:db8::1', port: 51413 }]);
  });

  it('scrapes, splitting more than 74 hashes over several packets', async () => {
    srv.handler = honest;
    const hashes = Array.from({ length: 80 }, (_, i) => Buffer.alloc(20, i));
    const files = await open().scrape(hashes);
    expect(files.size).toBe(80);
    expect(files.get(Buffer.alloc(20, 79).toString('hex'))).toMatchObject({ complete: 79, downloaded: 7, incomplete: 5 });
    const scrapes = srv.packets.filter((p) => action(p.msg) === 2);
    expect(scrapes.map((p) => (p.msg.length - 16) / 20)).toEqual([74, 6]);
    srv.handler = (p, s) => (action(p.msg) === 2 ? s.send(reply(2, tidOf(p.msg), Buffer.alloc(11)), p.rinfo) : honest(p, s));
    const e = await rejectionOf(open().scrape([Buffer.alloc(20)]));
    expect(e.code).toBe('BAD_RESPONSE');
  });

  it('rejects bad URLs and arguments, and aborts on request', async () => {
    expect(() => new UdpTracker('udp://host')).toThrow(/needs a host and a port/);
    expect(() => new UdpTracker('http://host:1')).toThrow(TrackerError);
    await expect(open().announce(request({ peerId: Buffer.alloc(3) }))).rejects.toThrow(/peerId must be 20 bytes/);
    await expect(open().scrape([])).rejects.toThrow(/at least one/);
    const ac = new AbortController();
    const p = open().announce(request(), { signal: ac.signal });
    await srv.nextPacket();
    ac.abort();
    expect((await rejectionOf(p)).code).toBe('ABORTED');
    const bad = new UdpTracker('udp://no-such-host.invalid:80');
    trackers.push(bad);
    expect((await rejectionOf(bad.announce(request()))).code).toBe('NETWORK');
  });
});

describe('on a shared UDP endpoint (the session\'s listen port)', () => {
  let endpoint: UdpEndpoint;
  let client: UdpTrackerClient;
  const others: ScriptedUdp[] = [];
  beforeEach(async () => {
    endpoint = new UdpEndpoint({ onError: () => undefined });
    await endpoint.bind({ hosts: ['127.0.0.1'] });
    client = new UdpTrackerClient(endpoint);
  });
  afterEach(async () => {
    client.close();
    await endpoint.close();
    for (const o of others.splice(0)) o.close();
  });

  it('two trackers and a DHT owner share the port: replies go to their transaction, the rest is the DHT\'s or dropped', async () => {
    const other = await ScriptedUdp.open();
    others.push(other);
    const dht: Buffer[] = [];
    endpoint.register({ name: 'dht', claims: isDhtDatagram, onMessage: (d) => dht.push(d) });
    srv.handler = (p, s) => {
      honest(p, s);
      s.send(reply(0, (tidOf(p.msg) ^ 0xff) >>> 0, CID), p.rinfo); // a stray reply: no transaction of ours
      s.send(Buffer.from('d1:y1:qe'), p.rinfo); // a DHT query to the same port
    };
    other.handler = honest;
    const a = open({ client });
    const b = new UdpTracker(`udp://127.0.0.1:${other.port}/announce`, { timeoutBaseMs: 200, client });
    trackers.push(b);
    const [ra, rb] = await Promise.all([a.announce(request()), b.announce(request())]);
    expect([ra.peers.length, rb.peers.length]).toEqual([1, 1]);
    // Every packet of both trackers left from the one endpoint port.
    expect(new Set([...srv.packets, ...other.packets].map((p) => p.rinfo.port))).toEqual(new Set([endpoint.port]));
    await new Promise((r) => setTimeout(r, 50));
    expect(dht.length).toBe(2); // after the connect and after the announce
    expect(endpoint.stats()).toMatchObject({ unclaimed: 2, claimed: { 'udp-tracker': 4, dht: 2 } });
    expect(a.ignoredPackets).toBe(0); // counted by the endpoint
    expect(client.pending).toBe(0);
    // Closing one tracker fails only its own requests.
    srv.handler = () => undefined;
    const lost = a.announce(request());
    while (srv.packets.length < 3) await new Promise((r) => setTimeout(r, 5)); // the lost announce went out
    a.close();
    expect((await rejectionOf(lost)).code).toBe('ABORTED');
    await b.announce(request());
  });
});
