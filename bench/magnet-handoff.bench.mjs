// Magnet hand-off: how long from the metadata being verified to the first verified piece, when a
// session downloads a magnet link from one python3-libtorrent seeder on loopback, and how many
// connections it dials for it. Before the hand-off the metadata connection was closed and the
// torrent dialled again; with it, the same connection carries on into the download.
// Run with `pnpm bench -- magnet-handoff`. BENCH_MAGNET_RUNS=N rounds (default 5);
// BENCH_MAGNET_BEFORE=/path/to/other/checkout also measures that checkout's built session
// (e.g. /work/main) in the same run and prints after/before.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makePayload, makeTempDir, makeTorrent, removeTempDir, startLibtorrent } from '@mainline/interop';

const require = createRequire(import.meta.url);
const MiB = 1024 * 1024;

/** One magnet download up to its first verified piece: ms from 'metadata' to it, and the dials. */
async function round(Session, formatMagnet, infoHash, seederPort, dir, i) {
  const session = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
  await session.listen();
  let dials = 0;
  const connect = session.hub.connect.bind(session.hub);
  session.hub.connect = (...args) => {
    dials++;
    return connect(...args);
  };
  try {
    const link = formatMagnet({ infoHash, name: 'handoff', peers: [{ ip: '127.0.0.1', port: seederPort }] });
    let metadataAt = 0;
    let dialsAtMetadata = 0;
    const firstPiece = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no piece within 60 s')), 60_000);
      session.once('torrent-added', (t) =>
        t.once('piece', () => {
          clearTimeout(timer);
          resolve(performance.now());
        }),
      );
    });
    const download = session.addMagnet(link, { savePath: join(dir, `out-${i}`), noTrackers: true });
    download.once('metadata', () => {
      metadataAt = performance.now();
      dialsAtMetadata = dials;
    });
    const pieceAt = await firstPiece;
    return { ms: pieceAt - metadataAt, dialsBefore: dialsAtMetadata, dialsAfter: dials - dialsAtMetadata };
  } finally {
    await session.close();
  }
}

async function measure(label, sessionModule, metainfoModule, infoHash, seederPort, dir, runs) {
  const { Session } = await import(sessionModule);
  const { formatMagnet } = await import(metainfoModule);
  const results = [];
  for (let i = 0; i < runs; i++) results.push(await round(Session, formatMagnet, infoHash, seederPort, join(dir, label), i));
  const ms = results.map((r) => r.ms).sort((a, b) => a - b);
  const median = ms[Math.floor(ms.length / 2)];
  console.log(
    `${label}: metadata verified → first piece, ms: ${results.map((r) => r.ms.toFixed(1)).join(', ')} (median ${median.toFixed(1)}); ` +
      `dials for the metadata / after it: ${results.map((r) => `${r.dialsBefore}/${r.dialsAfter}`).join(', ')}`,
  );
  return median;
}

export async function run() {
  const runs = Number(process.env.BENCH_MAGNET_RUNS ?? 5);
  const dir = makeTempDir('bench-magnet-handoff');
  const payload = await makePayload(join(dir, 'seed'), { name: 'handoff.bin', size: 16 * MiB + 123 });
  const torrent = makeTorrent(payload.path, { pieceLength: 256 * 1024, outPath: join(dir, 'handoff.torrent') });
  const seeder = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: payload.saveDir });
  try {
    await seeder.waitForComplete(30_000);
    const ours = require.resolve('@mainline/session');
    const meta = require.resolve('@mainline/metainfo', { paths: [ours] });
    const after = await measure('ours', pathToFileURL(ours).href, pathToFileURL(meta).href, torrent.infoHash, seeder.port, dir, runs);
    const other = process.env.BENCH_MAGNET_BEFORE;
    if (other) {
      const sess = join(other, 'packages', 'session', 'dist', 'index.js');
      const met = join(other, 'packages', 'metainfo', 'dist', 'index.js');
      const before = await measure('before', pathToFileURL(sess).href, pathToFileURL(met).href, torrent.infoHash, seeder.port, dir, runs);
      console.log(`ours/before magnet-handoff first piece = ${(after / before).toFixed(2)}`);
    }
  } finally {
    await seeder.stop();
    removeTempDir(dir);
  }
}
