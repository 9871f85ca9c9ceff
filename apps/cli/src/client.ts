import type { Torrent } from '@mainline/session';
import { PieceStore, Storage, StorageError, type FileStamp } from '@mainline/storage';
import { parsePeers, seedLimits, sessionOptions, torrentOptions, type ClientFlags } from './client-options.js';
import { loadTorrent } from './files.js';
import { formatBytes, formatPercent } from './format.js';
import { Progress, type ProgressOptions } from './progress.js';
import { downloadMagnet, isMagnet, parseLink, type MagnetFlags } from './magnet.js';
import { write } from './output.js';
import { closing, runTorrent, Watch, watchDiscovery, withSession, type RunResult } from './run-torrent.js';
import type { RunFacts } from './status.js';

export interface DownloadFlags extends ClientFlags {
  seed?: boolean;
  seedRatio?: number;
  seedTime?: number;
}

type Log = (line: string) => void;
const stderrLog: Log = (l) => write(process.stderr, `${l}\n`);

/** What the user can do about a download that stopped for lack of free space. */
function noSpaceHint(torrent: Torrent | undefined, code: number): void {
  if (code === 1 && torrent?.error instanceof StorageError && torrent.error.code === 'NO_SPACE') {
    stderrLog('free some space, choose fewer files with --select, or pass --ignore-free-space to download anyway (the files then grow as data arrives)');
  }
}

/** `6.0MiB, all pieces verified`, or with files skipped `2 of 3 files, 600KiB; their pieces verified, 1 skipped`. */
function doneSummary(torrent: Torrent): string {
  const { files, totalLength } = torrent.meta;
  const wanted = files.filter((_, i) => torrent.filePriorities[i] !== 'skip');
  if (wanted.length === files.length) return `${formatBytes(totalLength)}, all pieces verified`;
  const bytes = wanted.reduce((n, f) => n + f.length, 0);
  return `${wanted.length} of ${files.length} files, ${formatBytes(bytes)}; their pieces verified, ${files.length - wanted.length} skipped`;
}

/** The peers named with --peer (and a magnet's x.pe), as `ip:port`, for the notes and logs. */
function namedPeers(flags: ClientFlags, extra: readonly { ip: string; port: number }[] = []): string[] {
  return [...parsePeers(flags.peer), ...extra].map((p) => `${p.ip}:${p.port}`);
}

/** Shows a torrent until it ends (see runTorrent), with the notes' context from the flags. */
function show(torrent: Torrent, interrupted: Promise<string>, watch: Watch, flags: DownloadFlags, kind: RunFacts['kind'], seed: boolean, progress: ProgressOptions | undefined): Promise<RunResult> {
  return runTorrent(torrent, {
    seed,
    kind,
    interrupted,
    watch,
    notes: { trackersOff: flags.trackers === false, hasTrackers: torrent.meta.trackers.length > 0, namedPeers: watch.namedPeers },
    ...(flags.quiet ? { quiet: true } : {}),
    ...(progress ? { progress } : {}),
  });
}

/** Prints how a run ended (after its session closed) and returns the exit code. */
function finish(result: RunResult, watch: Watch, what: string, flags: DownloadFlags, doneLine?: string): number {
  const { code, lines } = closing(result, watch, what, flags.quiet);
  if (code === 0 && doneLine && !flags.quiet) stderrLog(doneLine);
  for (const line of lines) stderrLog(line);
  return code;
}

/**
 * `mainline download`: fetch a torrent into `out`, exit 0 once every wanted piece is verified
 * (optionally seeding on), 1 on failure, 128 + signal when interrupted (Ctrl-C: 130; resume data kept).
 */
export async function download(torrentPath: string, out: string, flags: MagnetFlags, progress?: ProgressOptions): Promise<number> {
  const seeding = flags.seed === true || flags.seedRatio !== undefined || flags.seedTime !== undefined;
  if (isMagnet(torrentPath)) {
    const link = parseLink(torrentPath);
    const watch = new Watch({ stateDir: flags.stateDir, namedPeers: namedPeers(flags, link.peers), ...(flags.quiet ? { quiet: true } : {}) });
    let done: string | undefined;
    let added: Torrent | undefined;
    const result = await downloadMagnet(link, out, flags, watch, async (torrent, interrupted) => {
      added = torrent;
      const r = await show(torrent, interrupted, watch, flags, 'download', seeding, progress);
      done = `done: ${torrent.contentPath} (${doneSummary(torrent)})`;
      return r;
    }, progress);
    if (typeof result === 'number') return result;
    const code = finish(result, watch, 'download', flags, done);
    noSpaceHint(added, code);
    return code;
  }
  const meta = await loadTorrent(torrentPath);
  const watch = new Watch({ stateDir: flags.stateDir, namedPeers: namedPeers(flags), ...(flags.quiet ? { quiet: true } : {}) });
  let done: string | undefined;
  let added: Torrent | undefined;
  const result = await withSession(sessionOptions(flags), async ({ session, port, interrupted }) => {
    const torrent = await session.add(meta, { ...torrentOptions(flags, out, meta.files.length), ...seedLimits(flags) });
    added = torrent;
    if (!flags.quiet) stderrLog(`${meta.name}: ${formatBytes(meta.totalLength)}, info-hash ${meta.infoHash}, listening on port ${port}`);
    if (!flags.quiet) for (const l of watchDiscovery(session, watch)) stderrLog(l);
    const r = await show(torrent, interrupted, watch, flags, 'download', seeding, progress);
    done = `done: ${torrent.contentPath} (${doneSummary(torrent)})`;
    return r;
  });
  const code = finish(result, watch, 'download', flags, done);
  noSpaceHint(added, code);
  return code;
}

/**
 * `mainline seed`: check the data first (or trust a matching resume record), then seed it. The
 * files are opened read-only: nothing is created, truncated or written.
 */
export async function seed(torrentPath: string, data: string, flags: DownloadFlags, progress?: ProgressOptions): Promise<number> {
  const meta = await loadTorrent(torrentPath);
  const watch = new Watch({ stateDir: flags.stateDir, namedPeers: namedPeers(flags), ...(flags.quiet ? { quiet: true } : {}) });
  const result = await withSession(sessionOptions(flags), async ({ session, port, interrupted }) => {
    // Read-only: nothing is created, truncated or written.
    const torrent = await session.add(meta, { ...torrentOptions(flags, data, meta.files.length), ...seedLimits(flags), readOnly: true });
    const s = torrent.stats();
    // A read-only torrent whose data checked out incomplete stops in 'error' too: say what is missing.
    const incomplete = s.wantedLeft > 0 && torrent.store?.state === 'ready';
    if (incomplete) {
      stderrLog(`the data in ${data} is incomplete: ${s.piecesHave} of ${s.pieceCount} pieces verified (${formatPercent(s.wantedProgress)}${s.wantedLength < s.totalLength ? ' of the selected files' : ''}); use \`mainline download\` to complete it`);
      return 1;
    }
    if (s.state === 'error') {
      stderrLog(`seed failed: ${s.error ?? 'unknown error'}`);
      return 1;
    }
    if (!flags.quiet) stderrLog(`seeding ${meta.name} (${formatBytes(meta.totalLength)}, verified) on port ${port}; Ctrl-C stops`);
    if (!flags.quiet) for (const l of watchDiscovery(session, watch)) stderrLog(l);
    return show(torrent, interrupted, watch, flags, 'seed', true, progress);
  });
  return typeof result === 'number' ? result : finish(result, watch, 'seeding', flags);
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
