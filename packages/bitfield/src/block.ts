/**
 * The BitTorrent block: 16 KiB, what a peer requests and sends at a time and the unit pieces are
 * split into (mainline's download_slice_size; every client uses it). Defined here, the lowest
 * package both the piece picker and the piece store depend on, so that it is defined once.
 */
export const BLOCK_SIZE = 16384;
