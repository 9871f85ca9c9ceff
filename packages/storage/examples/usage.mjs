import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BLOCK_SIZE, decodeResume, encodeResume, PieceStore, Storage } from '@mainline/storage';

// The torrent's data: two files, 3 pieces of 32 KiB (2 blocks each; the last piece is short).
const pieceLength = 2 * BLOCK_SIZE;
const payload = randomBytes(80_000);
const pieceHashes = [0, 1, 2].map((i) => createHash('sha1').update(payload.subarray(i * pieceLength, (i + 1) * pieceLength)).digest());
const files = [{ path: ['album', '01.flac'], length: 70_000 }, { path: ['album', 'cover.jpg'], length: 10_000 }];
const root = await mkdtemp(join(tmpdir(), 'storage-example-'));

const open = async (resume) => {
  const storage = new Storage({ root, files, pieceLength, name: 'example', maxOpenFiles: 8 });
  await storage.open(); // directories and (sparse) files
  const store = new PieceStore(storage, { pieceHashes });
  store.on('error', (e) => console.error(e.code, e.path, e.operation)); // ENOSPC, EACCES, ...
  const { resumed } = await store.start({ resume });
  return { store, resumed };
};

const { store } = await open();
const block = (piece, b) => payload.subarray(piece * pieceLength + b * BLOCK_SIZE, piece * pieceLength + (b + 1) * BLOCK_SIZE);
console.log((await store.writeBlock(0, 0, block(0, 0))).status); // 'written': one block to go
console.log((await store.writeBlock(0, BLOCK_SIZE, block(0, 1))).status); // 'verified': SHA-1 matched
const bad = Buffer.from(block(1, 0)).fill(0);
await store.writeBlock(1, 0, bad);
console.log((await store.writeBlock(1, BLOCK_SIZE, block(1, 1))).status); // 'hashfail': blame its senders
console.log((await store.readBlock(0, 100, 5)).equals(payload.subarray(100, 105)), store.amountLeft);

// Fast resume: plain bencodable data (a session bencodes it to disk); the next start trusts it
// if every file's size and mtime still match, and rechecks otherwise.
const saved = encodeResume(await store.resumeRecord());
await store.close();
const again = await open(decodeResume(saved));
console.log(again.resumed, again.store.hasPiece(0), again.store.hasPiece(1));
await again.store.close();
await rm(root, { recursive: true });
