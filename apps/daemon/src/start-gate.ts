/**
 * At most `limit` torrent starts at a time; the others wait their turn, first come first served.
 * A start opens the torrent's files and checks its resume record against them: a daemon that
 * restarts on 1,000 torrents and starts them all together holds 1,000 of those half done (their
 * promises, buffers and file requests, ~45 KiB each) at its memory peak, and the disk does the
 * same work in the same time either way (libuv runs four file requests at once).
 */
export class StartGate {
  readonly #limit: number;
  #active = 0;
  #waiting: (() => void)[] = [];
  #head = 0;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`a start gate needs a limit of at least 1, not ${limit}`);
    this.#limit = limit;
  }

  /** Starts running now. */
  get active(): number {
    return this.#active;
  }

  /** Starts waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length - this.#head;
  }

  /** Resolves when a slot is free, with the function that frees it again (once; later calls do nothing). */
  acquire(): Promise<() => void> {
    return new Promise((resolve) => {
      const grant = (): void => {
        this.#active++;
        let held = true;
        resolve(() => {
          if (!held) return;
          held = false;
          this.#active--;
          this.#next();
        });
      };
      if (this.#active < this.#limit) grant();
      else this.#waiting.push(grant);
    });
  }

  #next(): void {
    if (this.#active >= this.#limit || this.#head >= this.#waiting.length) return;
    const grant = this.#waiting[this.#head++]!;
    // The queue is cut once it is drained, or when half of it is spent, so it stays small.
    if (this.#head === this.#waiting.length) {
      this.#waiting = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#head);
      this.#head = 0;
    }
    grant();
  }
}
