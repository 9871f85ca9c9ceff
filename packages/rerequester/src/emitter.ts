/** A minimal typed event emitter. Unlike Node's, an unheard `error` event is simply dropped. */
export class Emitter<Events extends { [K in keyof Events]: (...args: never[]) => void }> {
  /** Made at the first listener: a big session's idle announcers may never get one. */
  #listeners: Map<keyof Events, Set<Events[keyof Events]>> | undefined;

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(event: K, listener: Events[K]): () => void {
    const listeners = (this.#listeners ??= new Map());
    let set = listeners.get(event);
    if (!set) listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => this.off(event, listener);
  }

  off<K extends keyof Events>(event: K, listener: Events[K]): void {
    this.#listeners?.get(event)?.delete(listener);
  }

  protected emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    const set = this.#listeners?.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        (fn as (...a: Parameters<Events[K]>) => void)(...args);
      } catch (e) {
        // A throwing listener is the caller's bug: surface it like Node does, but outside our
        // state machine so scheduling is not left half-updated.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }
}
