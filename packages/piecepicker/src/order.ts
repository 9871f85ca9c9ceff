/**
 * A set of pieces kept in one flat array ordered by availability count (libtorrent style):
 * bucket c (pieces whose count is c) is order[starts[c] .. starts[c+1]), and pieces inside a
 * bucket sit in random order, so scanning from the front yields rarest-first with random ties.
 *
 * A ±1 count change moves a piece across one bucket edge: one swap with the edge element and
 * one boundary update, O(1). Insert and remove walk the boundaries above the piece's bucket,
 * O(buckets). In "dirty" mode (after bulk count changes) the order is not maintained at all:
 * inserts append, removes swap with the last element, count changes are ignored, and the next
 * `ensureSorted()` rebuilds with a counting sort, O(size + buckets).
 */
export class AvailabilityOrder {
  /** Number of member pieces; order[0 .. size) holds them. */
  size = 0;
  readonly order: Int32Array;
  private starts: Int32Array = new Int32Array(8);
  /** Highest bucket that exists; starts[top + 1] === size. */
  private top = 0;
  private dirty = false;

  constructor(
    capacity: number,
    /** Availability per piece, owned by the caller; read here. */
    private readonly counts: Uint32Array,
    /** Position of each piece in the order that holds it (shared between orders), -1 if none. */
    private readonly pos: Int32Array,
    private readonly random: () => number,
  ) {
    this.order = new Int32Array(capacity);
  }

  get isDirty(): boolean {
    return this.dirty;
  }

  /** Stop maintaining the order until the next `ensureSorted()`. */
  markDirty(): void {
    this.dirty = true;
  }

  /** First position of the bucket holding pieces of availability `count` (size if none). */
  bucketStart(count: number): number {
    return count > this.top ? this.size : this.starts[count]!;
  }

  private randomInt(n: number): number {
    const r = Math.floor(this.random() * n);
    return r < n ? r : n - 1;
  }

  private swap(i: number, j: number): void {
    if (i === j) return;
    const order = this.order;
    const a = order[i]!;
    const b = order[j]!;
    order[i] = b;
    this.pos[b] = i;
    order[j] = a;
    this.pos[a] = j;
  }

  /** Moves `piece` to a random position within [start, end), which contains it. */
  private scatter(piece: number, start: number, end: number): void {
    if (end - start > 1) this.swap(this.pos[piece]!, start + this.randomInt(end - start));
  }

  private growTo(bucket: number): void {
    if (bucket + 2 > this.starts.length) {
      const next = new Int32Array(Math.max(bucket + 2, this.starts.length * 2));
      next.set(this.starts);
      this.starts = next;
    }
    for (let b = this.top + 2; b <= bucket + 1; b++) this.starts[b] = this.size;
    if (bucket > this.top) this.top = bucket;
  }

  private trimTop(): void {
    while (this.top > 0 && this.starts[this.top] === this.size) this.top--;
  }

  /** The count of `piece` has just gone up by one. */
  incremented(piece: number): void {
    if (this.dirty) return;
    const c = this.counts[piece]! - 1;
    this.growTo(c + 1);
    const edge = this.starts[c + 1]! - 1;
    this.swap(this.pos[piece]!, edge);
    this.starts[c + 1] = edge;
    this.scatter(piece, edge, this.starts[c + 2]!);
  }

  /** The count of `piece` has just gone down by one. */
  decremented(piece: number): void {
    if (this.dirty) return;
    const c = this.counts[piece]! + 1;
    const edge = this.starts[c]!;
    this.swap(this.pos[piece]!, edge);
    this.starts[c] = edge + 1;
    this.scatter(piece, this.starts[c - 1]!, edge + 1);
    this.trimTop();
  }

  /** Adds `piece`: at a random place in its bucket, or at the bucket's end if `bump`. */
  insert(piece: number, bump = false): void {
    const c = this.counts[piece]!;
    if (!this.dirty) this.growTo(c);
    const i = this.size++;
    this.order[i] = piece;
    this.pos[piece] = i;
    if (this.dirty) return;
    this.starts[this.top + 1] = this.size;
    for (let b = this.top; b > c; b--) {
      const first = this.starts[b]!;
      this.swap(this.pos[piece]!, first);
      this.starts[b] = first + 1;
    }
    if (!bump) this.scatter(piece, this.starts[c]!, this.starts[c + 1]!);
  }

  remove(piece: number): void {
    if (this.dirty) {
      this.swap(this.pos[piece]!, this.size - 1);
    } else {
      const c = this.counts[piece]!;
      for (let b = c; b <= this.top; b++) {
        const last = this.starts[b + 1]! - 1;
        this.swap(this.pos[piece]!, last);
        this.starts[b + 1] = last;
      }
    }
    this.size--;
    this.pos[piece] = -1;
    if (!this.dirty) this.trimTop();
  }

  /** Rebuilds the order after dirty mode: counting sort by count, then shuffle each bucket. */
  ensureSorted(): void {
    if (!this.dirty) return;
    this.dirty = false;
    const n = this.size;
    const members = this.order.slice(0, n);
    let max = 0;
    for (let i = 0; i < n; i++) max = Math.max(max, this.counts[members[i]!]!);
    this.starts = new Int32Array(Math.max(8, max + 2));
    const starts = this.starts;
    for (let i = 0; i < n; i++) starts[this.counts[members[i]!]! + 1]!++;
    for (let b = 1; b <= max + 1; b++) starts[b]! += starts[b - 1]!;
    this.top = max;
    const fill = starts.slice(0, max + 1);
    for (let i = 0; i < n; i++) {
      const p = members[i]!;
      const at = fill[this.counts[p]!]!++;
      this.order[at] = p;
      this.pos[p] = at;
    }
    for (let b = 0; b <= max; b++) {
      const start = starts[b]!;
      for (let i = starts[b + 1]! - 1; i > start; i--) this.swap(i, start + this.randomInt(i - start + 1));
    }
    this.trimTop();
  }

  /** For tests: throws unless positions, sizes and bucket order are consistent. */
  checkInvariants(): void {
    for (let i = 0; i < this.size; i++) {
      const p = this.order[i]!;
      if (this.pos[p] !== i) throw new Error(`pos[${p}] = ${this.pos[p]} but it sits at ${i}`);
    }
    if (this.dirty) return;
    if (this.starts[0] !== 0 || this.starts[this.top + 1] !== this.size) throw new Error('bad outer bounds');
    for (let b = 0; b <= this.top; b++) {
      for (let i = this.starts[b]!; i < this.starts[b + 1]!; i++) {
        const c = this.counts[this.order[i]!];
        if (c !== b) throw new Error(`piece ${this.order[i]} with count ${c} is in bucket ${b}`);
      }
    }
  }
}
