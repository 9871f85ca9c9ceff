import { readFile } from 'node:fs/promises';
import { parseTorrent, type Metainfo } from '@mainline/metainfo';
import type { Torrent, TorrentOptions } from '@mainline/session';
import { PieceStore, Storage, StorageError, type FileStamp } from '@mainline/storage';
import { seedLimits, sessionOptions, torrentOptions, type ClientFlags } from './client-options.js';
import { formatBytes, formatPercent } from './format.js';
import { Progress, type ProgressOptions } from './progress.js';
import { downloadMagnet, isMagnet, type MagnetFlags } from './magnet.js';
import { lsdLine, runTorrent, withSession, type RunOutcome } from './run-torrent.js';

export interface DownloadFlags extends ClientFlags {
  seed?: boolean;
  seedRatio?: number;
  seedTime?: number;
}

export async function loadTorrent(path: string): Promise<Metainfo> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return parseTorrent(bytes);
  } catch (err) {
    throw new Error(`${path} is not a valid torrent: ${(err as Error).message}`);
  }
}

/** What the user can do about a download that stopped for lack of free space. */
function noSpaceHint(torrent: Torrent, log: (line: string) => void): void {
  if (torrent.error instanceof StorageError && torrent.error.code === 'NO_SPACE') {
    log('free some space, choose fewer files with --select, or pass --ignore-free-space to download anyway (the files then grow as data arrives)');
  }
}

function exitCodeOf(outcome: RunOutcome, log: (line: string) => void, what: string): number {
  if (outcome.kind === 'complete') return 0;
  if (outcome.kind === 'interrupted') {
    log(`interrupted (${outcome.signal}): trackers told, resume data saved; run the same command again to continue`);
    return 130;
  }
  log(`${what} failed: ${outcome.message}`);
  return 1;
}

type Log = (line: string) => void;

/** A running client: one session listening, one torrent added to it, Ctrl-C watched. */
interface Client {
  torrent: Torrent;
  port: number;
  interrupted: Promise<string>;
  /** Where local peer discovery runs (lsdLine). */
  lsd: string | undefined;
}

/** Opens a session for one torrent, runs `body`, and always closes cleanly (trackers, resume data). */
async function withClient(
  meta: Metainfo,
  savePath: string,
  flags: DownloadFlags,
  body: (client: Client) => Promise<number>,
  extra: Partial<TorrentOptions> = {},
): Promise<number> {
  return withSession(sessionOptions(flags), async ({ session, port, interrupted }) => {
    const torrent = await session.add(meta, { ...torrentOptions(flags, savePath, meta.files.length), ...seedLimits(flags), ...extra });
    return body({ torrent, port, interrupted, lsd: lsdLine(session.lsdStatus()) });
  });
}

/** `6.0MiB, all pieces verified`, or with files skipped `2 of 3 files, 600KiB; their pieces verified, 1 skipped`. */
function doneSummary(torrent: Torrent): string {
  const { files, totalLength } = torrent.meta;
  const wanted = files.filter((_, i) => torrent.filePriorities[i] !== 'skip');
  if (wanted.length === files.length) return `${formatBytes(totalLength)}, all pieces verified`;
  const bytes = wanted.reduce((n, f) => n + f.length, 0);
  return `${wanted.length} of ${files.length} files, ${formatBytes(bytes)}; their pieces verified, ${files.length - wanted.length} skipped`;
}

function show(client: Client, flags: DownloadFlags, seed: boolean, progress: ProgressOptions | undefined): Promise<RunOutcome> {
  return runTorrent(client.torrent, {
    seed,
    interrupted: client.interrupted,
    ...(flags.quiet ? { quiet: true } : {}),
    ...(progress ? { progress } : {}),
  });
}

/**
 * `mainline download`: fetch a torrent into `out`, exit 0 once every wanted piece is verified
 * (optionally seeding on), 1 on failure, 130 when interrupted (resume data kept).
 */
export async function download(torrentPath: string, out: string, flags: MagnetFlags, progress?: ProgressOptions): Promise<number> {
  const log: Log = (l) => void process.stderr.write(`${l}\n`);
  const seeding = flags.seed === true || flags.seedRatio !== undefined || flags.seedTime !== undefined;
  const finish = async (client: Client): Promise<number> => {
    const code = exitCodeOf(await show(client, flags, seeding, progress), log, 'download');
    if (code === 0 && !flags.quiet) log(`done: ${client.torrent.contentPath} (${doneSummary(client.torrent)})`);
    if (code === 1) noSpaceHint(client.torrent, log);
    return code;
  };
  if (isMagnet(torrentPath)) {
    return downloadMagnet(torrentPath, out, flags, (torrent, port, interrupted) => finish({ torrent, port, interrupted, lsd: undefined }), progress);
  }
  const meta = await loadTorrent(torrentPath);
  return withClient(meta, out, flags, async (client) => {
    if (!flags.quiet) log(`${meta.name}: ${formatBytes(meta.totalLength)}, info-hash ${meta.infoHash}, listening on port ${client.port}`);
    if (!flags.quiet && client.lsd) log(client.lsd);
    return finish(client);
  });
}

/**
 * `mainline seed`: check the data first (or trust a matching resume record), then seed it. The
 * files are opened read-only: nothing is created, truncated or written.
 */
export async function seed(torrentPath: string, data: string, flags: DownloadFlags, progress?: ProgressOptions): Promise<number> {
  const log: Log = (l) => void process.stderr.write(`${l}\n`);
  const meta = await loadTorrent(torrentPath);
  return withClient(meta, data, flags, async (client) => {
    const s = client.torrent.stats();
    // A read-only torrent whose data checked out incomplete stops in 'error' too: say what is missing.
    const incomplete = s.wantedLeft > 0 && client.torrent.store?.state === 'ready';
    if (s.state === 'error' && !incomplete) return exitCodeOf({ kind: 'failed', message: s.error ?? 'unknown' }, log, 'seed');
    if (incomplete) {
      log(`the data in ${data} is incomplete: ${s.piecesHave} of ${s.pieceCount} pieces verified (${formatPercent(s.wantedProgress)}${s.wantedLength < s.totalLength ? ' of the selected files' : ''}); use \`mainline download\` to complete it`);
      return 1;
    }
    if (!flags.quiet) log(`seeding ${meta.name} (${formatBytes(meta.totalLength)}, verified) on port ${client.port}; Ctrl-C stops`);
    if (!flags.quiet && client.lsd) log(client.lsd);
    const outcome = await show(client, flags, true, progress);
    return outcome.kind === 'interrupted' ? 0 : exitCodeOf(outcome, log, 'seeding');
  }, { readOnly: true });
}

/** What is wrong with one file of the torrent on disk, if anything: `[label, detail]`. */
function fileProblem(stamp: FileStamp | null, length: number): [string, string] | undefined {
  if (stamp === null) return ['missing', ''];
  if (stamp.size !== length) return ['wrong size', ` (${stamp.size} bytes, expected ${length})`];
  return undefined;
}

/**
 * `mainline verify`: hash every piece of the data on disk, read-only (nothing is created or
 * changed); exit 0 only if every piece is good and every file has its size. Each file in trouble
 * is named: missing, wrong size, or damaged (a failing piece that only present, right-sized files
 * hold; a piece that fails because a neighbour is missing or short blames the neighbour).
 */
export async function verify(torrentPath: string, data: string, progressOptions?: ProgressOptions): Promise<{ code: number; lines: string[] }> {
  const meta = await loadTorrent(torrentPath);
  const storage = new Storage({
    root: data,
    files: meta.files.map((f) => ({ path: f.path, length: f.length })),
    pieceLength: meta.pieceLength,
    name: meta.infoHash,
    readOnly: true,
  });
  try {
    await storage.open();
  } catch (err) {
    throw new Error(`cannot verify ${meta.name}: ${(err as Error).message}`);
  }
  const store = new PieceStore(storage, { pieceHashes: meta.pieces });
  const progress = await Progress.open(progressOptions);
  try {
    await store.start({
      onProgress: (p) => progress.update(p.totalBytes === 0 ? 1 : p.checkedBytes / p.totalBytes, `checked ${formatBytes(p.checkedBytes)}/${formatBytes(p.totalBytes)}, ${p.goodPieces} good pieces`),
    });
  } finally {
    progress.done();
  }
  const have = store.haveBitfield();
  const stamps = (await storage.stamps()).files;
  await store.close();
  const problems = meta.files.map((f, i) => fileProblem(stamps[i] ?? null, f.length));
  // Per piece: whether every file in it is present with its size (then a failure is damage).
  const sound = new Uint8Array(meta.pieceCount).fill(1);
  const piecesOf = (f: { offset: number; length: number }): number[] => {
    if (f.length === 0) return [];
    const first = Math.floor(f.offset / meta.pieceLength);
    const last = Math.floor((f.offset + f.length - 1) / meta.pieceLength);
    return Array.from({ length: last - first + 1 }, (_, k) => first + k);
  };
  meta.files.forEach((f, i) => {
    if (problems[i] !== undefined) for (const p of piecesOf(f)) sound[p] = 0;
  });
  const lines = [`${meta.name}: ${have.count()} of ${meta.pieceCount} pieces verified (${formatPercent(meta.pieceCount === 0 ? 1 : have.count() / meta.pieceCount)})`];
  meta.files.forEach((f, i) => {
    const problem = problems[i] ?? (piecesOf(f).some((p) => !have.get(p) && sound[p] === 1) ? ['damaged', ''] : undefined);
    if (problem !== undefined) lines.push(`  ${problem[0]}: ${f.path.join('/')}${problem[1]}`);
  });
  return { code: have.isComplete() && problems.every((p) => p === undefined) ? 0 : 1, lines };
}
