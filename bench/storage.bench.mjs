// @mainline/storage full recheck against `sha1sum` over the same bytes, page cache warm.
// Payload: BENCH_SIZE_MIB (default 1024) MiB in 16 files under bench/.data/storage, 1 MiB pieces
// (BENCH_PIECE_KIB to change). The files are kept between runs, one folder per size.
import { execFileSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PieceStore, Storage } from '@mainline/storage';
import { medianMs } from './timing.mjs';

const FILES = 16;

function makePayload(dir, sizeMiB, pieceLength) {
  const total = sizeMiB * 1024 * 1024;
  const files = [];
  let left = total;
  for (let i = 0; i < FILES; i++) {
    // Uneven sizes so pieces straddle file boundaries.
    const length = i === FILES - 1 ? left : Math.floor(total / FILES) + (i % 2 === 0 ? 12345 : -12345);
    files.push({ path: [`file-${String(i).padStart(2, '0')}.bin`], length });
    left -= length;
  }
  const stampFile = join(dir, 'hashes');
  if (existsSync(stampFile)) return { files, hashes: readFileSync(stampFile), total };
  mkdirSync(dir, { recursive: true });
  const n = Math.ceil(total / pieceLength);
  const hashes = Buffer.alloc(n * 20);
  const chunk = Buffer.alloc(pieceLength);
  let piece = 0;
  let fill = 0;
  let sha = createHash('sha1');
  for (const f of files) {
    const fd = openSync(join(dir, ...f.path), 'w');
    for (let written = 0; written < f.length; ) {
      const take = Math.min(f.length - written, pieceLength - fill);
      const part = chunk.subarray(0, take);
      randomFillSync(part);
      writeSync(fd, part);
      sha.update(part);
      fill += take;
      written += take;
      if (fill === pieceLength) {
        sha.digest().copy(hashes, piece++ * 20);
        sha = createHash('sha1');
        fill = 0;
      }
    }
    closeSync(fd);
  }
  if (fill > 0) sha.digest().copy(hashes, piece * 20);
  writeFileSync(stampFile, hashes);
  return { files, hashes, total };
}

export async function run() {
  const sizeMiB = Number(process.env.BENCH_SIZE_MIB ?? 1024);
  const pieceLength = Number(process.env.BENCH_PIECE_KIB ?? 1024) * 1024;
  const dir = join(fileURLToPath(new URL('.', import.meta.url)), '.data', 'storage', `${sizeMiB}MiB-${pieceLength}`);
  const { files, hashes, total } = makePayload(dir, sizeMiB, pieceLength);
  const paths = files.map((f) => join(dir, ...f.path));
  console.log(`payload: ${sizeMiB} MiB in ${FILES} files, ${pieceLength / 1024} KiB pieces`);

  const sha1sum = () => execFileSync('sha1sum', paths, { maxBuffer: 1 << 20 });
  sha1sum(); // warm the page cache

  const recheck = async () => {
    const storage = new Storage({ root: dir, files, pieceLength });
    await storage.open();
    const store = new PieceStore(storage, { pieceHashes: hashes });
    await store.start();
    if (!store.isComplete()) throw new Error(`recheck found ${store.haveCount} of ${store.pieceCount} pieces`);
    await store.close();
  };
  await recheck(); // warm-up (JIT, workers)

  const theirs = await medianMs(sha1sum, 3);
  const ours = await medianMs(recheck, 3);
  const mib = total / (1 << 20);
  console.log(`  sha1sum ${(mib / (theirs / 1000)).toFixed(0)} MiB/s, ours ${(mib / (ours / 1000)).toFixed(0)} MiB/s`);
  // A ratio of times: below 1 is faster. Target ≤ 1.2.
  console.log(`ours/sha1sum recheck = ${(ours / theirs).toFixed(2)}`);
}
