import { TrackerError } from './errors.js';

/** Awaits a promise that must reject with a TrackerError, and returns that error. */
export async function rejectionOf(p: Promise<unknown>): Promise<TrackerError> {
  const outcome = await p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!('error' in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value)}`);
  if (!(outcome.error instanceof TrackerError)) throw new Error(`expected a TrackerError, got ${String(outcome.error)}`);
  return outcome.error;
}
