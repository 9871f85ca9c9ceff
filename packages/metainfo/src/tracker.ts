import { BencodeDict, decode, isBytes, isList, toText, type BencodeValue } from '@mainline/bencode';
import { ipv4Text, ipv6Text } from './address.js';
import { MetainfoError } from './errors.js';
import { asDict, at, kind, optBytes, optInt, optText, reqBytes, reqInt } from './fields.js';

/** A peer handed out by a tracker. `ip` is text: dotted IPv4, RFC 5952 IPv6, or a host name (dict form). */
export interface TrackerPeer {
  ip: string;
  port: number;
  /** Only in the non-compact dict form, when the tracker sent one; always 20 bytes. */
  peerId?: Uint8Array;
}

/** The tracker refused the announce (`failure reason`); nothing else in the reply is read. */
export interface TrackerFailure {
  failureReason: string;
  /** BEP 31 `retry in` (minutes), when given as an integer; `never` maps to Infinity. */
  retryIn?: number;
}

/** A successful announce reply. */
export interface TrackerSuccess {
  failureReason?: undefined;
  warningMessage?: string;
  /** Seconds between regular announces. */
  interval?: number;
  /** Seconds the client must wait at least between announces. */
  minInterval?: number;
  /** Opaque id to echo back as `trackerid`; kept as bytes. */
  trackerId?: Uint8Array;
  /** Seeders (BEP 3 scrape-style counts in announce replies). */
  complete?: number;
  /** Leechers. */
  incomplete?: number;
  /** mainline extensions: `num peers`, `done peers`, `last`. */
  numPeers?: number;
  donePeers?: number;
  last?: number;
  /** BEP 24 `external ip`: our address as the tracker sees it. */
  externalIp?: string;
  /** Peers from `peers` (dict list or compact, BEP 23) followed by `peers6` (BEP 7). */
  peers: TrackerPeer[];
  /** Entries left out of `peers` because their port was 0 (nobody can dial them). */
  droppedPeers: number;
}

export type TrackerResponse = TrackerFailure | TrackerSuccess;

export interface ResponseOptions {
  /**
   * Decode the bytes with strict bencode. Default false: tracker replies are read leniently
   * (unsorted keys, a trailing newline...) since nothing is hashed from them.
   */
  strict?: boolean;
}

function toDict(input: Uint8Array | BencodeValue, options: ResponseOptions): BencodeDict {
  const value = input instanceof Uint8Array ? decode(input, { strict: options.strict ?? false }) : input;
  return asDict(value, '');
}

function failureOf(d: BencodeDict): TrackerFailure | undefined {
  const reason = optText(d, 'failure reason', '');
  if (reason === undefined) return undefined;
  const out: TrackerFailure = { failureReason: reason };
  const retry = d.get('retry in');
  if (typeof retry === 'number' && retry >= 0) out.retryIn = retry;
  else if (isBytes(retry) && toText(retry) === 'never') out.retryIn = Infinity;
  return out;
}

function compactPeers(bytes: Uint8Array, size: 6 | 18, path: string, out: TrackerPeer[]): number {
  if (bytes.length % size !== 0) {
    throw new MetainfoError('BAD_LENGTH', path, `compact peers must be a multiple of ${size} bytes, found ${bytes.length}`);
  }
  const addrLen = size - 2;
  let dropped = 0;
  for (let off = 0; off < bytes.length; off += size) {
    const port = (bytes[off + addrLen]! << 8) | bytes[off + addrLen + 1]!;
    if (port === 0) {
      dropped++;
      continue;
    }
    out.push({ ip: addrLen === 4 ? ipv4Text(bytes, off) : ipv6Text(bytes, off), port });
  }
  return dropped;
}

function dictPeers(list: BencodeValue[], path: string, out: TrackerPeer[]): number {
  let dropped = 0;
  list.forEach((entry, i) => {
    const p = at(path, i);
    const d = asDict(entry, p);
    const ip = toText(reqBytes(d, 'ip', p));
    if (ip.length === 0) throw new MetainfoError('BAD_VALUE', at(p, 'ip'), 'empty address');
    const port = reqInt(d, 'port', p, 0, 65535);
    const peerId = optBytes(d, 'peer id', p);
    if (peerId !== undefined && peerId.length !== 20) {
      throw new MetainfoError('BAD_LENGTH', at(p, 'peer id'), `peer id must be 20 bytes, found ${peerId.length}`);
    }
    if (port === 0) {
      dropped++;
      return;
    }
    out.push(peerId === undefined ? { ip, port } : { ip, port, peerId });
  });
  return dropped;
}

/**
 * Checks a tracker announce reply (mainline's `check_peers`, plus BEP 7/23/24/31) and returns it
 * typed. Accepts the raw HTTP body or an already decoded value. Throws MetainfoError (or
 * BencodeError from decoding) on anything malformed.
 */
export function validateTrackerResponse(input: Uint8Array | BencodeValue, options: ResponseOptions = {}): TrackerResponse {
  const d = toDict(input, options);
  const failure = failureOf(d);
  if (failure) return failure;

  const peers: TrackerPeer[] = [];
  let dropped = 0;
  const raw = d.get('peers');
  const raw6 = d.get('peers6');
  if (raw === undefined && raw6 === undefined) {
    throw new MetainfoError('MISSING_FIELD', 'peers', 'required field is missing');
  }
  if (raw !== undefined) {
    if (isBytes(raw)) dropped += compactPeers(raw, 6, 'peers', peers);
    else if (isList(raw)) dropped += dictPeers(raw, 'peers', peers);
    else throw new MetainfoError('WRONG_TYPE', 'peers', `expected a list or a byte string, found ${kind(raw)}`);
  }
  if (raw6 !== undefined) {
    if (!isBytes(raw6)) throw new MetainfoError('WRONG_TYPE', 'peers6', `expected a byte string, found ${kind(raw6)}`);
    dropped += compactPeers(raw6, 18, 'peers6', peers);
  }

  const out: TrackerSuccess = { peers, droppedPeers: dropped };
  const warning = optText(d, 'warning message', '');
  if (warning !== undefined) out.warningMessage = warning;
  const interval = optInt(d, 'interval', '', 1);
  if (interval !== undefined) out.interval = interval;
  const minInterval = optInt(d, 'min interval', '', 1);
  if (minInterval !== undefined) out.minInterval = minInterval;
  const trackerId = optBytes(d, 'tracker id', '');
  if (trackerId !== undefined) out.trackerId = trackerId;
  for (const [key, field] of [
    ['complete', 'complete'],
    ['incomplete', 'incomplete'],
    ['num peers', 'numPeers'],
    ['done peers', 'donePeers'],
    ['last', 'last'],
  ] as const) {
    const v = optInt(d, key, '', 0);
    if (v !== undefined) out[field] = v;
  }
  const ext = optBytes(d, 'external ip', '');
  if (ext !== undefined) {
    if (ext.length === 4) out.externalIp = ipv4Text(ext);
    else if (ext.length === 16) out.externalIp = ipv6Text(ext);
    else throw new MetainfoError('BAD_LENGTH', 'external ip', `expected 4 or 16 bytes, found ${ext.length}`);
  }
  return out;
}

/** Swarm counts for one torrent in a scrape reply. */
export interface ScrapeEntry {
  infoHash: Uint8Array;
  /** Seeders. */
  complete: number;
  /** Leechers. */
  incomplete: number;
  /** Completed downloads ever reported. */
  downloaded: number;
  name?: string;
}

export interface ScrapeFailure {
  failureReason: string;
}

export interface ScrapeSuccess {
  failureReason?: undefined;
  /** Keyed by lower-case hex info-hash. */
  files: Map<string, ScrapeEntry>;
  /** `flags.min_request_interval` (seconds), when given. */
  minRequestInterval?: number;
}

export type ScrapeResponse = ScrapeFailure | ScrapeSuccess;

/**
 * Checks a scrape reply (BEP 48): `files` maps 20-byte info-hashes to dicts with `complete`,
 * `incomplete`, `downloaded` (each required, ≥ 0; mainline-era trackers always send all three).
 */
export function validateScrapeResponse(input: Uint8Array | BencodeValue, options: ResponseOptions = {}): ScrapeResponse {
  const d = toDict(input, options);
  const reason = optText(d, 'failure reason', '');
  if (reason !== undefined) return { failureReason: reason };
  const filesDict = asDict(d.get('files'), 'files');
  const files = new Map<string, ScrapeEntry>();
  for (const [key, value] of filesDict) {
    const hex = Buffer.from(key.buffer, key.byteOffset, key.length).toString('hex');
    const p = `files[${hex}]`;
    if (key.length !== 20) throw new MetainfoError('BAD_LENGTH', p, `info-hash keys must be 20 bytes, found ${key.length}`);
    const e = asDict(value, p);
    const entry: ScrapeEntry = {
      infoHash: key,
      complete: reqInt(e, 'complete', p, 0),
      incomplete: reqInt(e, 'incomplete', p, 0),
      downloaded: reqInt(e, 'downloaded', p, 0),
    };
    const name = optText(e, 'name', p);
    if (name !== undefined) entry.name = name;
    files.set(hex, entry);
  }
  const out: ScrapeSuccess = { files };
  const flags = d.get('flags');
  if (flags !== undefined) {
    const f = asDict(flags, 'flags');
    const mri = optInt(f, 'min_request_interval', 'flags', 0);
    if (mri !== undefined) out.minRequestInterval = mri;
  }
  return out;
}
