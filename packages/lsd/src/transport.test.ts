import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { NetworkInterfaceInfo } from 'node:os';
import { LsdError } from './errors.js';
import { LSD_GROUP_IPV4, LSD_PORT, encodeAnnounce, parseAnnounce } from './message.js';
import { createUdpTransport, lsdInterfaces, onLink, type LsdSender } from './transport.js';

const v4 = (address: string, cidr: string, internal = false): NetworkInterfaceInfo => ({ address, netmask: '', family: 'IPv4', mac: '', internal, cidr });
const v6 = (address: string, cidr: string, scopeid = 0, internal = false): NetworkInterfaceInfo => ({ address, netmask: '', family: 'IPv6', mac: '', internal, cidr, scopeid });

const machine = {
  lo: [v4('127.0.0.1', '127.0.0.0/8', true), v6('::1', '::1/128', 0, true)],
  eth0: [v4('192.0.2.10', '192.0.2.0/24'), v6('fe80::1', 'fe80::1/64', 2), v6('2001:db8::10', '2001:db8::10/64')],
  veth1: [v4('198.18.0.1', '198.18.0.0/24'), v4('198.18.1.1', '198.18.1.0/24'), v6('fe80::2', 'fe80::2/64', 3)],
};

describe('lsdInterfaces', () => {
  test('by default every interface but loopback; IPv6 sends from a global address, else link-local with its zone', () => {
    expect(lsdInterfaces(undefined, machine)).toEqual([
      { name: 'eth0', family: 'IPv4', address: '192.0.2.10', prefixes: ['192.0.2.0/24'], internal: false },
      { name: 'eth0', family: 'IPv6', address: '2001:db8::10', prefixes: ['fe80::1/64', '2001:db8::10/64'], internal: false },
      { name: 'veth1', family: 'IPv4', address: '198.18.0.1', prefixes: ['198.18.0.0/24', '198.18.1.0/24'], internal: false },
      { name: 'veth1', family: 'IPv6', address: 'fe80::2%veth1', prefixes: ['fe80::2/64'], internal: false },
    ]);
  });

  test('by address: that family on the interface holding it, sending from that very address', () => {
    expect(lsdInterfaces(['198.18.1.1'], machine)).toEqual([{ name: 'veth1', family: 'IPv4', address: '198.18.1.1', prefixes: ['198.18.0.0/24', '198.18.1.0/24'], internal: false }]);
    expect(lsdInterfaces(['fe80::1'], machine).map((i) => i.address)).toEqual(['fe80::1%eth0']);
    expect(lsdInterfaces(['127.0.0.1'], machine).map((i) => `${i.name} ${i.family}`)).toEqual(['lo IPv4']);
  });

  test('by name: both families; twice is once', () => {
    expect(lsdInterfaces(['veth1', 'veth1', '198.18.0.1'], machine).map((i) => `${i.name} ${i.family}`)).toEqual(['veth1 IPv4', 'veth1 IPv6']);
  });

  test('what the machine does not have is an error naming it', () => {
    expect(() => lsdInterfaces(['203.0.113.1'], machine)).toThrow(/no interface "203.0.113.1"/);
    expect(() => lsdInterfaces(['wlan9'], machine)).toThrow(LsdError);
  });
});

describe('onLink', () => {
  const ifs = lsdInterfaces(undefined, machine);
  test('IPv4: inside one of the prefixes of our interfaces', () => {
    expect(onLink('198.18.0.77', ifs)).toBe(true);
    expect(onLink('198.18.1.77', ifs)).toBe(true);
    expect(onLink('192.0.2.200', ifs)).toBe(true);
    expect(onLink('198.18.2.1', ifs)).toBe(false);
    expect(onLink('8.8.8.8', ifs)).toBe(false);
    expect(onLink('127.0.0.1', ifs)).toBe(false);
  });
  test('IPv6: a prefix of ours, or link-local (zone or not)', () => {
    expect(onLink('2001:db8::99', ifs)).toBe(true);
    expect(onLink('2001:db8:1::99', ifs)).toBe(false);
    expect(onLink('fe80::abcd%veth1', ifs)).toBe(true);
    expect(onLink('fe80::abcd', ifs)).toBe(true);
    expect(onLink('not an address', ifs)).toBe(false);
    expect(onLink('fe80::1', lsdInterfaces(['192.0.2.10'], machine))).toBe(false);
  });
});

describe('createUdpTransport on loopback (named explicitly; traffic stays on lo)', () => {
  test('an announce sent by one transport reaches the other through the IPv4 group, from our address', async () => {
    const interfaces = lsdInterfaces(['127.0.0.1']);
    const a = await createUdpTransport({ interfaces });
    const b = await createUdpTransport({ interfaces });
    try {
      expect(a.families).toEqual(['IPv4']);
      expect(a.interfaces.map((i) => i.name)).toEqual(['lo']);
      const marker = randomBytes(20).toString('hex');
      const got = new Promise<LsdSender>((resolve) => {
        b.receive((d, from) => {
          try {
            if (parseAnnounce(d).infoHashes[0] === marker) resolve(from);
          } catch {
            // someone else's datagram
          }
        });
      });
      a.send('IPv4', encodeAnnounce({ family: 'IPv4', port: 6881, infoHashes: [marker] }));
      const from = await got;
      expect(from).toMatchObject({ address: '127.0.0.1', family: 'IPv4' });
      expect(b.onLink(from.address)).toBe(true);
      expect(a.send('IPv6', new Uint8Array(1))).toBeUndefined(); // no IPv6 interface: nothing to do
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('it is bound to the group: a unicast datagram to port 6771 does not reach it', async () => {
    const t = await createUdpTransport({ interfaces: lsdInterfaces(['127.0.0.1']) });
    const seen: string[] = [];
    t.receive((d) => seen.push(Buffer.from(d).toString('latin1')));
    const s = createSocket('udp4');
    try {
      const unicast = `unicast ${randomBytes(8).toString('hex')}`;
      const multicast = `multicast ${randomBytes(8).toString('hex')}`;
      await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
      s.setMulticastInterface('127.0.0.1');
      await new Promise((resolve) => s.send(unicast, LSD_PORT, '127.0.0.1', resolve));
      await new Promise((resolve) => s.send(multicast, LSD_PORT, LSD_GROUP_IPV4, resolve));
      const deadline = Date.now() + 5000;
      while (!seen.includes(multicast) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      // The multicast one, sent after the unicast one on the same path, arrived: the unicast one had its chance.
      expect(seen).toContain(multicast);
      expect(seen).not.toContain(unicast);
    } finally {
      s.close();
      await t.close();
    }
  });

  test('no interface at all is an error, not a silent no-op', async () => {
    await expect(createUdpTransport({ interfaces: [] })).rejects.toMatchObject({ code: 'NO_INTERFACE' });
  });
});
