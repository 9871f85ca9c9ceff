/**
 * A part of the session that is switched on and off while it runs (LSD, the DHT): switches run one
 * after another, each going to the latest wish, and after close() it stays off.
 */
export class OnOff {
  readonly #start: () => Promise<void>;
  readonly #stop: () => Promise<void>;
  #enabled: boolean;
  #closed = false;
  #queue: Promise<void> = Promise.resolve();

  constructor(enabled: boolean, start: () => Promise<void>, stop: () => Promise<void>) {
    this.#enabled = enabled;
    this.#start = start;
    this.#stop = stop;
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Switches on or off; resolves when done. */
  set(enabled: boolean): Promise<void> {
    this.#enabled = enabled;
    const step = this.#queue.then(() => (this.#enabled && !this.#closed ? this.#start() : this.#stop()));
    this.#queue = step.catch(() => undefined);
    return step;
  }

  /** Stops and starts again if on (its port moved); resolves when done. */
  restart(): Promise<void> {
    const step = this.#queue.then(async () => {
      await this.#stop();
      if (this.#enabled && !this.#closed) await this.#start();
    });
    this.#queue = step.catch(() => undefined);
    return step;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.set(false);
  }
}
