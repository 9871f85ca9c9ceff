import { constants } from 'node:os';
import { Session, type DhtStatus, type LsdStatus, type MagnetDownload, type SessionOptions, type Torrent, type TorrentStats } from '@mainline/session';
import { CLOSED_OUTPUT, onOutputClosed, write } from './output.js';
import { Progress, type ProgressOptions } from './progress.js';
import { notes, peerRetryIn, statusLine, summary, type NoteContext, type PeerFailure, type RunFacts } from './status.js';

/** Failed dials remembered for the notes (the oldest go first). */
const MAX_FAILURES = 64;

export interface WatchOptions {
  quiet?: boolean;
  /** Where resume data goes (named in the warning when it cannot be written). */
  stateDir: string;
  /** Peers the user named: their failed dials are logged each time. */
  namedPeers: readonly string[];
  /** Where lines go (default stderr). */
  write?: (line: string) => void;
}

/**
 * What the CLI keeps from a torrent's (or magnet's) events while it runs: failed dials for the
 * notes, the first failed resume write (warned about once), log lines that must stay on screen.
 */
const plural = (n: number, one: string): string => `${n} ${one}${n === 1 ? '' : 's'}`;

export class Watch {
  readonly failures = new Map<string, PeerFailure>();
  /** The last failed resume write, if any (then "resume data saved" would be a lie). */
  resumeError: Error | undefined;
  /** The live display, while one is shown: log lines go above it. */
  display: Progress | undefined;
  /** The session's DHT, once it runs (see watchDiscovery). */
  dht: (() => DhtStatus) | undefined;
  readonly #options: WatchOptions;
  readonly #warned = new Set<string>();

  constructor(options: WatchOptions) {
    this.#options = options;
  }

  /** Good and questionable nodes of the DHT's table; undefined when the DHT is off. */
  dhtNodes(): number | undefined {
    const s = this.dht?.();
    return s?.enabled ? s.nodes : undefined;
  }

  get namedPeers(): readonly string[] {
    return this.#options.namedPeers;
  }

  /** A line that stays (above the live display, if any). */
  log(line: string): void {
    if (this.display) this.display.log(line);
    else if (this.#options.write) this.#options.write(line);
    else write(process.stderr, `${line}\n`);
  }

  /** Logs `line` the first time `key` comes up (quiet or not: a warning is not progress). */
  warnOnce(key: string, line: string): void {
    if (this.#warned.has(key)) return;
    this.#warned.add(key);
    this.log(line);
  }

  peerFailed(address: string, reason: string): void {
    const f = this.failures.get(address);
    this.failures.delete(address); // re-inserted last: the map runs oldest to newest
    this.failures.set(address, { reason, count: (f?.count ?? 0) + 1, at: Date.now() });
    if (this.failures.size > MAX_FAILURES) this.failures.delete(this.failures.keys().next().value as string);
    // Peers the user named are few, and their failure is news each time; a tracker's are shown in the notes.
    if (!this.#options.quiet && this.#options.namedPeers.includes(address)) this.log(`peer ${address} ${reason}`);
  }

  attachTorrent(torrent: Torrent): void {
    torrent.on('banned', (key, reason) => this.log(`banned ${key}: ${reason}`));
    torrent.on('peer-failed', (address, reason) => this.peerFailed(address, reason));
    torrent.on('peer-connected', (address) => this.failures.delete(address));
    torrent.on('resume-save-failed', (err) => {
      this.resumeError = err;
      this.warnOnce('resume', `warning: cannot save resume data in ${this.#options.stateDir}: ${err.message}; the next run will check the data again`);
    });
    // Every other trouble that does not stop the torrent (the failed resume write is told above).
    torrent.on('warning', (w) => {
      if (w.what !== 'resume-save') this.warnOnce(w.what, `warning: ${w.name}: ${w.message}`);
    });
  }

  attachMagnet(download: MagnetDownload): void {
    download.on('peer-failed', (address, reason) => this.peerFailed(address, reason));
    download.on('peer-connected', (address) => this.failures.delete(address));
    download.on('torrent-save-failed', (err) =>
      this.warnOnce('torrent-file', `warning: cannot save the .torrent in ${this.#options.stateDir}: ${err.message}; the next run will fetch the metadata again`),
    );
    download.on('warning', (w) => {
      if (w.what !== 'torrent-save') this.warnOnce(w.what, `warning: ${w.name}: ${w.message}`);
    });
  }
}

export interface RunOptions {
  /** Keep seeding after completion (until a limit, or Ctrl-C). */
  seed: boolean;
  /** For the summary: a download (seeding after it or not) or a seed. */
  kind: RunFacts['kind'];
  progress?: ProgressOptions;
  quiet?: boolean;
  watch: Watch;
  /** What the notes need beyond the stats. */
  notes: Omit<NoteContext, 'failures' | 'now' | 'kind' | 'retryIn'>;
  /** Resolves when the user asks to stop (Ctrl-C). */
  interrupted: Promise<string>;
}

export type RunOutcome = { kind: 'complete' } | { kind: 'interrupted'; signal: string } | { kind: 'failed'; message: string };

/** How a run ended: the outcome, the last stats and what it moved. */
export interface RunResult {
  outcome: RunOutcome;
  last: TorrentStats;
  facts: RunFacts;
}

/**
 * Shows live progress for a torrent until it completes, i.e. every wanted piece is verified (and,
 * with `seed`, until seeding ends), fails, or the user interrupts.
 */
export async function runTorrent(torrent: Torrent, options: RunOptions): Promise<RunResult> {
  const { watch } = options;
  const progress = options.quiet ? undefined : await Progress.open(options.progress);
  watch.display = progress;
  watch.attachTorrent(torrent);
  const started = Date.now();
  const before = { downloaded: torrent.downloaded, uploaded: torrent.uploaded };
  let doneAt: number | undefined;
  const retryIn = peerRetryIn(torrent.peerList);
  // A private torrent never uses the DHT: its notes and status line leave it out.
  const dhtNodes = (): number | undefined => (torrent.meta.private ? undefined : watch.dhtNodes());
  const context = (): NoteContext => ({ ...options.notes, kind: 'torrent', failures: watch.failures, now: Date.now(), retryIn, dhtNodes: dhtNodes() });
  const show = (): void => {
    const s = torrent.stats();
    progress?.update(s.state === 'checking' ? s.checkProgress : s.wantedProgress, statusLine(s, dhtNodes()), notes(s, context()));
  };
  const timer = setInterval(show, 500);
  show();
  const ended = new Promise<RunOutcome>((resolve) => {
    const check = (): void => {
      const s = torrent.stats();
      if (s.state === 'seeding') doneAt ??= Date.now();
      if (s.state === 'error') resolve({ kind: 'failed', message: s.error ?? 'unknown error' });
      else if (s.state === 'seeding' && !options.seed) resolve({ kind: 'complete' });
      else if (s.state === 'paused' && options.seed && s.wantedLeft === 0) resolve({ kind: 'complete' });
    };
    torrent.on('state', check);
    torrent.on('done', check);
    torrent.on('seeding-done', (reason) => {
      watch.log(`seeding finished: ${reason}`);
      resolve({ kind: 'complete' });
    });
    check();
  });
  const outcome = await Promise.race([
    ended,
    options.interrupted.then((signal): RunOutcome => ({ kind: 'interrupted', signal })),
  ]);
  clearInterval(timer);
  const last = torrent.stats();
  // The live display goes: a finished run is summed up below; a stopped one shows where it stopped, once.
  progress?.done(outcome.kind === 'complete' ? '' : statusLine(last, dhtNodes()));
  watch.display = undefined;
  const end = options.kind === 'download' && doneAt !== undefined ? doneAt : Date.now();
  return {
    outcome,
    last,
    facts: {
      kind: options.kind,
      seconds: (end - started) / 1000,
      downloaded: last.downloaded - before.downloaded,
      uploaded: last.uploaded - before.uploaded,
      transfers: torrent.peerTransfers(),
    },
  };
}

/**
 * The lines that say how peers are discovered besides trackers (LSD, the DHT), to print when
 * the session listens; from then on `watch` shows the DHT's table size.
 */
export function watchDiscovery(session: Session, watch: Watch): string[] {
  const status = session.dhtStatus();
  if (status.enabled) watch.dht = () => session.dhtStatus();
  return [lsdLine(session.lsdStatus()), dhtLine(status)].filter((l): l is string => l !== undefined);
}

/** Where the DHT runs and where it starts from (none when it is off). */
export function dhtLine(status: DhtStatus): string | undefined {
  if (!status.enabled) return undefined;
  if (!status.running) return `DHT not running: ${status.error ?? 'unknown'}`;
  const saved = status.stateFile ? ` (node table: ${status.stateFile})` : '';
  return `DHT on: ${status.stats?.ready ? plural(status.nodes, 'node') : 'joining'}${saved}`;
}

/** The line that says where local peer discovery runs, or why it does not (none when it is off). */
export function lsdLine(status: LsdStatus): string | undefined {
  if (!status.enabled) return undefined;
  if (status.running) return `local peer discovery on ${status.interfaces.join(', ')}`;
  return `local peer discovery not running: ${status.error ?? 'unknown'}`;
}

/** 128 + the signal's number: what a shell reports for a command a signal ended (Ctrl-C: 130). */
export function signalExitCode(signal: string): number {
  const n = (constants.signals as Record<string, number | undefined>)[signal];
  return 128 + (n ?? constants.signals.SIGINT);
}

/**
 * The lines that end a run (after the session closed: the resume data is saved or not by then)
 * and the exit code: 0 complete, 1 failed, 128 + signal when interrupted (Ctrl-C: 130).
 */
export function closing(result: RunResult, watch: Watch, what: string, quiet: boolean | undefined): { code: number; lines: string[] } {
  const { outcome, last } = result;
  const lines: string[] = [];
  let code = 0;
  if (outcome.kind === 'interrupted') {
    const saved = watch.resumeError ? `resume data NOT saved (${watch.resumeError.message})` : 'resume data saved';
    const told = last.trackers.some((t) => t.lastAnnounceAgo !== undefined) ? ', trackers told' : '';
    lines.push(`interrupted (${outcome.signal}): ${saved}${told}; run the same command again to continue`);
    code = signalExitCode(outcome.signal);
  } else if (outcome.kind === 'failed') {
    lines.push(`${what} failed: ${outcome.message}`);
    code = 1;
  }
  if (!quiet) lines.push(...summary(result.facts));
  return { code, lines };
}

/** A promise that resolves on the first SIGINT/SIGTERM or closed output (and a function to stop listening). */
export function onInterrupt(): { interrupted: Promise<string>; dispose: () => void } {
  let resolveFn: (s: string) => void = () => undefined;
  const interrupted = new Promise<string>((r) => (resolveFn = r));
  const handler = (signal: NodeJS.Signals): void => resolveFn(signal);
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  const stopWatchingOutput = onOutputClosed(() => resolveFn(CLOSED_OUTPUT));
  return {
    interrupted,
    dispose: () => {
      process.removeListener('SIGINT', handler);
      process.removeListener('SIGTERM', handler);
      stopWatchingOutput();
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
