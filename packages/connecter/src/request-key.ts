import { BLOCK_SIZE } from '@mainline/bitfield';

/**
 * One number per block request of a torrent, piece · blocksPerPiece + begin / blockSize (the
 * piece picker's own key), for the map of requests in flight to a peer. Exact for any piece
 * length: a 256 MiB piece has 16384 blocks, and keys stay far below 2^53 for any piece count a
 * torrent can have. (It used to be piece · 4096 + block: pieces over 64 MiB had no keys.)
 */
export class RequestKeys {
  readonly blocksPerPiece: number;

  constructor(
    pieceLength: number,
    readonly blockSize = BLOCK_SIZE,
  ) {
    this.blocksPerPiece = Math.max(1, Math.ceil(pieceLength / blockSize));
  }

  /** The key of a block we request (block-aligned and inside its piece, as the picker gives them). */
  of(piece: number, begin: number): number {
    return piece * this.blocksPerPiece + begin / this.blockSize;
  }

  /** The piece and offset of a key (the inverse of `of`). */
  pieceOf(key: number): number {
    return Math.floor(key / this.blocksPerPiece);
  }

  beginOf(key: number): number {
    return (key % this.blocksPerPiece) * this.blockSize;
  }

  /** The key a peer's (piece, begin) would have, or undefined when no request of ours has it (unaligned, out of range). */
  match(piece: number, begin: number): number | undefined {
    if (begin % this.blockSize !== 0 || begin < 0 || begin / this.blockSize >= this.blocksPerPiece) return undefined;
    return this.of(piece, begin);
  }
}
