import { grown } from './grow.js';

/** A minimal typed event emitter. Unlike Node's, an unheard `error` event is simply dropped. */
export class Emitter<Events extends { [K in keyof Events]: (...args: never[]) => void }> {
  /**
   * Every listener as event, listener, event, listener... in the order added: one small array for
   * an announcer's three listeners, where a Map of Sets cost ~1 KiB per torrent. Made at the first
   * listener: a big session's idle announcers may never get one.
   */
  #listeners: (keyof Events | Events[keyof Events])[] | undefined;

  /** Adds a listener (once per event: adding it again does nothing); returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Events[K]): () => void {
    // Copied on change, never changed in place: emit() can walk the array it found.
    if (this.#indexOf(event, listener) < 0) this.#listeners = grown(this.#listeners, event, listener);
    return () => this.off(event, listener);
  }

  off<K extends keyof Events>(event: K, listener: Events[K]): void {
    const i = this.#indexOf(event, listener);
    if (i < 0) return;
    const l = this.#listeners!;
    this.#listeners = l.length === 2 ? undefined : l.slice(0, i).concat(l.slice(i + 2));
  }

  #indexOf(event: keyof Events, listener: Events[keyof Events]): number {
    const l = this.#listeners;
    if (l) for (let i = 0; i < l.length; i += 2) if (l[i] === event && l[i + 1] === listener) return i;
    return -1;
  }

  protected emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    // The listeners at the time of the emit: on() and off() replace the array, never change it.
    const l = this.#listeners;
    if (!l) return;
    for (let i = 0; i < l.length; i += 2) {
      if (l[i] !== event) continue;
      const fn = l[i + 1] as (...a: Parameters<Events[K]>) => void;
      safely(() => fn(...args));
    }
  }
}

/**
 * Calls a listener (or an observer's method). One that throws is the caller's bug: surfaced like
 * Node does, but outside our state machine so scheduling is not left half-updated.
 */
export function safely(call: () => void): void {
  try {
    call();
  } catch (e) {
    queueMicrotask(() => {
      throw e;
    });
  }
}
