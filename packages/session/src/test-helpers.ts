// Helpers for this package's tests (not exported from index.ts).
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode } from '@mainline/bencode';

/**
 * A one-file torrent of `size` bytes with 16 KiB pieces, its data written to `dataDir` as
 * `<prefix>-<i>.bin` (`i` in its first bytes: every torrent its own info-hash); trackerless
 * without `announce`.
 */
export function smallTorrent(dataDir: string, prefix: string, i: number, size: number, announce?: string): Uint8Array {
  const piece = 16 * 1024;
  const name = `${prefix}-${i}.bin`;
  const data = Buffer.alloc(size, i % 251);
  data.writeUInt32BE(i, 0);
  writeFileSync(join(dataDir, name), data);
  const hashes: Buffer[] = [];
  for (let at = 0; at < size; at += piece) hashes.push(createHash('sha1').update(data.subarray(at, at + piece)).digest());
  const info = { length: size, name, 'piece length': piece, pieces: Buffer.concat(hashes) };
  return encode(announce === undefined ? { info } : { announce, info });
}

/** Polls `cond` every 10 ms; fails after `ms` naming `what`. */
export async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
