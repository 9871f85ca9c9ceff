import { InteropError } from './errors.js';

/** What every client handle reports, whatever the program. */
export interface ClientStatus {
  /** Program-specific state name ("downloading", "seeding", "checking_files", ...). */
  readonly state: string;
  /** 0..1 of the wanted bytes present and verified. */
  readonly progress: number;
  /** Payload bytes/s. */
  readonly downloadRate: number;
  readonly uploadRate: number;
  /** Connected peers (the program's own count). */
  readonly numPeers: number;
  /** All wanted pieces are present and verified. */
  readonly complete: boolean;
}

/**
 * Holds the latest status of a client and lets callers wait for a condition on it; fails waiters
 * when the program dies.
 */
export class StatusBox<S extends ClientStatus> {
  private current: S | undefined;
  private failure: InteropError | undefined;
  private waiters = new Set<() => void>();

  constructor(private readonly describe: () => string) {}

  get status(): S | undefined {
    return this.current;
  }

  update(s: S): void {
    this.current = s;
    this.wake();
  }

  fail(err: InteropError): void {
    this.failure ??= err;
    this.wake();
  }

  /** Re-checks waiters after something outside the status changed. */
  wakeUp(): void {
    for (const w of [...this.waiters]) w();
  }

  private wake(): void {
    this.wakeUp();
  }

  /** Resolves with the first status that satisfies `predicate`. */
  async waitFor(predicate: (s: S) => boolean, timeoutMs: number, what = 'condition'): Promise<S> {
    let hit: S | undefined;
    await this.until(
      () => {
        if (this.current !== undefined && predicate(this.current)) hit = this.current;
        return hit !== undefined;
      },
      timeoutMs,
      what,
    );
    return hit as S;
  }

  /** Resolves once `cond()` holds, checked on every status update or wakeUp(). */
  until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (cond()) {
          finish();
          resolve();
        } else if (this.failure !== undefined) {
          finish();
          reject(new InteropError(this.failure.code, `${this.failure.message}\n(while waiting for ${what})`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        const last = this.current === undefined ? 'no status yet' : `last status ${JSON.stringify(this.current)}`;
        reject(new InteropError('TIMEOUT', `timed out after ${timeoutMs} ms waiting for ${what}; ${last}\n${this.describe()}`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }
}

/** The handle every start*() returns. */
export interface ClientHandle<S extends ClientStatus> {
  /** The BitTorrent peer port the program listens on (127.0.0.1). */
  readonly port: number;
  /** Process id of the program (leader of its own process group), e.g. to read its memory use. */
  readonly pid: number | undefined;
  /** Latest status, undefined until the first report. */
  readonly status: S | undefined;
  /** Resolves with the first status that satisfies `predicate`; rejects on TIMEOUT or when the program dies. */
  waitFor(predicate: (s: S) => boolean, timeoutMs?: number): Promise<S>;
  /** waitFor(s => s.complete). */
  waitForComplete(timeoutMs?: number): Promise<S>;
  /** Recent stdout/stderr lines of the program, for debugging failed tests. */
  output(): string;
  /** Kills the program (process group) and removes the temp dirs the harness made for it. Idempotent. */
  stop(): Promise<void>;
}
