// Shared timing helpers for the benchmarks.

/** Runs fn repeatedly for at least `ms` (after a warm-up) and returns operations per second. */
export function opsPerSecond(fn, ms = 1000) {
  for (let i = 0; i < 3; i++) fn();
  let runs = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(ms) * 1_000_000n;
  let elapsed = 0n;
  while (elapsed < budget) {
    fn();
    runs++;
    elapsed = process.hrtime.bigint() - start;
  }
  return runs / (Number(elapsed) / 1e9);
}

/** Median wall time in ms of `repeats` runs of an async or sync fn. */
export async function medianMs(fn, repeats = 5) {
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const t = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export function ratio(name, ours, theirs) {
  console.log(`${name} = ${(ours / theirs).toFixed(2)}`);
}

/**
 * Ops/s of two functions measured alternately in short rounds, best round of each: fairer
 * than one long run each when the machine has other load.
 */
export function compareOps(ours, theirs, rounds = 7, msPerRound = 300) {
  let bestOurs = 0;
  let bestTheirs = 0;
  for (let r = 0; r < rounds; r++) {
    bestOurs = Math.max(bestOurs, opsPerSecond(ours, msPerRound));
    bestTheirs = Math.max(bestTheirs, opsPerSecond(theirs, msPerRound));
  }
  return { ours: bestOurs, theirs: bestTheirs };
}
