#!/usr/bin/env node
// Loopback throughput of a real client downloading from one libtorrent seeder: the reference
// figure for mainline's own peer-to-peer throughput.
//   node tools/interop/bin/lt-throughput.mjs [--size MiB] [--piece KiB] [--leecher libtorrent|aria2|transmission]
// Needs the built package (pnpm nx build @mainline/interop).
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, removeTempDir, startAria2, startLibtorrent, startTransmission } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '256' },
    piece: { type: 'string', default: '256' },
    leecher: { type: 'string', default: 'libtorrent' },
  },
});
const sizeMiB = Number(values.size);
const dir = makeTempDir('lt-throughput');
const handles = [];
try {
  const seedDir = join(dir, 'seed');
  const payload = await makePayload(seedDir, { name: `payload-${sizeMiB}MiB.bin`, size: sizeMiB * 1024 * 1024 });
  const torrent = makeTorrent(payload.path, { pieceLength: Number(values.piece) * 1024 });
  const seeder = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: seedDir, intervalMs: 50 });
  handles.push(seeder);
  await seeder.waitForComplete(60000);
  const leechDir = join(dir, 'leech');
  const start = performance.now();
  let leecher;
  if (values.leecher === 'libtorrent') {
    leecher = await startLibtorrent({ mode: 'leech', torrentPath: torrent.path, savePath: leechDir, peers: [['127.0.0.1', seeder.port]], intervalMs: 50 });
  } else if (values.leecher === 'aria2') {
    leecher = await startAria2({ torrentPath: torrent.path, dir: leechDir, seed: false, peers: [['127.0.0.1', seeder.port]] });
  } else if (values.leecher === 'transmission') {
    leecher = await startTransmission({ torrentPath: torrent.path, dir: leechDir, seed: false, intervalMs: 50 });
    seeder.connectPeer('127.0.0.1', leecher.port);
  } else {
    throw new Error(`unknown leecher ${values.leecher}`);
  }
  handles.push(leecher);
  const ready = performance.now(); // the leecher is up and listening
  await leecher.waitForComplete(600000);
  const end = performance.now();
  const total = (end - start) / 1000;
  const transfer = (end - ready) / 1000;
  console.log(
    `libtorrent->${values.leecher} ${sizeMiB} MiB (${values.piece} KiB pieces) on loopback: ` +
      `${(sizeMiB / transfer).toFixed(1)} MiB/s (${transfer.toFixed(2)} s from leecher ready; ${total.toFixed(2)} s with process start)`,
  );
} finally {
  await Promise.all(handles.map((h) => h.stop()));
  removeTempDir(dir);
}
