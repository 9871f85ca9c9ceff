import { encodeTorrent, parseMagnet, type MagnetLink } from '@mainline/metainfo';
import { writeFileAtomic, type MagnetDownload, type MagnetStats, type Torrent } from '@mainline/session';
import { seedLimits, sessionOptions, torrentOptions } from './client-options.js';
import type { DownloadFlags } from './client.js';
import { formatBytes } from './format.js';
import { Progress, type ProgressOptions } from './progress.js';
import { lsdLine, withSession } from './run-torrent.js';

/** The status line while a magnet link's metadata is being fetched. */
export function magnetStatusLine(s: MagnetStats): string {
  const pieces = s.pieceCount === undefined ? '' : `, ${s.piecesReceived}/${s.pieceCount} pieces`;
  const tracker = s.trackerError && s.peers === 0 ? ` tracker: ${s.trackerError}` : '';
  return `fetching metadata: ${s.peers} peers (${s.metadataPeers} with metadata${pieces})${tracker}`;
}

export function isMagnet(target: string): boolean {
  return /^magnet:\?/i.test(target.trim());
}

export interface MagnetFlags extends DownloadFlags {
  /** Also write the fetched .torrent here. */
  saveTorrent?: string;
}

type Outcome = { kind: 'torrent'; torrent: Torrent } | { kind: 'interrupted'; signal: string } | { kind: 'failed'; message: string };

/**
 * Waits for the metadata of a magnet link, showing peers and pieces, until the torrent is added
 * (then the usual download display takes over), the fetch fails, or the user interrupts.
 */
async function fetchMetadata(download: MagnetDownload, interrupted: Promise<string>, flags: MagnetFlags, progress: ProgressOptions | undefined): Promise<Outcome> {
  const bar = flags.quiet ? undefined : await Progress.open(progress);
  const show = (): void => bar?.update(0, magnetStatusLine(download.stats()));
  show();
  const timer = setInterval(show, 500);
  try {
    return await Promise.race([
      download.torrent.then(
        (torrent): Outcome => ({ kind: 'torrent', torrent }),
        (err: unknown): Outcome => ({ kind: 'failed', message: err instanceof Error ? err.message : String(err) }),
      ),
      interrupted.then((signal): Outcome => ({ kind: 'interrupted', signal })),
    ]);
  } finally {
    clearInterval(timer);
    bar?.done(magnetStatusLine(download.stats()));
  }
}

/**
 * `mainline download 'magnet:?...'`: fetch the metadata from peers (trackers, x.pe, --peer), save
 * the .torrent in the state dir (and `--save-torrent`), then download like a .torrent. `run` shows
 * the download and resolves to the exit code (the same as for a .torrent).
 */
export async function downloadMagnet(
  target: string,
  out: string,
  flags: MagnetFlags,
  run: (torrent: Torrent, port: number, interrupted: Promise<string>) => Promise<number>,
  progress?: ProgressOptions,
): Promise<number> {
  const log = (l: string): void => void process.stderr.write(`${l}\n`);
  let link: MagnetLink;
  try {
    link = parseMagnet(target);
  } catch (err) {
    throw new Error(`not a valid magnet link: ${(err as Error).message}`);
  }
  return withSession(sessionOptions(flags), async ({ session, port, interrupted }) => {
    // File choices (--select) need the file list: applied once the metadata is here.
    const download = session.addMagnet(link, {
      ...torrentOptions({ ...flags, select: undefined }, out, 0),
      ...seedLimits(flags),
      withMetadata: (meta) => ({ ...torrentOptions(flags, out, meta.files.length), ...seedLimits(flags) }),
    });
    download.on('metadata', (meta) => {
      if (!flags.quiet) log(`metadata: ${meta.name}, ${formatBytes(meta.totalLength)} in ${meta.files.length} file(s)`);
    });
    if (!flags.quiet) log(`${link.name ?? link.infoHash}: magnet link, info-hash ${link.infoHash}, listening on port ${port}`);
    const lsd = lsdLine(session.lsdStatus());
    if (!flags.quiet && lsd) log(lsd);
    const outcome = await fetchMetadata(download, interrupted, flags, progress);
    if (outcome.kind === 'interrupted') {
      log(`interrupted (${outcome.signal}) while fetching metadata`);
      return 130;
    }
    if (outcome.kind === 'failed') {
      log(`download failed: ${outcome.message}`);
      return 1;
    }
    if (flags.saveTorrent) await writeFileAtomic(flags.saveTorrent, encodeTorrent(outcome.torrent.meta));
    return run(outcome.torrent, port, interrupted);
  });
}
