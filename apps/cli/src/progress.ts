import { write } from './output.js';

export interface ProgressOptions {
  /** Where output goes (default stderr, so stdout stays clean for scripts). */
  stream?: NodeJS.WriteStream;
  /** Force plain periodic lines even on a TTY (e.g. --quiet-bar), or a bar when not a TTY. */
  tty?: boolean;
  /** Seconds between plain lines when not on a TTY. */
  plainInterval?: number;
}

const BAR_WIDTH = 24;

/**
 * `text` cut into rows of at most `width` characters, at spaces where it can (a longer word is
 * cut where it must): nothing is lost at the terminal's edge.
 */
export function wrap(text: string, width: number): string[] {
  const w = Math.max(1, width);
  const rows: string[] = [];
  let row = '';
  for (const word of text.split(' ')) {
    let rest = word;
    if (row && row.length + 1 + rest.length <= w) {
      row += ` ${rest}`;
      continue;
    }
    if (row) rows.push(row);
    while (rest.length > w) {
      rows.push(rest.slice(0, w));
      rest = rest.slice(w);
    }
    row = rest;
  }
  rows.push(row);
  return rows;
}

/**
 * A live progress display. On a terminal: a bar with a status line and, under it, notes (what the
 * client is trying, what failed, when it retries), redrawn in place and wrapped to the width,
 * never cut off; `log()` lines stay above it. Elsewhere: a plain line (and its notes) every few
 * seconds, so logs of CI jobs and daemons stay readable. Made with Progress.open().
 */
export class Progress {
  readonly #stream: NodeJS.WriteStream;
  readonly #tty: boolean;
  readonly #plainIntervalMs: number;
  #lastPlain = 0;
  #line = '';
  /** The frame on screen: its text and how many rows it took. */
  #frame: string[] = [];
  #rows = 0;

  /** A display for `options` (a promise: it once loaded a bar library on demand; callers await it). */
  static async open(options: ProgressOptions = {}): Promise<Progress> {
    return Promise.resolve(new Progress(options));
  }

  private constructor(options: ProgressOptions) {
    this.#stream = options.stream ?? process.stderr;
    this.#tty = options.tty ?? Boolean(this.#stream.isTTY);
    this.#plainIntervalMs = (options.plainInterval ?? 5) * 1000;
  }

  /** Shows `fraction` (0..1) done with a status line and notes below it (one per line). */
  update(fraction: number, line: string, notes: readonly string[] = []): void {
    this.#line = line;
    if (this.#tty) {
      const f = Math.max(0, Math.min(1, fraction));
      const filled = Math.round(f * BAR_WIDTH);
      const bar = `${'='.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)} ${Math.floor(f * 100)}%`;
      this.#draw([`${bar} ${line}`, ...notes]);
      return;
    }
    const now = Date.now();
    if (now - this.#lastPlain >= this.#plainIntervalMs) {
      this.#lastPlain = now;
      const notesText = notes.map((n) => `         ${n}\n`).join('');
      write(this.#stream, `[${(fraction * 100).toFixed(1).padStart(5)}%] ${line}\n${notesText}`);
    }
  }

  /** A line that stays: printed above the live display (which is drawn again under it). */
  log(line: string): void {
    if (!this.#tty) {
      write(this.#stream, `${line}\n`);
      return;
    }
    const frame = this.#frame;
    this.#erase();
    write(this.#stream, `${line}\n`);
    if (frame.length > 0) this.#draw(frame);
  }

  /**
   * Stops redrawing: the live display is replaced by `finalLine` (written once; the last status
   * line when none is given; nothing for '').
   */
  done(finalLine?: string): void {
    this.#erase();
    this.#frame = [];
    const line = finalLine ?? this.#line;
    if (line) write(this.#stream, `${line}\n`);
  }

  get #width(): number {
    // One column short of the edge: a full row would leave the cursor in the terminal's
    // pending-wrap state, which would throw the row count off.
    return Math.max(20, (this.#stream.columns || 80) - 1);
  }

  #draw(frame: string[]): void {
    this.#frame = frame;
    const width = this.#width;
    let rows = frame.flatMap((l) => wrap(l, width));
    // Taller than the terminal, the cursor could not go back up to the top: keep the first rows.
    const most = Math.max(2, (this.#stream.rows || 24) - 1);
    if (rows.length > most) rows = [...rows.slice(0, most - 1), '…'];
    write(this.#stream, `${this.#back()}${rows.join('\n')}`);
    this.#rows = rows.length;
  }

  /** Clears the frame on screen, leaving the cursor where it began. */
  #erase(): void {
    if (this.#rows > 0) write(this.#stream, this.#back());
    this.#rows = 0;
  }

  /** To the start of the frame's first row, and clear from there to the end of the screen. */
  #back(): string {
    if (this.#rows === 0) return '';
    return `\r${this.#rows > 1 ? `\x1b[${this.#rows - 1}A` : ''}\x1b[J`;
  }
}
