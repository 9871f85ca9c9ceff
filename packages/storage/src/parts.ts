import type { FdPool } from './fdpool.js';
import type { StorageFs } from './fs.js';
import { StorageError, toStorageError } from './errors.js';
import { readFully, writeFully } from './io.js';

const MAGIC = 0x4d4c5031; // 'MLP1'
const HEADER = 8;

/**
 * The side file for bytes of skipped files (libtorrent's "part file"). A piece that straddles a
 * skipped file and a wanted one is still downloaded and verified whole, but the bytes that belong
 * to the skipped file land here instead of creating that file.
 *
 * Layout: a sequence of slots, each an 8-byte header (magic 'MLP1', piece index as u32 big-endian)
 * followed by `pieceLength` bytes holding the piece at its natural in-piece offsets. Slots are
 * appended on demand and the file is extended to cover a new slot (sparse on common file
 * systems), so a read inside an allocated slot is never short unless the file was cut behind our
 * back. The slot table is rebuilt at startup from the headers; no separate index can go stale.
 */
export class PartsFile {
  /** Piece → slot; made at the first slot (most torrents skip no file and never have one). */
  private slots: Map<number, number> | undefined;
  private slotCount = 0;
  private allocating: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly fs: StorageFs,
    private readonly pool: FdPool,
    readonly path: string,
    private readonly pieceLength: number,
    private readonly pieceCount: number,
  ) {}

  private get slotSize(): number {
    return HEADER + this.pieceLength;
  }

  /** Reads the slot headers of an existing parts file (no file: no slots). */
  async load(): Promise<void> {
    let size: number;
    try {
      size = (await this.fs.stat(this.path)).size;
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') return;
      throw toStorageError(err, 'stat', this.path);
    }
    const count = Math.floor(size / this.slotSize);
    const header = new Uint8Array(HEADER);
    const view = new DataView(header.buffer);
    await this.pool.use(this.path, false, async (h) => {
      for (let slot = 0; slot < count; slot++) {
        await readFully(h, header, 0, HEADER, slot * this.slotSize, this.path);
        const piece = view.getUint32(4);
        if (view.getUint32(0) === MAGIC && piece < this.pieceCount && !this.slots?.has(piece)) (this.slots ??= new Map()).set(piece, slot);
      }
    });
    // Damaged slots stay reserved (never reused) so a torn header cannot alias a live one.
    this.slotCount = Math.ceil(size / this.slotSize);
  }

  has(piece: number): boolean {
    return this.slots?.has(piece) ?? false;
  }

  /** Pieces with a slot. */
  pieces(): number[] {
    return [...(this.slots?.keys() ?? [])].sort((a, b) => a - b);
  }

  async read(piece: number, inPiece: number, buf: Uint8Array, offset: number, length: number): Promise<void> {
    const slot = this.slots?.get(piece);
    if (slot === undefined) {
      throw new StorageError('MISSING', `no data for piece ${piece} in the parts file`, { path: this.path, operation: 'read' });
    }
    const pos = slot * this.slotSize + HEADER + inPiece;
    await this.pool.use(this.path, false, (h) => readFully(h, buf, offset, length, pos, this.path));
  }

  async write(piece: number, inPiece: number, buf: Uint8Array, offset: number, length: number): Promise<void> {
    const slot = await this.slotFor(piece);
    const pos = slot * this.slotSize + HEADER + inPiece;
    await this.pool.use(this.path, true, (h) => writeFully(h, buf, offset, length, pos, this.path));
  }

  private async slotFor(piece: number): Promise<number> {
    const known = this.slots?.get(piece);
    if (known !== undefined) return known;
    const run = this.allocating.then(() => this.allocate(piece));
    this.allocating = run.catch(() => undefined);
    return run;
  }

  private async allocate(piece: number): Promise<number> {
    const known = this.slots?.get(piece);
    if (known !== undefined) return known;
    const slot = this.slotCount;
    if (slot === 0) await this.create();
    const header = new Uint8Array(HEADER);
    const view = new DataView(header.buffer);
    view.setUint32(0, MAGIC);
    view.setUint32(4, piece);
    await this.pool.use(this.path, true, async (h) => {
      const end = (slot + 1) * this.slotSize;
      try {
        if ((await h.stat()).size < end) await h.truncate(end);
      } catch (err) {
        throw toStorageError(err, 'allocate', this.path);
      }
      await writeFully(h, header, 0, HEADER, slot * this.slotSize, this.path);
    });
    this.slotCount = slot + 1;
    (this.slots ??= new Map()).set(piece, slot);
    return slot;
  }

  private async create(): Promise<void> {
    await this.pool.withSlot(async () => {
      try {
        const h = await this.fs.open(this.path, 'a');
        await h.close();
      } catch (err) {
        throw toStorageError(err, 'open', this.path);
      }
    });
  }
}
