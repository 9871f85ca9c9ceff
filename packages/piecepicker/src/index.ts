export {
  PiecePicker,
  type BlockReceivedResult,
  type BlockRequest,
  type PeerBlockRequest,
  type PickOptions,
  type PiecePickerOptions,
  type PiecePriority,
} from './picker.js';
export { PiecePickerError, type PiecePickerErrorCode } from './errors.js';
