import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTorrent } from '@mainline/metainfo';
import { Session } from '@mainline/session';
import { formatBytes, formatRate } from './format.js';
import { startLocalTracker } from './local-tracker.js';
import { Progress, type ProgressOptions } from './progress.js';
import { onInterrupt, runTorrent, signalExitCode, Watch } from './run-torrent.js';

export interface DemoOptions {
  sizeMiB: number;
  keep: boolean;
  out: (line: string) => void;
  progress?: ProgressOptions;
}

async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const handle = await open(path, 'w');
  try {
    const chunk = 1 << 20;
    for (let written = 0; written < bytes; written += chunk) {
      await handle.write(randomBytes(Math.min(chunk, bytes - written)));
    }
  } finally {
    await handle.close();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function sha1File(path: string): Promise<string> {
  const hash = createHash('sha1');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * `mainline demo`: the whole client on one machine with no network. Makes a payload and a
 * torrent, starts a local tracker, seeds from one session and downloads with another through
 * the tracker over loopback TCP, with the real progress display; then compares every file.
 */
export async function demo(options: DemoOptions): Promise<number> {
  const { out } = options;
  const root = await mkdtemp(join(tmpdir(), 'mainline-demo-'));
  const tracker = await startLocalTracker();
  const seeder = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
  const leecher = new Session({ portRange: [0, 0], bind: '127.0.0.1', stateDir: join(root, 'state') });
  const { interrupted, dispose } = onInterrupt();
  try {
    const total = options.sizeMiB * 1024 * 1024;
    const payload = join(root, 'seed', 'mainline-demo');
    await mkdir(join(payload, 'extras'), { recursive: true });
    const files = [
      { rel: 'movie.bin', size: Math.floor(total * 0.7) },
      { rel: 'extras/bonus.bin', size: Math.floor(total * 0.3) - 4321 },
      { rel: 'extras/readme.txt', size: 4321 },
    ];
    out(`1/4 making a ${formatBytes(total)} payload of ${files.length} files in ${payload}`);
    for (const f of files) await writeRandomFile(join(payload, f.rel), f.size);

    out(`2/4 creating the torrent (local tracker ${tracker.announceUrl})`);
    const hashing = await Progress.open(options.progress);
    const created = await createTorrent(payload, {
      trackers: [tracker.announceUrl],
      comment: 'mainline demo',
      onProgress: (done, all) => hashing.update(all === 0 ? 1 : done / all, `hashing ${formatBytes(done)}/${formatBytes(all)}`),
    });
    hashing.done();
    const meta = created.metainfo;
    out(`    ${meta.name}: ${meta.pieceCount} pieces of ${formatBytes(meta.pieceLength)}, info-hash ${meta.infoHash}`);

    out('3/4 seeding from one session, downloading with another, through the tracker');
    await seeder.listen();
    await leecher.listen();
    const announced = tracker.nextStart();
    const seeding = await seeder.add(created.torrent, { savePath: join(root, 'seed') });
    if (seeding.state !== 'seeding') throw new Error(`the seeding session could not start: ${seeding.stats().error ?? seeding.state}`);
    await withTimeout(announced, 15_000, 'the seeder did not reach the local tracker');
    const started = Date.now();
    const downloading = await leecher.add(created.torrent, { savePath: join(root, 'download') });
    const watch = new Watch({ stateDir: join(root, 'state'), namedPeers: [] });
    const { outcome } = await runTorrent(downloading, {
      seed: false,
      kind: 'download',
      interrupted,
      watch,
      notes: { trackersOff: false, hasTrackers: true, namedPeers: [] },
      ...(options.progress ? { progress: options.progress } : {}),
    });
    if (outcome.kind !== 'complete') {
      out(outcome.kind === 'interrupted' ? 'demo interrupted' : `demo failed: ${outcome.message}`);
      return outcome.kind === 'interrupted' ? signalExitCode(outcome.signal) : 1;
    }
    const seconds = (Date.now() - started) / 1000;
    out(`    downloaded ${formatBytes(total)} in ${seconds.toFixed(2)} s (${formatRate(total / Math.max(seconds, 0.001))})`);

    out('4/4 comparing every file with the original');
    let ok = true;
    for (const f of files) {
      const [a, b] = await Promise.all([sha1File(join(payload, f.rel)), sha1File(join(root, 'download', 'mainline-demo', f.rel))]);
      out(`    ${a === b ? 'ok ' : 'BAD'} ${f.rel} ${a}`);
      ok &&= a === b;
    }
    out(ok ? 'demo complete: the download is identical to the seed' : 'demo FAILED: files differ');
    return ok ? 0 : 1;
  } finally {
    dispose();
    await Promise.all([seeder.close(), leecher.close()]);
    await tracker.close();
    if (options.keep) out(`kept ${root}`);
    else await rm(root, { recursive: true, force: true });
  }
}
