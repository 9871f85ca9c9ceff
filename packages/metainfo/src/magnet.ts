import { MetainfoError } from './errors.js';
import type { Metainfo } from './metainfo.js';

/** A peer address from a magnet link's `x.pe`. */
export interface MagnetPeer {
  /** Host name, dotted IPv4, or IPv6 without brackets. */
  ip: string;
  port: number;
}

/** The parts of a BEP 9 magnet link this client uses. */
export interface MagnetLink {
  /** Lower-case hex v1 info-hash. */
  infoHash: string;
  infoHashBytes: Uint8Array;
  /** `dn`: display name. */
  name?: string;
  /** `tr`: trackers, in order, duplicates removed. */
  trackers: string[];
  /** `x.pe`: peers to dial directly. */
  peers: MagnetPeer[];
  /** `ws`: web seeds (BEP 19). */
  webSeeds: string[];
  /** `xl`: exact length in bytes. */
  length?: number;
  /**
   * Distinct entries left out because the link carried more than the caps allow (see
   * MagnetParseOptions); present only when something was left out.
   */
  dropped?: { trackers: number; webSeeds: number; peers: number };
}

/** Most `tr` trackers kept from one link (Transmission keeps 64 too; the rest are ignored). */
export const MAX_MAGNET_TRACKERS = 64;
/** Most `ws` web seeds kept from one link (Transmission: 64). */
export const MAX_MAGNET_WEB_SEEDS = 64;
/** Most `x.pe` peers kept from one link. */
export const MAX_MAGNET_PEERS = 200;

/**
 * Caps on the repeated parameters of a link. Past a cap, entries are ignored (counted in
 * `dropped`), not an error: real links from index sites carry long tracker lists, and the first
 * ones are the ones their authors rank best.
 */
export interface MagnetParseOptions {
  /** Default MAX_MAGNET_TRACKERS (64). */
  maxTrackers?: number;
  /** Default MAX_MAGNET_WEB_SEEDS (64). */
  maxWebSeeds?: number;
  /** Default MAX_MAGNET_PEERS (200). */
  maxPeers?: number;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32Decode(s: string): Uint8Array {
  const out = new Uint8Array((s.length * 5) >> 3);
  let bits = 0;
  let acc = 0;
  let j = 0;
  for (const ch of s.toUpperCase()) {
    const v = BASE32.indexOf(ch);
    if (v < 0) throw new MetainfoError('BAD_MAGNET', 'xt', `invalid base32 character ${JSON.stringify(ch)}`);
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

/**
 * A v1 info-hash from 40 hex digits or 32 base32 characters (either case), or 20 raw bytes.
 * Throws MetainfoError `BAD_MAGNET` for anything else.
 */
export function parseInfoHash(input: string | Uint8Array, path = 'xt'): Uint8Array {
  if (input instanceof Uint8Array) {
    if (input.length !== 20) throw new MetainfoError('BAD_MAGNET', path, `an info-hash is 20 bytes, found ${input.length}`);
    return new Uint8Array(input);
  }
  if (/^[0-9a-fA-F]{40}$/.test(input)) return new Uint8Array(Buffer.from(input, 'hex'));
  if (/^[A-Za-z2-7]{32}$/.test(input)) return base32Decode(input);
  throw new MetainfoError('BAD_MAGNET', path, `not a 40-hex or 32-base32 info-hash: ${JSON.stringify(input)}`);
}

function decodeComponent(s: string, key: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw new MetainfoError('BAD_MAGNET', key, `bad percent-encoding in ${JSON.stringify(s)}`);
  }
}

function parsePeer(s: string, path: string): MagnetPeer {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:[\]]+):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new MetainfoError('BAD_MAGNET', path, `expected host:port or [ipv6]:port, found ${JSON.stringify(s)}`);
  return { ip: m[1]!, port };
}

/** A list with set-backed de-duplication and a cap: each add is O(1), so a link of n entries parses in O(n). */
class CappedList<T> {
  readonly items: T[] = [];
  readonly #seen = new Set<string>();
  /** Distinct entries left out past the cap. */
  dropped = 0;
  constructor(readonly max: number) {}

  add(key: string, item: T): void {
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    if (this.items.length < this.max) this.items.push(item);
    else this.dropped++;
  }
}

function cap(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${name} must be an integer >= 0, got ${String(v)}`);
  return v;
}

/**
 * Parses a `magnet:?xt=urn:btih:...` link (BEP 9). Unknown parameters are ignored. Trackers, web
 * seeds and peers are de-duplicated and capped (see MagnetParseOptions); the time is linear in
 * the link's length, whatever it repeats.
 */
export function parseMagnet(uri: string, options: MagnetParseOptions = {}): MagnetLink {
  const m = /^magnet:\?(.*)$/is.exec(uri.trim());
  if (!m) throw new MetainfoError('BAD_MAGNET', '', 'not a magnet link (expected "magnet:?")');
  let hash: Uint8Array | undefined;
  let name: string | undefined;
  let length: number | undefined;
  const trackers = new CappedList<string>(cap('maxTrackers', options.maxTrackers, MAX_MAGNET_TRACKERS));
  const webSeeds = new CappedList<string>(cap('maxWebSeeds', options.maxWebSeeds, MAX_MAGNET_WEB_SEEDS));
  const peers = new CappedList<MagnetPeer>(cap('maxPeers', options.maxPeers, MAX_MAGNET_PEERS));
  for (const part of m[1]!.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawKey = eq < 0 ? part : part.slice(0, eq);
    // `tr.1`, `xt.2`...: numbered forms of repeated parameters.
    const key = decodeComponent(rawKey, rawKey).replace(/\.\d+$/, '').toLowerCase();
    const value = decodeComponent(eq < 0 ? '' : part.slice(eq + 1), key);
    switch (key) {
      case 'xt': {
        const btih = /^urn:btih:(.*)$/i.exec(value);
        if (!btih) break; // urn:btmh (v2) and others: not ours
        const h = parseInfoHash(btih[1]!, 'xt');
        if (hash && Buffer.compare(hash, h) !== 0) throw new MetainfoError('BAD_MAGNET', 'xt', 'two different btih info-hashes');
        hash = h;
        break;
      }
      case 'dn':
        name = value;
        break;
      case 'tr':
        if (value.length > 0) trackers.add(value, value);
        break;
      case 'ws':
        if (value.length > 0) webSeeds.add(value, value);
        break;
      case 'x.pe': {
        const peer = parsePeer(value, 'x.pe');
        peers.add(`${peer.ip.toLowerCase()}:${peer.port}`, peer);
        break;
      }
      case 'xl': {
        if (!/^\d{1,16}$/.test(value) || Number(value) > Number.MAX_SAFE_INTEGER) {
          throw new MetainfoError('BAD_MAGNET', 'xl', `bad exact length ${JSON.stringify(value)}`);
        }
        length = Number(value);
        break;
      }
      default:
        break;
    }
  }
  if (!hash) throw new MetainfoError('BAD_MAGNET', 'xt', 'no xt=urn:btih: info-hash');
  const out: MagnetLink = {
    infoHash: Buffer.from(hash).toString('hex'),
    infoHashBytes: hash,
    trackers: trackers.items,
    peers: peers.items,
    webSeeds: webSeeds.items,
  };
  if (name !== undefined) out.name = name;
  if (length !== undefined) out.length = length;
  if (trackers.dropped + webSeeds.dropped + peers.dropped > 0) {
    out.dropped = { trackers: trackers.dropped, webSeeds: webSeeds.dropped, peers: peers.dropped };
  }
  return out;
}

/** What `formatMagnet` needs: an info-hash (hex, base32 or bytes) plus optional parts. */
export interface MagnetInput {
  infoHash: string | Uint8Array;
  name?: string;
  trackers?: readonly string[];
  peers?: readonly MagnetPeer[];
  webSeeds?: readonly string[];
  length?: number;
}

/** Formats a magnet link: `magnet:?xt=urn:btih:<hex>&dn=..&xl=..&tr=..&ws=..&x.pe=..`. */
export function formatMagnet(m: MagnetInput): string {
  const hash = Buffer.from(parseInfoHash(m.infoHash, 'infoHash')).toString('hex');
  const parts = [`xt=urn:btih:${hash}`];
  if (m.name !== undefined) parts.push(`dn=${encodeURIComponent(m.name)}`);
  if (m.length !== undefined) parts.push(`xl=${m.length}`);
  for (const t of m.trackers ?? []) parts.push(`tr=${encodeURIComponent(t)}`);
  for (const w of m.webSeeds ?? []) parts.push(`ws=${encodeURIComponent(w)}`);
  for (const p of m.peers ?? []) parts.push(`x.pe=${encodeURIComponent(p.ip.includes(':') ? `[${p.ip}]:${p.port}` : `${p.ip}:${p.port}`)}`);
  return `magnet:?${parts.join('&')}`;
}

/** The magnet link of a torrent: info-hash, name, length, every tracker (tiers flattened) and web seed. */
export function magnetFromTorrent(meta: Metainfo): string {
  return formatMagnet({
    infoHash: meta.infoHashBytes,
    name: meta.name,
    length: meta.totalLength,
    trackers: [...new Set(meta.trackers.flat())],
    webSeeds: meta.urlList,
  });
}
