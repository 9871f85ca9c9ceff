import { bep42Id, crc32c, isBep42Exempt, isValidBep42Id } from './bep42.js';
import { toHex } from './id.js';

test('CRC32C check value', () => {
  expect(crc32c(Buffer.from('123456789')).toString(16)).toBe('e3069283');
});

// The BEP's test vectors: IP, random byte, first 3 bytes of the id (the 21 bits), last byte.
test.each([
  ['124.31.75.21', 1, '5fbfbf', '01'],
  ['21.75.31.124', 86, '5a3ce9', '56'],
  ['65.23.51.170', 22, 'a5d432', '16'],
  ['84.124.73.14', 65, '1b0321', '41'],
  ['43.213.53.83', 90, 'e56f6c', '5a'],
])('BEP 42 vector %s r=%i', (ip, r, prefix, last) => {
  const id = bep42Id(ip, r, new Uint8Array(20));
  // The top 21 bits are fixed; the low 3 bits of byte 2 come from the fill (zeros here).
  expect(toHex(id).slice(0, 4)).toBe(prefix.slice(0, 4));
  expect(id[2]! & 0xf8).toBe(parseInt(prefix.slice(4), 16) & 0xf8);
  expect(toHex(id).slice(-2)).toBe(last);
  expect(isValidBep42Id(id, ip)).toBe(true);
  const tampered = Uint8Array.from(id);
  tampered[1]! ^= 0x10;
  expect(isValidBep42Id(tampered, ip)).toBe(false);
  // Any id is "valid" for a local address: BEP 42 does not apply there.
  expect(isValidBep42Id(tampered, '192.168.1.5')).toBe(true);
});

test('exempt ranges, IPv6 ids', () => {
  for (const h of ['10.1.2.3', '127.0.0.1', '172.16.0.1', '172.31.255.255', '192.168.0.1', '169.254.1.1', '::1', 'fe80::1', 'fd00::1']) expect(isBep42Exempt(h)).toBe(true);
  for (const h of ['172.32.0.1', '8.8.8.8', '2001:db8::1']) expect(isBep42Exempt(h)).toBe(false);
  const id6 = bep42Id('2001:db8::1');
  expect(isValidBep42Id(id6, '2001:db8::1')).toBe(true);
  expect(isValidBep42Id(id6, '2001:db8:1::1')).toBe(false);
});
