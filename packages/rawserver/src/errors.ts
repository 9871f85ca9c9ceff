/** Why a RawServer call was refused; stable strings callers may switch on. */
export type RawServerErrorCode =
  /** No port in the requested range could be bound (mainline: "Couldn't listen"). */
  | 'NO_FREE_PORT'
  /** `listen` was called while the server already listens. */
  | 'ALREADY_LISTENING'
  /** The server was closed; nothing new can be started. */
  | 'CLOSED'
  /** An option or argument is out of range (bad port, negative timeout, ...). */
  | 'BAD_ARGUMENT'
  /** Binding failed for a reason other than the port being taken (bad address, no IPv6, ...). */
  | 'LISTEN_FAILED';

/** Every failure of this package: a code plus a message for people (and the OS error, if any). */
export class RawServerError extends Error {
  override readonly name = 'RawServerError';
  constructor(
    readonly code: RawServerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function checkNonNegative(name: string, value: number, integer = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value))) {
    throw new RawServerError('BAD_ARGUMENT', `${name} must be a non-negative ${integer ? 'integer' : 'number'}, got ${String(value)}`);
  }
  return value;
}

export function checkPort(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new RawServerError('BAD_ARGUMENT', `${name} must be an integer port in [0, 65535], got ${String(value)}`);
  }
  return value;
}
