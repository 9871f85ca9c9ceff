import { encodeTorrent, parseMagnet, type MagnetLink, type Metainfo } from '@mainline/metainfo';
import { writeFileAtomic, type MagnetDownload, type Torrent } from '@mainline/session';
import { seedLimits, sessionOptions, torrentOptions } from './client-options.js';
import type { DownloadFlags } from './client.js';
import { fileError } from './files.js';
import { formatBytes } from './format.js';
import { write } from './output.js';
import { Progress, type ProgressOptions } from './progress.js';
import { signalExitCode, watchDiscovery, withSession, type RunResult, type Watch } from './run-torrent.js';
import { magnetStatusLine, notes, peerRetryIn } from './status.js';

export { magnetStatusLine } from './status.js';

export function isMagnet(target: string): boolean {
  return /^magnet:\?/i.test(target.trim());
}

/** The link parsed, or an error that says what is wrong with it. */
export function parseLink(target: string): MagnetLink {
  try {
    return parseMagnet(target);
  } catch (err) {
    throw new Error(`not a valid magnet link: ${(err as Error).message}`);
  }
}

export interface MagnetFlags extends DownloadFlags {
  /** Also write the fetched .torrent here. */
  saveTorrent?: string;
}

type Outcome = { kind: 'torrent'; torrent: Torrent } | { kind: 'interrupted'; signal: string } | { kind: 'failed'; message: string };

/** The line that replaces the metadata display once the info dict is here. */
function metadataLine(meta: Metainfo, download: MagnetDownload): string {
  const s = download.stats();
  const from = s.pieceCount === undefined ? '' : ` (${s.pieceCount} metadata piece${s.pieceCount === 1 ? '' : 's'})`;
  return `metadata: ${meta.name}, ${formatBytes(meta.totalLength)} in ${meta.files.length} file(s)${from}`;
}

/**
 * Waits for the metadata of a magnet link, showing peers, pieces and notes (trackers, failed
 * dials, what to do), until the torrent is added (its display then takes over), the fetch fails,
 * or the user interrupts. The display ends with one line: the metadata, or where it stopped.
 */
async function fetchMetadata(download: MagnetDownload, link: MagnetLink, interrupted: Promise<string>, flags: MagnetFlags, watch: Watch, progress: ProgressOptions | undefined): Promise<Outcome> {
  const bar = flags.quiet ? undefined : await Progress.open(progress);
  watch.display = bar;
  watch.attachMagnet(download);
  let meta: Metainfo | undefined;
  download.on('metadata', (m) => (meta = m));
  const context = {
    kind: 'magnet' as const,
    trackersOff: flags.trackers === false,
    hasTrackers: link.trackers.length > 0,
    namedPeers: watch.namedPeers,
    // When each failed peer is dialled next: the magnet's peer list (the torrent's, later) knows.
    retryIn: peerRetryIn(download.peerList),
  };
  const show = (): void => {
    const s = download.stats();
    const dhtNodes = watch.dhtNodes();
    bar?.update(0, magnetStatusLine(s, dhtNodes), notes(s, { ...context, failures: watch.failures, now: Date.now(), dhtNodes }));
  };
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
    bar?.done(meta ? metadataLine(meta, download) : magnetStatusLine(download.stats(), watch.dhtNodes()));
    watch.display = undefined;
  }
}

/**
 * `mainline download 'magnet:?...'`: fetch the metadata from peers (trackers, x.pe, --peer), save
 * the .torrent in the state dir (and `--save-torrent`), then download like a .torrent. `run` shows
 * the download; the result is its RunResult, or the exit code when it never got that far.
 */
export async function downloadMagnet(
  link: MagnetLink,
  out: string,
  flags: MagnetFlags,
  watch: Watch,
  run: (torrent: Torrent, interrupted: Promise<string>) => Promise<RunResult>,
  progress?: ProgressOptions,
): Promise<RunResult | number> {
  const log = (l: string): void => write(process.stderr, `${l}\n`);
  return withSession(sessionOptions(flags), async ({ session, port, interrupted }) => {
    // File choices (--select) need the file list: applied once the metadata is here.
    const download = session.addMagnet(link, {
      ...torrentOptions({ ...flags, select: undefined }, out, 0),
      ...seedLimits(flags),
      withMetadata: (meta) => ({ ...torrentOptions(flags, out, meta.files.length), ...seedLimits(flags) }),
    });
    if (!flags.quiet) log(`${link.name ?? link.infoHash}: magnet link, info-hash ${link.infoHash}, listening on port ${port}`);
    if (!flags.quiet) for (const l of watchDiscovery(session, watch)) log(l);
    const outcome = await fetchMetadata(download, link, interrupted, flags, watch, progress);
    if (outcome.kind === 'interrupted') {
      log(`interrupted (${outcome.signal}) while fetching metadata`);
      return signalExitCode(outcome.signal);
    }
    if (outcome.kind === 'failed') {
      log(`download failed: ${outcome.message}`);
      return 1;
    }
    const saveTo = flags.saveTorrent;
    if (saveTo) await writeFileAtomic(saveTo, encodeTorrent(outcome.torrent.meta)).catch((err: unknown) => watch.log(`warning: ${fileError('write', saveTo, err).message}`));
    return run(outcome.torrent, interrupted);
  });
}
