import type { ChokablePeer } from './index.js';

/** A scripted peer for the tests: plain fields behind the ChokablePeer interface, plus a call log. */
export class FakePeer implements ChokablePeer {
  choked = true;
  chokes = 0;
  unchokes = 0;
  onUnchoke: (() => void) | null = null;
  /** When set, the peer keeps sending blocks: lastBlockAt() is always "now" on this clock. */
  sending: { now(): number } | null = null;
  constructor(
    readonly name: string,
    public interested = true,
    public down = 0,
    public up = 0,
    public lastBlock: number | null = 0,
  ) {}
  isInterested(): boolean {
    return this.interested;
  }
  isChoked(): boolean {
    return this.choked;
  }
  choke(): void {
    if (this.choked) throw new Error(`${this.name}: choke() while choked`);
    this.choked = true;
    this.chokes++;
  }
  unchoke(): void {
    if (!this.choked) throw new Error(`${this.name}: unchoke() while unchoked`);
    this.choked = false;
    this.unchokes++;
    this.onUnchoke?.();
  }
  downloadRate(): number {
    return this.down;
  }
  uploadRate(): number {
    return this.up;
  }
  lastBlockAt(): number | null {
    return this.sending ? this.sending.now() : this.lastBlock;
  }
}

export const names = (peers: readonly FakePeer[]): string[] => peers.map((p) => p.name);

export const unchoked = (peers: readonly FakePeer[]): string[] =>
  peers
    .filter((p) => !p.choked)
    .map((p) => p.name)
    .sort();

/** Deterministic PRNG (mulberry32) so simulations are reproducible. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `random` that always appends a new peer at the end of the list. */
export const atEnd = (): number => 0.999999;
