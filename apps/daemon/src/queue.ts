/** What the queue needs to know of one torrent. */
export interface QueueItem {
  readonly id: number;
  readonly position: number;
  /** Waiting for a slot. */
  readonly queued: boolean;
  /** Running now (started and not waiting), downloading or checking its way there / seeding. */
  readonly running: boolean;
  /** Every wanted piece is here: it takes a seed slot, else a download slot. */
  readonly done: boolean;
  /** Moved no data for the stalled time: its slot is free for another. */
  readonly stalled: boolean;
}

export interface QueueLimits {
  downloadQueueEnabled: boolean;
  downloadQueueSize: number;
  seedQueueEnabled: boolean;
  seedQueueSize: number;
  queueStalledEnabled: boolean;
}

/**
 * Transmission's queue: at most `downloadQueueSize` torrents download and `seedQueueSize` seed
 * at once (a stalled one does not count, when queue-stalled is on); the queued torrents with the
 * lowest positions get the free slots. Returns the ids to start now. A torrent already running
 * is never stopped for a smaller queue (Transmission does not either).
 */
export function queueStarts(items: readonly QueueItem[], limits: QueueLimits): number[] {
  const counts = (done: boolean): number =>
    items.filter((i) => i.running && i.done === done && !(limits.queueStalledEnabled && i.stalled)).length;
  let downloadFree = limits.downloadQueueEnabled ? Math.max(0, limits.downloadQueueSize - counts(false)) : Infinity;
  let seedFree = limits.seedQueueEnabled ? Math.max(0, limits.seedQueueSize - counts(true)) : Infinity;
  const out: number[] = [];
  for (const i of [...items].filter((x) => x.queued).sort((a, b) => a.position - b.position)) {
    if (i.done ? seedFree > 0 : downloadFree > 0) {
      out.push(i.id);
      if (i.done) seedFree--;
      else downloadFree--;
    }
  }
  return out;
}

export type QueueMove = 'top' | 'up' | 'down' | 'bottom';

/**
 * The ids in their new queue order after moving `selected` (Transmission's queue-move-*): top /
 * bottom keep the selected ones' order among themselves; up / down move each one place past an
 * unselected neighbour.
 */
export function moveInQueue(order: readonly number[], selected: ReadonlySet<number>, how: QueueMove): number[] {
  const picked = order.filter((id) => selected.has(id));
  const rest = order.filter((id) => !selected.has(id));
  if (how === 'top') return [...picked, ...rest];
  if (how === 'bottom') return [...rest, ...picked];
  const out = [...order];
  if (how === 'up') {
    for (let i = 1; i < out.length; i++) {
      if (selected.has(out[i]!) && !selected.has(out[i - 1]!)) [out[i - 1], out[i]] = [out[i]!, out[i - 1]!];
    }
  } else {
    for (let i = out.length - 2; i >= 0; i--) {
      if (selected.has(out[i]!) && !selected.has(out[i + 1]!)) [out[i], out[i + 1]] = [out[i + 1]!, out[i]!];
    }
  }
  return out;
}
