export { StorageError, type StorageErrorCode, type StorageErrorDetails, type StorageOperation } from './errors.js';
export { nodeFs, type StorageFileHandle, type StorageFs, type StorageStat, type StorageStatFs } from './fs.js';
export { deleteTorrentData, type DeleteDataOptions, type DeleteDataResult } from './delete.js';
export { moveTorrentData, type MoveDataOptions, type MoveDataResult } from './move.js';
export { FileLayout, type FileEntry, type FileSpan } from './layout.js';
export { Storage, type Allocation, type DirectWrite, type FilePriority, type FileStamp, type StorageOptions } from './storage.js';
export { HashPool, type HashPoolOptions, type HashResult, type WriteAfterHash } from './hashpool.js';
export {
  BLOCK_SIZE,
  createPieceHasher,
  PieceStore,
  type PieceStoreEvents,
  type PieceStoreOptions,
  type PieceStoreState,
  type StartOptions,
  type StartResult,
  type WriteResult,
  type WritePieceOptions,
  type PieceWriteResult,
} from './piecestore.js';
export { recheckStorage, type RecheckOptions, type RecheckProgress } from './recheck.js';
export { decodeResume, encodeResume, type ResumeData, type ResumeRecord } from './resume.js';
