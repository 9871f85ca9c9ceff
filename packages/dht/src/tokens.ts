// announce_peer tokens: a hash of a rotating secret, the requester's IP and the info-hash
// (libtorrent binds the hash too, so one token cannot be replayed for other torrents).
import { createHash, randomBytes } from 'node:crypto';
import type { Clock } from '@mainline/rate';
import { sameBytes } from './id.js';

/** How often the secret changes; a token stays valid for two periods (5–10 min). */
export const TOKEN_ROTATION_MS = 5 * 60_000;
const TOKEN_BYTES = 8;

export class TokenSecrets {
  readonly #clock: Clock;
  readonly #rotationMs: number;
  #current = randomBytes(16);
  #previous = randomBytes(16);
  #rotatedAt: number;

  constructor(clock: Clock, rotationMs = TOKEN_ROTATION_MS) {
    this.#clock = clock;
    this.#rotationMs = rotationMs;
    this.#rotatedAt = clock.now();
  }

  /** Rotates lazily: however long we slept, at most the previous secret is still honoured. */
  #rotate(): void {
    const now = this.#clock.now();
    const periods = Math.floor((now - this.#rotatedAt) / this.#rotationMs);
    if (periods <= 0) return;
    this.#previous = periods === 1 ? this.#current : randomBytes(16);
    this.#current = randomBytes(16);
    this.#rotatedAt += periods * this.#rotationMs;
  }

  /** The token we hand to `host` for `infoHash`. */
  token(host: string, infoHash: Uint8Array): Uint8Array {
    this.#rotate();
    return tokenOf(this.#current, host, infoHash);
  }

  /** Whether `token` is one we gave to `host` for `infoHash` within the last one to two periods. */
  check(token: Uint8Array, host: string, infoHash: Uint8Array): boolean {
    this.#rotate();
    return sameBytes(token, tokenOf(this.#current, host, infoHash)) || sameBytes(token, tokenOf(this.#previous, host, infoHash));
  }
}

function tokenOf(secret: Uint8Array, host: string, infoHash: Uint8Array): Uint8Array {
  const h = createHash('sha1').update(secret).update(host).update(infoHash).digest();
  return new Uint8Array(h.buffer, h.byteOffset, TOKEN_BYTES);
}
