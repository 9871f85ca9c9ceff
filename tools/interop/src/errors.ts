/** Why a harness call failed. */
export type InteropErrorCode =
  | 'MISSING_PROGRAM' // a Debian program the harness drives is not installed
  | 'BAD_ARGUMENT' // a caller passed something the harness refuses
  | 'START_FAILED' // a program exited or never became ready
  | 'TIMEOUT' // waitFor() and friends ran out of time
  | 'PROGRAM_FAILED'; // a program reported an error or exited with a non-zero code

/** Every error thrown by @mainline/interop; `message` ends with the program's recent output when there is one. */
export class InteropError extends Error {
  override readonly name = 'InteropError';
  constructor(
    readonly code: InteropErrorCode,
    message: string,
  ) {
    super(message);
  }
}
