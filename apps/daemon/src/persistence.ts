import { noteHave, type AnyEntry } from './entry.js';
import type { SessionRecord, StateStore } from './state.js';

/** Records whose counts moved, and the session totals, are saved this often (in ticks of 1 s). */
const SAVE_EVERY_TICKS = 30;

export interface PersistenceOptions {
  store: StateStore;
  /** The session record to save (totals and settings) as of now. */
  sessionRecord: () => SessionRecord;
  /** Whether the entry is still in the daemon (a removed one is never written back). */
  holds: (entry: AnyEntry) => boolean;
  log: (line: string) => void;
}

/**
 * When the daemon's state reaches the disk: a record at once when the user changed it, records
 * whose verified count moved and the session totals every 30 s, and everything at shutdown.
 * A failed background write is logged, never dropped.
 */
export class Persistence {
  readonly #o: PersistenceOptions;
  #ticks = 0;

  constructor(options: PersistenceOptions) {
    this.#o = options;
  }

  /** Saves an entry's record now (after noting its verified counts), in the background. */
  persist(entry: AnyEntry): void {
    if (entry.kind === 'torrent') noteHave(entry);
    if (!this.#o.holds(entry)) return;
    this.#o.store.saveRecord(entry.record).catch((e: unknown) => this.#o.log(`cannot save the state of #${entry.id}: ${(e as Error).message}`));
  }

  async saveSession(): Promise<void> {
    await this.#o.store.saveSession(this.#o.sessionRecord());
  }

  /** One second passed: every 30th, what moved is saved. */
  tick(entries: readonly AnyEntry[]): void {
    if (++this.#ticks % SAVE_EVERY_TICKS !== 0) return;
    for (const e of entries) {
      if (e.kind === 'torrent' && e.torrent.store && e.record.haveBytes !== e.torrent.activity().haveBytes) this.persist(e);
    }
    this.saveSession().catch((e: unknown) => this.#o.log(`cannot save the session: ${(e as Error).message}`));
  }

  /** Shutdown: resume data and every record, then the session record. */
  async flush(entries: readonly AnyEntry[]): Promise<void> {
    await Promise.all(
      entries.map(async (e) => {
        if (e.kind === 'torrent') {
          await e.torrent.saveResume().catch((err: unknown) => this.#o.log(`cannot save the resume data of #${e.id}: ${(err as Error).message}`));
          noteHave(e);
        }
        await this.#o.store.saveRecord(e.record).catch((err: unknown) => this.#o.log(`cannot save the state of #${e.id}: ${(err as Error).message}`));
      }),
    );
    await this.saveSession().catch((e: unknown) => this.#o.log(`cannot save the session: ${(e as Error).message}`));
  }
}
