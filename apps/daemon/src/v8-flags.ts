/**
 * The V8 settings mainlined applies to itself at start (bench/daemon-scale.bench.mjs measures
 * them; the README's "Many torrents" has the figures). Each is left out when node's own command
 * line already says something about it, so `node --max-opt=4 mainlined.js` gets the optimizing
 * compiler back.
 */
const DAEMON_V8_FLAGS: readonly { flag: string; unlessGiven: readonly string[] }[] = [
  // A daemon is mostly idle and holds many small long-lived objects (its torrents): V8's young
  // generation, which otherwise grows to 2 x 16 MiB while the torrents load and never gives the
  // pages back, stays at its first size. A few more (cheap) scavenges under load; ~30 MiB less.
  { flag: '--semi-space-growth-factor=1', unlessGiven: ['semi-space-growth-factor', 'max-semi-space-size'] },
  // V8's memory-saving mode (smaller heap growth steps, memory reducer sooner): ~4 MiB less at
  // idle, ~20 MiB lower peak, downloads no slower.
  { flag: '--optimize-for-size', unlessGiven: ['optimize-for-size'] },
  // JavaScript tiers up to the baseline compiler (Sparkplug), not to the optimizing one
  // (TurboFan): an idle daemon keeps neither that compiler's pages of the node binary nor its
  // code and deopt data resident (~10 MiB with 1,000 torrents). The price, measured: idle CPU
  // 0.17 -> 0.35 % of a core and `-l` 17 -> 22 ms with 1,000 torrents; a 1 GiB loopback download
  // 1.6 -> 1.9 s (hashing and socket I/O are native; the JavaScript around them is not hot).
  { flag: '--max-opt=2', unlessGiven: ['max-opt', 'turbofan', 'jitless'] },
];

/** The flags to set, given node's command line (`process.execArgv`). */
export function daemonV8Flags(execArgv: readonly string[]): string[] {
  const given = (name: string): boolean => execArgv.some((a) => a.replaceAll('_', '-').includes(name));
  return DAEMON_V8_FLAGS.filter((f) => !f.unlessGiven.some(given)).map((f) => f.flag);
}
