import type { SingleBar } from 'cli-progress';

export interface ProgressOptions {
  /** Where output goes (default stderr, so stdout stays clean for scripts). */
  stream?: NodeJS.WriteStream;
  /** Force plain periodic lines even on a TTY (e.g. --quiet-bar), or a bar when not a TTY. */
  tty?: boolean;
  /** Seconds between plain lines when not on a TTY. */
  plainInterval?: number;
}

type BarClass = typeof SingleBar;

/**
 * A live progress display: on a terminal a redrawn bar (cli-progress), elsewhere a plain line
 * every few seconds, so logs of CI jobs and daemons stay readable. Made with Progress.open().
 */
export class Progress {
  readonly #stream: NodeJS.WriteStream;
  readonly #bar: SingleBar | undefined;
  readonly #plainIntervalMs: number;
  #lastPlain = 0;
  #started = false;
  #line = '';

  /** A display for `options`; cli-progress is loaded only when a bar is drawn (~17 ms of start-up). */
  static async open(options: ProgressOptions = {}): Promise<Progress> {
    const stream = options.stream ?? process.stderr;
    const tty = options.tty ?? Boolean(stream.isTTY);
    return new Progress(stream, options, tty ? (await import('cli-progress')).SingleBar : undefined);
  }

  private constructor(stream: NodeJS.WriteStream, options: ProgressOptions, Bar: BarClass | undefined) {
    this.#stream = stream;
    this.#plainIntervalMs = (options.plainInterval ?? 5) * 1000;
    if (Bar) {
      this.#bar = new Bar({
        stream: this.#stream,
        format: '{bar} {percentage}% {line}',
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        fps: 4,
        forceRedraw: true,
      });
    }
  }

  /** Shows `fraction` (0..1) done with a status text. */
  update(fraction: number, line: string): void {
    this.#line = line;
    const value = Math.max(0, Math.min(1000, Math.floor(fraction * 1000)));
    if (this.#bar) {
      if (!this.#started) this.#bar.start(1000, value, { line });
      else this.#bar.update(value, { line });
      this.#started = true;
      return;
    }
    const now = Date.now();
    if (now - this.#lastPlain >= this.#plainIntervalMs) {
      this.#lastPlain = now;
      this.#stream.write(`[${(fraction * 100).toFixed(1).padStart(5)}%] ${line}\n`);
    }
  }

  /** Stops redrawing; a final plain line is always written. */
  done(finalLine?: string): void {
    if (this.#bar && this.#started) this.#bar.stop();
    const line = finalLine ?? this.#line;
    if (line) this.#stream.write(`${line}\n`);
  }
}
