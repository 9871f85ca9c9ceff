import { BLOCK_SIZE } from '@mainline/bitfield';
import { RequestKeys } from './request-key.js';

const MiB = 1024 * 1024;

test('pieces of 256 MiB: every block offset has a key, the first past the piece has none, keys never collide', () => {
  const keys = new RequestKeys(256 * MiB);
  expect(keys.blocksPerPiece).toBe(16384);
  expect(keys.match(0, 0)).toBe(0);
  expect(keys.match(0, 64 * MiB - BLOCK_SIZE)).toBe(4095);
  expect(keys.match(0, 64 * MiB)).toBe(4096); // the old key function ended here (undefined)
  expect(keys.match(0, 128 * MiB)).toBe(8192);
  expect(keys.match(0, 256 * MiB - BLOCK_SIZE)).toBe(16383);
  expect(keys.match(0, 256 * MiB)).toBeUndefined();
  expect(keys.match(1, 0)).toBe(16384); // the next piece starts where the last block of the one before ended
  expect(keys.of(3, 64 * MiB)).toBe(keys.match(3, 64 * MiB));
});

test('unaligned or negative offsets are nobody\'s; a short last block still has its key', () => {
  const keys = new RequestKeys(32 * 1024 + 1000); // a piece length that is not a multiple of the block
  expect(keys.blocksPerPiece).toBe(3);
  expect(keys.match(0, 2 * BLOCK_SIZE)).toBe(2);
  expect(keys.match(0, 3 * BLOCK_SIZE)).toBeUndefined();
  expect(keys.match(0, 1)).toBeUndefined();
  expect(keys.match(0, -BLOCK_SIZE)).toBeUndefined();
});

test('exact at the largest piece indices: 2^31 pieces of 256 MiB keep distinct, integral keys', () => {
  const keys = new RequestKeys(256 * MiB);
  const last = 2 ** 31 - 1;
  const a = keys.match(last, 256 * MiB - BLOCK_SIZE)!;
  const b = keys.match(last, 256 * MiB - 2 * BLOCK_SIZE)!;
  expect(Number.isSafeInteger(a)).toBe(true);
  expect(a - b).toBe(1);
  expect(keys.match(last - 1, 256 * MiB - BLOCK_SIZE)).toBe(a - 16384);
});
