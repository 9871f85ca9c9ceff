/**
 * `e` as an Error, keeping its own object (and `code`) when it is one: errors from node:fs are
 * Errors of another realm under jest's module sandbox, so `instanceof Error` is not the test.
 */
export function asError(e: unknown): Error {
  if (e instanceof Error) return e;
  if (typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string') return e as Error;
  return new Error(String(e));
}
