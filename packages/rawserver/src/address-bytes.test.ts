import { addressBytes } from './index.js';

const hex = (b: Uint8Array | undefined): string | undefined => (b ? Buffer.from(b).toString('hex') : undefined);

test('IPv4, IPv6 and IPv4-mapped IPv6 as network-order bytes', () => {
  expect(hex(addressBytes('127.0.0.2'))).toBe('7f000002');
  expect(hex(addressBytes('::1'))).toBe('00000000000000000000000000000001');
  expect(hex(addressBytes('2001:db8::8:800:200c:417a'))).toBe('20010db80000000000080800200c417a');
  expect(hex(addressBytes('fe80::1%eth0'))).toBe('fe800000000000000000000000000001');
  expect(hex(addressBytes('::ffff:10.1.2.3'))).toBe('0a010203');
  expect(hex(addressBytes('64:ff9b::1.2.3.4'))).toBe('0064ff9b000000000000000001020304');
});

test('text that is no address gives undefined', () => {
  for (const s of ['', 'localhost', '1.2.3', '1.2.3.256', ':::', 'g::1']) expect(addressBytes(s)).toBeUndefined();
});
