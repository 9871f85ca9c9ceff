import { getHeapSpaceStatistics, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface LiveHeapOptions {
  /** Full collections before each reading (a few: garbage some objects hold goes in later rounds). Default 3. */
  collections?: number;
  /** Bytecode flushed by a later collection would read as heap the measured objects gave back. */
  keepBytecode?: boolean;
  /** Leave compiled code out: how much the engine keeps varies by hundreds of KiB run to run. */
  withoutCode?: boolean;
}

/**
 * For tests that bound what many objects cost: returns a reading of the live heap (bytes) after
 * full collections. gc() needs no --expose-gc on the command line: the flag, then a fresh context
 * that sees it.
 */
export function liveHeapMeter(options: LiveHeapOptions = {}): () => number {
  setFlagsFromString('--expose-gc');
  if (options.keepBytecode) setFlagsFromString('--no-flush-bytecode');
  const gc = runInNewContext('gc') as () => void;
  const collections = options.collections ?? 3;
  return () => {
    for (let i = 0; i < collections; i++) gc();
    if (!options.withoutCode) return getHeapStatistics().used_heap_size;
    return getHeapSpaceStatistics()
      .filter((s) => !s.space_name.startsWith('code_'))
      .reduce((n, s) => n + s.space_used_size, 0);
  };
}
