export {
  PiecePicker,
  type BlockReceivedResult,
  type BlockRequest,
  type PeerBlockRequest,
  type PickOptions,
  MAX_SUGGESTIONS_PER_PEER,
  type PiecePickerOptions,
  type PiecePriority,
} from './picker.js';
export { PiecePickerError, type PiecePickerErrorCode } from './errors.js';
