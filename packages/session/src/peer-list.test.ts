import { ManualClock } from '@mainline/rate';
import { AddressFilter, canonicalHost } from './address-filter.js';
import { PeerList, type PeerDialer, type PeerListOptions } from './peer-list.js';

const SEC = 1000;

/** The swarm side, scripted: records every dial; the test decides each outcome. */
class FakeDialer implements PeerDialer {
  maxInitiate = 35;
  open = 0;
  finished = false;
  refuse = false;
  readonly dials: string[] = [];
  get outgoingSlots(): number {
    return Math.max(0, this.maxInitiate - this.open);
  }
  connect(host: string, port: number): boolean {
    if (this.refuse) return false;
    this.dials.push(`${host}:${port}`);
    return true;
  }
}

const peer = (i: number, port = 6881): { ip: string; port: number } => ({ ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port });
const addr = (p: { ip: string; port: number }): string => `${p.ip}:${p.port}`;

function setup(options: Partial<PeerListOptions> = {}) {
  const clock = new ManualClock(1_000_000);
  const filter = new AddressFilter({ localAddresses: () => ['192.168.1.10'] });
  filter.listening(6881);
  const list = new PeerList({ clock, filter, ...options });
  const dialer = new FakeDialer();
  /** Fails every dial in progress (each is a refused connection). */
  const failAll = (): void => {
    for (const d of dialer.dials.splice(0)) {
      const [ip, port] = split(d);
      list.connectFailed(ip, port);
    }
  };
  const succeed = (d: string): void => {
    const [ip, port] = split(d);
    dialer.open++;
    list.connected(ip, port, false);
  };
  return { clock, filter, list, dialer, failAll, succeed };
}

function split(d: string): [string, number] {
  const i = d.lastIndexOf(':');
  return [d.slice(0, i), Number(d.slice(i + 1))];
}

describe('PeerList dialling', () => {
  test('a live peer at position 100 of 2,000 is reached: failed addresses wait out their backoff while untried ones are dialled', () => {
    const { list, dialer, clock } = setup();
    const peers = Array.from({ length: 2000 }, (_, i) => peer(i));
    list.attach(dialer);
    list.add(peers, 'tracker');
    const live = addr(peers[100]!);
    let rounds = 0;
    let reached = false;
    const refused = new Set<string>();
    // Every dial but the live one is refused at once; each round frees the 35 slots again.
    while (!reached && rounds < 10) {
      rounds++;
      const batch = dialer.dials.splice(0);
      expect(batch.length).toBeLessThanOrEqual(35);
      for (const d of batch) {
        expect(refused.has(d)).toBe(false); // never redialled within its backoff
        if (d === live) {
          reached = true;
          dialer.open++;
          list.connected(...split(d), false);
        } else {
          refused.add(d);
          list.connectFailed(...split(d));
        }
      }
    }
    expect(reached).toBe(true);
    expect(rounds).toBe(Math.ceil(101 / 35));
    expect(list.counts().connected.tracker).toBe(1);
    // The slots went on to untried addresses; the refused ones wait out their 15 s.
    expect(dialer.dials.some((d) => refused.has(d))).toBe(false);
    clock.advance(15 * SEC - 1);
    expect(dialer.dials.some((d) => refused.has(d))).toBe(false);
  });

  test('a failed dial backs off exponentially (15 s, 30 s, 60 s, 120 s) and after 5 failures the address is dead', () => {
    const { list, dialer, clock, failAll } = setup();
    list.attach(dialer);
    list.add([peer(1)], 'tracker');
    const times: number[] = [];
    for (let i = 0; i < 8; i++) {
      if (dialer.dials.length > 0) {
        times.push(clock.now());
        failAll();
      }
      const next = clock.nextTimerAt();
      if (next === undefined) break;
      clock.advanceTo(next);
    }
    const waits = times.slice(1).map((t, i) => (t - times[i]!) / SEC);
    expect(waits).toEqual([15, 30, 60, 120]);
    expect(list.counts().dead).toBe(1);
    expect(clock.pendingTimers).toBe(0); // nothing to wait for: no timer
  });

  test('one timer at most, however many addresses wait', () => {
    const { list, dialer, clock, failAll } = setup();
    list.attach(dialer);
    for (let k = 0; k < 20; k++) {
      list.add(Array.from({ length: 50 }, (_, i) => peer(k * 50 + i)), 'tracker');
      failAll();
      clock.advance(SEC);
      expect(clock.pendingTimers).toBeLessThanOrEqual(1);
    }
  });

  test('a peer that drops us is dialled again after a backoff, not at the next announce', () => {
    const { list, dialer, clock, succeed } = setup();
    list.attach(dialer);
    list.add([peer(7)], 'tracker');
    succeed(dialer.dials.shift()!);
    dialer.open--;
    list.closed(peer(7).ip, 6881);
    expect(dialer.dials).toEqual([]);
    clock.advance(15 * SEC - 1);
    expect(dialer.dials).toEqual([]);
    clock.advance(1);
    expect(dialer.dials).toEqual([addr(peer(7))]);
  });

  test('seeds that left are not dialled while we are finished; retrySeeds() dials them at once when we want more', () => {
    const { list, dialer, clock, succeed } = setup();
    list.attach(dialer);
    list.add([peer(1), peer(2)], 'tracker');
    for (const d of dialer.dials.splice(0)) succeed(d);
    dialer.finished = true;
    dialer.open = 0;
    list.closed(peer(1).ip, 6881, { seed: true });
    list.closed(peer(2).ip, 6881, { seed: false });
    clock.advance(60 * SEC);
    expect(dialer.dials).toEqual([addr(peer(2))]);
    dialer.dials.length = 0;
    dialer.finished = false;
    list.retrySeeds();
    expect(dialer.dials).toEqual([addr(peer(1))]);
  });

  test('no more dials than the swarm has outgoing slots', () => {
    const { list, dialer, succeed } = setup();
    dialer.maxInitiate = 5;
    dialer.open = 3;
    list.attach(dialer);
    list.add(Array.from({ length: 20 }, (_, i) => peer(i)), 'tracker');
    expect(dialer.dials).toHaveLength(2);
    succeed(dialer.dials.shift()!);
    expect(dialer.dials).toHaveLength(1); // 4 open + 1 dialling = 5
    list.closed(...split(addr(peer(0))));
    dialer.open--;
    list.closed('10.9.9.9', 1); // any close frees a slot
    expect(dialer.dials).toHaveLength(2);
  });

  test('a dial the swarm cannot start counts as a failure, and nothing is dialled without a swarm', () => {
    const { list, dialer, clock } = setup();
    list.add([peer(1)], 'tracker');
    expect(list.counts().dialing).toBe(0);
    dialer.refuse = true;
    list.attach(dialer);
    expect(list.counts().dialing).toBe(0);
    dialer.refuse = false;
    clock.advance(15 * SEC);
    expect(dialer.dials).toEqual([addr(peer(1))]);
    list.detach();
    expect(list.counts().dialing).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('PeerList peers the user named', () => {
  test('are dialled first, on any port, with a backoff from userRetryMs doubling to userRetryMaxMs, and never given up on', () => {
    const { list, dialer, clock, failAll } = setup({ userRetryMs: 5 * SEC, userRetryMaxMs: 40 * SEC });
    dialer.maxInitiate = 1;
    list.attach(dialer);
    list.add([peer(1)], 'tracker');
    failAll();
    list.add([{ ip: '10.0.0.9', port: 443 }], 'user');
    list.ban(peer(1).ip); // only the named peer from here on
    expect(dialer.dials).toEqual(['10.0.0.9:443']);
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      failAll();
      const wait = list.retryIn('10.0.0.9', 443);
      if (wait === undefined) throw new Error('a named peer was given up on');
      waits.push(wait / SEC);
      clock.advance(wait - 1);
      expect(dialer.dials).toEqual([]);
      clock.advance(1);
      expect(dialer.dials).toEqual(['10.0.0.9:443']);
    }
    expect(waits).toEqual([5, 10, 20, 40, 40, 40, 40, 40]);
    failAll();
    expect(list.retryIn('10.0.0.9', 443)).toBe(40 * SEC);
  });

  test('a named peer that drops us right after the handshake backs off too', () => {
    const { list, dialer, clock, succeed } = setup({ userRetryMs: 5 * SEC, userRetryMaxMs: 60 * SEC });
    list.attach(dialer);
    list.add([peer(1)], 'user');
    const dropOnce = (): number | undefined => {
      succeed(dialer.dials.splice(0)[0]!);
      dialer.open--;
      list.closed(peer(1).ip, peer(1).port);
      return list.retryIn(peer(1).ip, peer(1).port);
    };
    expect(dropOnce()).toBe(5 * SEC);
    clock.advance(5 * SEC);
    expect(dropOnce()).toBe(10 * SEC);
    clock.advance(10 * SEC);
    expect(dropOnce()).toBe(20 * SEC);
    expect(list.retryIn('10.9.9.9', 1)).toBeUndefined();
  });

  test('a new start (resume) dials them at once; other addresses keep their backoff', () => {
    const { list, dialer, failAll } = setup({ userRetryMs: 60 * SEC });
    list.attach(dialer);
    list.add([peer(1)], 'user');
    list.add([peer(2)], 'tracker');
    failAll();
    list.detach();
    list.attach(dialer);
    expect(dialer.dials).toEqual([addr(peer(1))]);
  });

  test('asking again dials at once, whatever the backoff', () => {
    const { list, dialer, failAll } = setup({ userRetryMs: 60 * SEC });
    list.attach(dialer);
    list.add([peer(1)], 'user');
    failAll();
    list.add([peer(1)], 'user');
    expect(dialer.dials).toEqual([addr(peer(1))]);
  });
});

describe('PeerList size', () => {
  test('a tracker handing out 100,000 peers does not grow the list past maxSize', () => {
    const { list } = setup();
    const r = list.add(Array.from({ length: 100_000 }, (_, i) => peer(i)), 'tracker');
    expect(list.size).toBe(3000);
    expect(r).toEqual({ added: 3000, known: 0, rejected: 0, dropped: 97_000 });
    expect(list.counts()).toMatchObject({ size: 3000, dropped: 97_000, known: { tracker: 3000 } });
  });

  test('when full, a new address pushes out a dead one first, then a failed one; untried ones are kept', () => {
    const { list, dialer, clock, failAll } = setup({ maxSize: 10, maxFailures: 2, retryBaseMs: SEC });
    // peers 0..7 fail once; 0..3 fail again (dead); 8..9 are never dialled.
    dialer.maxInitiate = 8;
    list.attach(dialer);
    list.add(Array.from({ length: 8 }, (_, i) => peer(i)), 'tracker');
    failAll();
    dialer.maxInitiate = 4;
    clock.advance(SEC);
    expect(dialer.dials).toEqual([0, 1, 2, 3].map((i) => addr(peer(i))));
    dialer.maxInitiate = 0;
    failAll();
    list.add([peer(8), peer(9)], 'tracker');
    expect(list.counts()).toMatchObject({ size: 10, dead: 4, dialing: 0 });
    list.add(Array.from({ length: 8 }, (_, i) => peer(100 + i)), 'tracker');
    expect(list.size).toBe(10);
    for (let i = 0; i < 8; i++) expect(list.has(peer(i).ip, 6881)).toBe(false);
    for (const i of [8, 9]) expect(list.has(peer(i).ip, 6881)).toBe(true);
    // Only untried addresses left: newcomers are left out (a user's peer still gets in).
    const r = list.add([peer(200)], 'tracker');
    expect(r.dropped).toBe(1);
    expect(list.add([peer(201)], 'user').added).toBe(1);
    expect(list.size).toBe(10);
  });

  test('a dead address reported again after retryMaxMs gets one more try', () => {
    const { list, dialer, clock, failAll } = setup({ maxFailures: 1, retryMaxMs: 60 * SEC });
    list.attach(dialer);
    list.add([peer(1)], 'tracker');
    failAll();
    list.add([peer(1)], 'tracker');
    expect(dialer.dials).toEqual([]);
    clock.advance(60 * SEC);
    list.add([peer(1)], 'tracker');
    expect(dialer.dials).toEqual([addr(peer(1))]);
  });
});

describe('PeerList sources', () => {
  test('counts addresses by every source that gave them, and connections by the first (incoming ones as incoming)', () => {
    const { list, dialer, succeed } = setup();
    list.add([peer(1), peer(2)], 'tracker');
    list.add([peer(2), peer(3)], 'magnet');
    list.add([peer(4)], 'user');
    expect(list.counts().known).toMatchObject({ tracker: 2, magnet: 2, user: 1, incoming: 0, dht: 0, pex: 0, lsd: 0, resume: 0 });
    list.attach(dialer);
    for (const d of dialer.dials.splice(0)) succeed(d);
    list.connected('10.1.1.1', 50000, true);
    expect(list.counts().connected).toMatchObject({ tracker: 2, magnet: 1, user: 1, incoming: 1 });
    expect(list.size).toBe(4); // an incoming peer's port is not one we could dial
    expect([list.connectionSource(peer(3).ip, peer(3).port), list.connectionSource('10.1.1.1', 50000), list.connectionSource('10.9.9.9', 1)]).toEqual(['magnet', 'incoming', undefined]);
    list.closed('10.1.1.1', 50000);
    list.closed(peer(2).ip, 6881);
    expect(list.counts().connected).toMatchObject({ tracker: 1, magnet: 1, user: 1, incoming: 0 });
    list.detach();
    expect(Object.values(list.counts().connected).every((n) => n === 0)).toBe(true);
    expect(list.size).toBe(4); // what was learnt stays for the next start
  });
});

describe('PeerList filter', () => {
  test('never takes the unspecified address, broadcast, multicast, port 0, privileged ports, ourselves or banned hosts', () => {
    const { list, filter } = setup();
    filter.addOwnAddress('203.0.113.7'); // what a tracker said it sees us at
    const bad = [
      { ip: '0.0.0.0', port: 6881 },
      { ip: '0.1.2.3', port: 6881 },
      { ip: '::', port: 6881 },
      { ip: '::ffff:0.0.0.0', port: 6881 },
      { ip: '255.255.255.255', port: 6881 },
      { ip: '224.0.0.1', port: 6881 },
      { ip: 'ff02::1', port: 6881 },
      { ip: '10.0.0.1', port: 0 },
      { ip: '10.0.0.1', port: 70000 },
      { ip: '10.0.0.1', port: 80 },
      { ip: '10.0.0.1', port: 1023 },
      { ip: '127.0.0.1', port: 6881 },
      { ip: '192.168.1.10', port: 6881 },
      { ip: '203.0.113.7', port: 6881 },
      { ip: '', port: 6881 },
    ];
    const r = list.add(bad, 'tracker');
    expect(r).toMatchObject({ added: 0, rejected: bad.length });
    expect(list.counts().rejected).toEqual({ invalid: 3, unspecified: 4, multicast: 3, 'privileged-port': 2, self: 3, banned: 0 });
    const good = [
      { ip: '10.0.0.1', port: 1024 },
      { ip: '127.0.0.1', port: 6882 }, // us on another port is someone else
      { ip: '2001:db8::1', port: 6881 },
      { ip: 'peer.example', port: 6881 },
    ];
    expect(list.add(good, 'tracker').added).toBe(good.length);
    list.ban('2001:DB8:0::1');
    expect(list.counts().dead).toBe(1);
    expect(list.add([{ ip: '2001:db8::1', port: 7000 }], 'tracker')).toMatchObject({ rejected: 1 });
    expect(list.counts().rejected.banned).toBe(1);
  });

  test('privileged ports may be allowed, and a user-named peer is taken on any port', () => {
    const open = new PeerList({ clock: new ManualClock(), filter: new AddressFilter({ allowPrivilegedPorts: true }) });
    expect(open.add([{ ip: '10.0.0.1', port: 80 }], 'tracker').added).toBe(1);
    const { list } = setup();
    expect(list.add([{ ip: '10.0.0.1', port: 80 }], 'user').added).toBe(1);
  });

  test('addresses are compared in one canonical form', () => {
    expect(canonicalHost('::FFFF:10.0.0.1')).toBe('10.0.0.1');
    expect(canonicalHost('::ffff:a00:1')).toBe('10.0.0.1');
    expect(canonicalHost('2001:0DB8:0000::0001')).toBe('2001:db8::1');
    expect(canonicalHost('Peer.Example')).toBe('peer.example');
    const { list } = setup();
    list.add([{ ip: '::ffff:10.0.0.1', port: 6881 }], 'tracker');
    expect(list.add([{ ip: '10.0.0.1', port: 6881 }], 'pex')).toMatchObject({ added: 0, known: 1 });
  });

  test('refuses nonsense options', () => {
    expect(() => new PeerList({ clock: new ManualClock(), maxSize: 0 })).toThrow('maxSize');
    expect(() => new PeerList({ clock: new ManualClock(), retryBaseMs: -1 })).toThrow('retryBaseMs');
  });
});
