import { Session, type LsdStatus, type SessionOptions, type Torrent, type TorrentStats } from '@mainline/session';
import { formatBytes, formatDuration, formatPercent, formatRate } from './format.js';
import { Progress, type ProgressOptions } from './progress.js';

/**
 * One status line, aria2c-like: what a user watches during a download or while seeding. With
 * files skipped, the download counts the selected files' pieces (`of` the whole torrent's size).
 */
export function statusLine(s: TorrentStats): string {
  if (s.state === 'checking') return `checking existing data ${formatPercent(s.checkProgress)}`;
  const peers = `peers ${s.peers} (${s.seeds} seeds)`;
  const partial = s.wantedLength < s.totalLength;
  if (s.state === 'seeding') {
    const what = partial ? `${formatBytes(s.haveBytes)} of ${formatBytes(s.totalLength)}` : formatBytes(s.totalLength);
    return `seeding ${what} UL ${formatRate(s.uploadRate)} up ${formatBytes(s.uploaded)} ratio ${s.ratio.toFixed(2)} ${peers}`;
  }
  const tracker = s.trackerError && s.peers === 0 ? ` tracker: ${s.trackerError}` : '';
  const size = `${formatBytes(s.wantedLength - s.wantedLeft)}/${formatBytes(s.wantedLength)}${partial ? ` (selected, of ${formatBytes(s.totalLength)})` : ''}`;
  return `${size} DL ${formatRate(s.downloadRate)} UL ${formatRate(s.uploadRate)} ETA ${formatDuration(s.eta)} ${peers}${tracker}`;
}

export interface RunOptions {
  /** Keep seeding after completion (until a limit, or Ctrl-C). */
  seed: boolean;
  progress?: ProgressOptions;
  quiet?: boolean;
  log?: (line: string) => void;
  /** Resolves when the user asks to stop (Ctrl-C). */
  interrupted: Promise<string>;
}

export type RunOutcome = { kind: 'complete' } | { kind: 'interrupted'; signal: string } | { kind: 'failed'; message: string };

/**
 * Shows live progress for a torrent until it completes, i.e. every wanted piece is verified (and,
 * with `seed`, until seeding ends), fails, or the user interrupts.
 */
export async function runTorrent(torrent: Torrent, options: RunOptions): Promise<RunOutcome> {
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const progress = options.quiet ? undefined : await Progress.open(options.progress);
  const show = (): void => {
    const s = torrent.stats();
    progress?.update(s.state === 'checking' ? s.checkProgress : s.wantedProgress, statusLine(s));
  };
  const timer = setInterval(show, 500);
  torrent.on('banned', (key, reason) => log(`banned ${key}: ${reason}`));
  const ended = new Promise<RunOutcome>((resolve) => {
    const check = (): void => {
      const s = torrent.stats();
      if (s.state === 'error') resolve({ kind: 'failed', message: s.error ?? 'unknown error' });
      else if (s.state === 'seeding' && !options.seed) resolve({ kind: 'complete' });
      else if (s.state === 'paused' && options.seed && s.wantedLeft === 0) resolve({ kind: 'complete' });
    };
    torrent.on('state', check);
    torrent.on('done', check);
    torrent.on('seeding-done', (reason) => {
      log(`seeding finished: ${reason}`);
      resolve({ kind: 'complete' });
    });
    check();
  });
  const outcome = await Promise.race([
    ended,
    options.interrupted.then((signal): RunOutcome => ({ kind: 'interrupted', signal })),
  ]);
  clearInterval(timer);
  show();
  const s = torrent.stats();
  progress?.done(statusLine(s));
  return outcome;
}

/** The line that says where local peer discovery runs, or why it does not (none when it is off). */
export function lsdLine(status: LsdStatus): string | undefined {
  if (!status.enabled) return undefined;
  if (status.running) return `local peer discovery on ${status.interfaces.join(', ')}`;
  return `local peer discovery not running: ${status.error ?? 'unknown'}`;
}

/** A promise that resolves on the first SIGINT/SIGTERM (and a function to stop listening). */
export function onInterrupt(): { interrupted: Promise<string>; dispose: () => void } {
  let resolveFn: (s: string) => void = () => undefined;
  const interrupted = new Promise<string>((r) => (resolveFn = r));
  const handler = (signal: NodeJS.Signals): void => resolveFn(signal);
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return {
    interrupted,
    dispose: () => {
      process.removeListener('SIGINT', handler);
      process.removeListener('SIGTERM', handler);
    },
  };
}

/**
 * A session listening, with Ctrl-C watched, for the time of `body`; always closed cleanly
 * afterwards (trackers told `stopped`, resume data saved), whatever `body` does.
 */
export async function withSession<T>(
  options: SessionOptions,
  body: (s: { session: Session; port: number; interrupted: Promise<string> }) => Promise<T>,
): Promise<T> {
  const session = new Session(options);
  const { interrupted, dispose } = onInterrupt();
  try {
    const port = await session.listen();
    return await body({ session, port, interrupted });
  } finally {
    dispose();
    await session.close();
  }
}
