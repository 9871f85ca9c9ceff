// The reader of our output may go away (`mainline info x.torrent | head -1`): then writes fail
// with EPIPE, which Node raises as an unhandled 'error' (a stack trace, exit 1). Unix tools end
// quietly instead (SIGPIPE). Here: a short command exits 0 at once; a running download or seed
// stops as on Ctrl-C (resume data saved, trackers told) and exits 141 (128 + SIGPIPE).

/** The signal name a closed output counts as (for the exit code, 128 + 13). */
export const CLOSED_OUTPUT = 'SIGPIPE';

let closed = false;
const stoppers = new Set<() => void>();

/** Whether stdout or stderr has lost its reader. */
export function outputClosed(): boolean {
  return closed;
}

function onClosed(): void {
  if (closed) return;
  closed = true;
  if (stoppers.size === 0) process.exit(0);
  for (const stop of [...stoppers]) stop();
}

/**
 * Watches both output streams: the first EPIPE ends the command quietly (see above); other
 * write errors are left to Node. Call once, before anything is written.
 */
export function guardOutput(streams: NodeJS.WriteStream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
      onClosed();
    });
  }
}

/**
 * While a long-running command runs, a closed output calls `stop` (instead of exiting) so it can
 * end cleanly; returns the function that stops watching.
 */
export function onOutputClosed(stop: () => void): () => void {
  if (closed) {
    stop();
    return () => undefined;
  }
  stoppers.add(stop);
  return () => stoppers.delete(stop);
}

/** Writes to a stream unless our output has lost its reader (nothing can be shown anyway). */
export function write(stream: NodeJS.WriteStream, text: string): void {
  if (!closed) stream.write(text);
}
