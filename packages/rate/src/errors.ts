/** Why a call into this package was refused; stable strings callers may switch on. */
export type RateErrorCode =
  /** A number argument was NaN, infinite, negative, or otherwise out of its range. */
  | 'BAD_ARGUMENT'
  /** A queued token-bucket request was cancelled (its connection closed, or an AbortSignal fired). */
  | 'CANCELLED';

/** Every failure of this package: a code plus a message for people. */
export class RateError extends Error {
  override readonly name = 'RateError';
  constructor(
    readonly code: RateErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Throws BAD_ARGUMENT unless `value` is a finite number ≥ `min` (and an integer when asked). */
export function checkNumber(what: string, value: unknown, min = 0, integer = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new RateError(
      'BAD_ARGUMENT',
      `${what} must be a finite ${integer ? 'integer' : 'number'} ≥ ${min}, got ${String(value)}`,
    );
  }
  return value;
}
