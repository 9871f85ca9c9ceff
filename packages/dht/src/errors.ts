/** Why the DHT refused a call or an option. */
export type DhtErrorCode = 'BAD_OPTION' | 'BAD_ARGUMENT' | 'BAD_STATE' | 'CLOSED';

export class DhtError extends Error {
  override readonly name = 'DhtError';
  constructor(
    readonly code: DhtErrorCode,
    message: string,
  ) {
    super(message);
  }
}
