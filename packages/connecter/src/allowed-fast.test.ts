import { allowedFastSet } from './allowed-fast.js';

const AA = new Uint8Array(20).fill(0xaa);

describe('allowedFastSet (BEP 6)', () => {
  test('the BEP test vector: info-hash 0xAA x 20, 80.4.4.200, 1313 pieces', () => {
    expect(allowedFastSet('80.4.4.200', AA, 1313, 7)).toEqual([1059, 431, 808, 1217, 287, 376, 1188]);
    expect(allowedFastSet('80.4.4.200', AA, 1313, 9)).toEqual([1059, 431, 808, 1217, 287, 376, 1188, 353, 508]);
  });

  test('k = 10 by default; the last octet does not matter (one /24, one set), an IPv4-mapped address is IPv4', () => {
    const set = allowedFastSet('80.4.4.200', AA, 1313);
    expect(set).toHaveLength(10);
    expect(set.slice(0, 9)).toEqual([1059, 431, 808, 1217, 287, 376, 1188, 353, 508]);
    expect(allowedFastSet('80.4.4.1', AA, 1313)).toEqual(set);
    expect(allowedFastSet('::ffff:80.4.4.7', AA, 1313)).toEqual(set);
    expect(allowedFastSet('80.4.5.200', AA, 1313)).not.toEqual(set);
  });

  test('ASCII "a" x 20 is a different info-hash (the common mistake gives 974, 617, 76, ...)', () => {
    expect(allowedFastSet('80.4.4.200', Buffer.from('a'.repeat(20)), 1313, 3)).toEqual([974, 617, 76]);
  });

  test('a torrent with no more than k pieces: every piece; none for an empty one', () => {
    expect(allowedFastSet('10.0.0.1', AA, 4)).toEqual([0, 1, 2, 3]);
    expect(allowedFastSet('10.0.0.1', AA, 10)).toHaveLength(10);
    expect(allowedFastSet('10.0.0.1', AA, 0)).toEqual([]);
    const eleven = allowedFastSet('10.0.0.1', AA, 11);
    expect(new Set(eleven).size).toBe(10);
    for (const p of eleven) expect(p).toBeLessThan(11);
  });

  test('IPv6: one set per /48', () => {
    const a = allowedFastSet('2001:db8:1:2::5', AA, 1000);
    expect(a).toHaveLength(10);
    expect(allowedFastSet('2001:db8:1:ffff::9', AA, 1000)).toEqual(a);
    expect(allowedFastSet('2001:db8:2::5', AA, 1000)).not.toEqual(a);
    expect(() => allowedFastSet('nope', AA, 1000)).toThrow(/not an IP/);
  });
});
