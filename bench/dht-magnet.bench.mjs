// A trackerless magnet link, start → metadata → complete, found only through the DHT, on loopback:
// our CLI beside libtorrent's own leecher for the same magnet. One libtorrent DHT node is the
// bootstrap node of everyone (never the public routers); a libtorrent seeder announced the
// torrent to the DHT only. Each run starts from nothing (a fresh state directory: no saved node
// table, no saved .torrent), so the join of the DHT counts. Process start-up counts too.
// Run with `pnpm bench -- dht-magnet` (needs python3-libtorrent). BENCH_DHT_MIB (default 16) is
// the payload size, BENCH_DHT_RUNS (default 3) the runs of each client, taking turns; the median
// run is shown, and all of them.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { startStandaloneDht } from '@mainline/dht';
import { freePort, makePayload, makeTempDir, makeTorrent, poll, removeTempDir, startLibtorrent, startLtDhtNode } from '@mainline/interop';
import { formatMagnet } from '@mainline/metainfo';

const require = createRequire(import.meta.url);
const MiB = 1024 * 1024;
const CLI = join(dirname(require.resolve('@mainline/cli/package.json')), 'dist', 'cli.js');

/** Waits until a get_peers through `router` returns `peer`: the seeder's announce is in the DHT. */
async function seenInDht(router, infoHash, peer) {
  const probe = await startStandaloneDht({ bootstrap: [router], readOnly: true, queryTimeoutMs: 1000 });
  try {
    await poll(async () => ((await probe.node.getPeers(Buffer.from(infoHash, 'hex')).done).peers.some((p) => `${p.host}:${p.port}` === peer) ? true : undefined), 30_000, () => `the DHT to know ${peer}`, 250);
  } finally {
    await probe.close();
  }
}

/** Our CLI: `mainline download <magnet> --dht-bootstrap R`; times of the metadata line and of exit 0. */
async function runOurs(link, router, dir) {
  const port = await freePort();
  const args = [CLI, 'download', link, '-o', join(dir, 'out'), '--dht-bootstrap', router, '--bind', '127.0.0.1', '--minport', String(port), '--maxport', String(port), '--state-dir', join(dir, 'state')];
  const start = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let metadataAt;
  child.stderr.on('data', (d) => {
    stderr += d.toString();
    if (metadataAt === undefined && /(^|\n)metadata: /.test(stderr)) metadataAt = performance.now();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  const code = await new Promise((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  const end = performance.now();
  if (code !== 0) throw new Error(`mainline exited ${code}:\n${stderr}`);
  return { metadata: ((metadataAt ?? end) - start) / 1000, complete: (end - start) / 1000 };
}

/**
 * libtorrent's leecher with only the DHT (the same bootstrap node, as a router). A new torrent's
 * first DHT announce waits for the session's DHT announce timer: `dht_announce_interval`, 1 s here
 * (BENCH_DHT_LT_INTERVAL; libtorrent's default is 900 s).
 */
async function runLibtorrent(link, router, dir) {
  const start = performance.now();
  const announceIntervalS = Number(process.env.BENCH_DHT_LT_INTERVAL ?? 1);
  const lt = await startLibtorrent({ mode: 'leech', magnet: link, savePath: join(dir, 'out'), intervalMs: 50, dht: { routers: [router], announceIntervalS } });
  try {
    const metadata = lt.waitForEvent((e) => e.name === 'metadata_received', 120_000).then(() => performance.now());
    await lt.waitForComplete(120_000);
    const end = performance.now();
    return { metadata: ((await metadata) - start) / 1000, complete: (end - start) / 1000 };
  } finally {
    await lt.stop();
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const s = (x) => `${x.toFixed(2)} s`;

export async function run() {
  const sizeMiB = Number(process.env.BENCH_DHT_MIB ?? 16);
  const runs = Number(process.env.BENCH_DHT_RUNS ?? 3);
  const dir = makeTempDir('bench-dht-magnet');
  const handles = [];
  try {
    const payload = await makePayload(join(dir, 'seed'), { name: `dht-${sizeMiB}MiB.bin`, size: sizeMiB * MiB });
    const torrent = makeTorrent(payload.path, { pieceLength: 256 * 1024 });
    const node = await startLtDhtNode(['--port', '0']);
    handles.push(node);
    const router = `127.0.0.1:${node.port}`;
    const seeder = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: payload.saveDir, dht: { nodes: [router] } });
    handles.push(seeder);
    await seeder.waitForComplete(60_000);
    await seenInDht(router, torrent.infoHash, `127.0.0.1:${seeder.port}`);
    const link = formatMagnet({ infoHash: torrent.infoHash });
    console.log(`payload ${sizeMiB} MiB (${torrent.metainfo.pieceCount} pieces), magnet ${link}; bootstrap: one libtorrent DHT node; seeder: libtorrent, announced to the DHT only`);

    const results = { mainline: [], libtorrent: [] };
    for (let i = 0; i < runs; i++) {
      results.mainline.push(await runOurs(link, router, join(dir, `ours-${i}`)));
      results.libtorrent.push(await runLibtorrent(link, router, join(dir, `lt-${i}`)));
    }
    console.log('client      start→metadata  start→complete   (median of runs; every run: metadata/complete)');
    for (const [name, rs] of Object.entries(results)) {
      const all = rs.map((r) => `${r.metadata.toFixed(2)}/${r.complete.toFixed(2)}`).join(', ');
      console.log(`${name.padEnd(11)} ${s(median(rs.map((r) => r.metadata))).padStart(14)}  ${s(median(rs.map((r) => r.complete))).padStart(14)}   ${all}`);
    }
    const ratio = (k) => (median(results.mainline.map((r) => r[k])) / median(results.libtorrent.map((r) => r[k]))).toFixed(2);
    console.log(`ours/libtorrent start→metadata = ${ratio('metadata')}, start→complete = ${ratio('complete')}`);
  } finally {
    for (const h of handles.reverse()) await h.stop().catch(() => undefined);
    removeTempDir(dir);
  }
}
