/** Why a picker call was refused; stable strings callers may switch on. */
export type PiecePickerErrorCode = 'BAD_OPTIONS' | 'BAD_PIECE' | 'BAD_BLOCK' | 'BAD_BITFIELD' | 'BAD_PRIORITY';

/** Every failure of this package: a code plus a message for people. */
export class PiecePickerError extends Error {
  override readonly name = 'PiecePickerError';
  constructor(
    readonly code: PiecePickerErrorCode,
    message: string,
  ) {
    super(message);
  }
}
