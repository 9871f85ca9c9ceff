import type { Torrent, TorrentStats } from '@mainline/session';
import { formatBytes, formatDuration, formatPercent, formatRate } from './format.js';
import { Progress, type ProgressOptions } from './progress.js';

/** One status line, aria2c-like: what a user watches during a download or while seeding. */
export function statusLine(s: TorrentStats): string {
  if (s.state === 'checking') return `checking existing data ${formatPercent(s.checkProgress)}`;
  const peers = `peers ${s.peers} (${s.seeds} seeds)`;
  if (s.state === 'seeding') {
    return `seeding ${formatBytes(s.totalLength)} UL ${formatRate(s.uploadRate)} up ${formatBytes(s.uploaded)} ratio ${s.ratio.toFixed(2)} ${peers}`;
  }
  const tracker = s.trackerError && s.peers === 0 ? ` tracker: ${s.trackerError}` : '';
  return `${formatBytes(s.haveBytes)}/${formatBytes(s.totalLength)} DL ${formatRate(s.downloadRate)} UL ${formatRate(s.uploadRate)} ETA ${formatDuration(s.eta)} ${peers}${tracker}`;
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
 * Shows live progress for a torrent until it completes (and, with `seed`, until seeding ends),
 * fails, or the user interrupts.
 */
export async function runTorrent(torrent: Torrent, options: RunOptions): Promise<RunOutcome> {
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const progress = options.quiet ? undefined : new Progress(options.progress);
  const show = (): void => {
    const s = torrent.stats();
    progress?.update(s.state === 'checking' ? s.checkProgress : s.progress, statusLine(s));
  };
  const timer = setInterval(show, 500);
  torrent.on('banned', (key, reason) => log(`banned ${key}: ${reason}`));
  const ended = new Promise<RunOutcome>((resolve) => {
    const check = (): void => {
      const s = torrent.stats();
      if (s.state === 'error') resolve({ kind: 'failed', message: s.error ?? 'unknown error' });
      else if (s.state === 'seeding' && !options.seed) resolve({ kind: 'complete' });
      else if (s.state === 'paused' && options.seed && s.progress === 1) resolve({ kind: 'complete' });
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
