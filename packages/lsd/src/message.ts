import { LsdError } from './errors.js';

/** An address family as Node's dgram names it. */
export type LsdFamily = 'IPv4' | 'IPv6';

/** The UDP port of BEP 14, for both families. */
export const LSD_PORT = 6771;
/** The IPv4 multicast group (organisation-local scope). */
export const LSD_GROUP_IPV4 = '239.192.152.143';
/** The IPv6 multicast group (site-local scope). */
export const LSD_GROUP_IPV6 = 'ff15::efc0:988f';
/**
 * Longest announce we send: BEP 14's limit for announces with several info-hashes (and
 * Transmission's), below a typical MTU so that nothing is fragmented.
 */
export const MAX_ANNOUNCE_BYTES = 1400;
/** Longest datagram we read (libtorrent's receive buffer); anything longer is refused whole. */
export const MAX_RECEIVE_BYTES = 1500;
/** Most header lines in an announce we read (a full datagram of `Infohash` lines holds ~28). */
export const MAX_HEADER_LINES = 64;

/** The `Host` header: the group the announce is sent to, with the port (RFC 2732 brackets for IPv6). */
export function lsdHost(family: LsdFamily): string {
  return family === 'IPv4' ? `${LSD_GROUP_IPV4}:${LSD_PORT}` : `[${LSD_GROUP_IPV6}]:${LSD_PORT}`;
}

export interface AnnounceFields {
  family: LsdFamily;
  /** Our listening TCP port. */
  port: number;
  /** 20-byte info-hashes, or 40 hex digits (any case). */
  infoHashes: readonly (Uint8Array | string)[];
  /** Lets us recognise our own announces when multicast loops them back (visible ASCII, no spaces). */
  cookie?: string;
}

/** A received announce, parsed. */
export interface LsdAnnounce {
  /** The sender's TCP port (`Port`). */
  port: number;
  /** Distinct valid info-hashes, lower-case hex, in the order given. */
  infoHashes: string[];
  /** `Infohash` lines that were not 40 hex digits, or all zero: skipped, as libtorrent does. */
  invalidInfoHashes: number;
  cookie: string | undefined;
  host: string | undefined;
}

const HEX40 = /^[0-9a-fA-F]{40}$/;
const ZERO_HASH = '0'.repeat(40);
const COOKIE = /^[\x21-\x7e]{1,64}$/;

/** An info-hash as 40 lower-case hex digits. @throws LsdError BAD_ARGUMENT */
export function infoHashHex(hash: Uint8Array | string): string {
  if (typeof hash === 'string') {
    if (!HEX40.test(hash)) throw new LsdError('BAD_ARGUMENT', `an info-hash is 40 hex digits, got ${JSON.stringify(hash.slice(0, 50))}`);
    return hash.toLowerCase();
  }
  if (!(hash instanceof Uint8Array) || hash.length !== 20) throw new LsdError('BAD_ARGUMENT', 'an info-hash is 20 bytes');
  return Buffer.from(hash.buffer, hash.byteOffset, hash.length).toString('hex');
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new LsdError('BAD_ARGUMENT', `port must be 1..65535, got ${String(port)}`);
}

function checkCookie(cookie: string | undefined): void {
  if (cookie !== undefined && !COOKIE.test(cookie)) throw new LsdError('BAD_ARGUMENT', 'a cookie is 1..64 visible ASCII characters');
}

/**
 * One BT-SEARCH announce, byte for byte what libtorrent and Transmission send: the request line,
 * `Host`, `Port`, one `Infohash` line per torrent, `cookie`, then two empty lines (Transmission 3
 * refuses an announce that does not end in CRLF CRLF CRLF). Hex is lower-case, as libtorrent's.
 * @throws LsdError BAD_ARGUMENT for a bad port, info-hash or cookie, or no info-hash
 */
export function encodeAnnounce(fields: AnnounceFields): Uint8Array {
  checkPort(fields.port);
  checkCookie(fields.cookie);
  if (fields.infoHashes.length === 0) throw new LsdError('BAD_ARGUMENT', 'an announce names at least one info-hash');
  let text = `BT-SEARCH * HTTP/1.1\r\nHost: ${lsdHost(fields.family)}\r\nPort: ${fields.port}\r\n`;
  for (const h of fields.infoHashes) text += `Infohash: ${infoHashHex(h)}\r\n`;
  if (fields.cookie !== undefined) text += `cookie: ${fields.cookie}\r\n`;
  return Buffer.from(`${text}\r\n\r\n`, 'latin1');
}

/** How many info-hashes fit in one announce of at most `maxBytes` (0 when not even one does). */
export function infoHashesPerAnnounce(fields: Omit<AnnounceFields, 'infoHashes'>, maxBytes = MAX_ANNOUNCE_BYTES): number {
  const one = encodeAnnounce({ ...fields, infoHashes: [ZERO_HASH] }).length;
  const perHash = 'Infohash: \r\n'.length + 40;
  return one > maxBytes ? 0 : 1 + Math.floor((maxBytes - one) / perHash);
}

/**
 * Announces for many torrents, as few datagrams as the size limit allows (BEP 14: several
 * `Infohash` lines per announce, at most 1400 bytes). Older receivers read only the first hash
 * of each (Transmission 3 also drops any announce over 200 bytes); libtorrent reads them all.
 */
export function encodeAnnounces(fields: AnnounceFields, maxBytes = MAX_ANNOUNCE_BYTES): Uint8Array[] {
  const per = infoHashesPerAnnounce(fields, maxBytes);
  if (per === 0) throw new LsdError('BAD_ARGUMENT', `an announce does not fit in ${maxBytes} bytes`);
  const out: Uint8Array[] = [];
  for (let i = 0; i < fields.infoHashes.length; i += per) {
    out.push(encodeAnnounce({ ...fields, infoHashes: fields.infoHashes.slice(i, i + per) }));
  }
  return out;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const REQUEST_LINE = /^BT-SEARCH \* HTTP\/1\.[0-9]{1,3}$/i;
const DIGITS = /^[0-9]{1,5}$/;

/**
 * Parses a received BT-SEARCH announce strictly and in bounded time: at most
 * {@link MAX_RECEIVE_BYTES} bytes and {@link MAX_HEADER_LINES} header lines, only printable ASCII
 * in the header, `BT-SEARCH * HTTP/1.x` (method in any case, as libtorrent reads it), header names
 * in any case (`cookie` and `Cookie`), lines ended by CRLF or LF, the header ended by an empty line
 * (what follows is ignored). Exactly one `Port` (1..65535); at most one `Host` and `cookie`; every
 * `Infohash` line that is 40 hex digits counts, others are skipped; unknown headers are ignored.
 * @throws LsdError with the code that says what was wrong
 */
export function parseAnnounce(datagram: Uint8Array): LsdAnnounce {
  if (datagram.length > MAX_RECEIVE_BYTES) throw new LsdError('TOO_LARGE', `an announce is at most ${MAX_RECEIVE_BYTES} bytes, got ${datagram.length}`);
  const lines = headerLines(datagram);
  if (!REQUEST_LINE.test(lines[0] ?? '')) throw new LsdError('BAD_REQUEST_LINE', `not a BT-SEARCH request: ${JSON.stringify((lines[0] ?? '').slice(0, 40))}`);
  let port: string | undefined;
  let cookie: string | undefined;
  let host: string | undefined;
  const hashes = new Set<string>();
  let invalid = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    if (!TOKEN.test(name)) throw new LsdError('BAD_HEADER', `header line ${i} is not "Name: value"`);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    switch (name.toLowerCase()) {
      case 'port':
        if (port !== undefined) throw new LsdError('DUPLICATE_HEADER', 'two Port headers');
        port = value;
        break;
      case 'cookie':
        if (cookie !== undefined) throw new LsdError('DUPLICATE_HEADER', 'two cookie headers');
        cookie = value;
        break;
      case 'host':
        if (host !== undefined) throw new LsdError('DUPLICATE_HEADER', 'two Host headers');
        host = value;
        break;
      case 'infohash':
        if (HEX40.test(value) && value !== ZERO_HASH) hashes.add(value.toLowerCase());
        else invalid++;
        break;
      default:
        break; // unknown headers are allowed (HTTP), and ignored
    }
  }
  if (port === undefined) throw new LsdError('NO_PORT', 'no Port header');
  const portNumber = DIGITS.test(port) ? Number(port) : NaN;
  if (!(portNumber >= 1 && portNumber <= 65535)) throw new LsdError('BAD_PORT', `Port must be 1..65535, got ${JSON.stringify(port.slice(0, 20))}`);
  if (hashes.size === 0) throw new LsdError('NO_INFOHASH', `no valid Infohash (${invalid} invalid)`);
  return { port: portNumber, infoHashes: [...hashes], invalidInfoHashes: invalid, cookie, host };
}

/** The header's lines (request line first) up to the empty line that ends it; checks every byte on the way. */
function headerLines(d: Uint8Array): string[] {
  const lines: string[] = [];
  let start = 0;
  for (let i = 0; i < d.length; i++) {
    const b = d[i]!;
    if (b === 0x0a) {
      const end = i > start && d[i - 1] === 0x0d ? i - 1 : i;
      if (end === start) return lines; // the empty line: the header is complete
      if (lines.length > MAX_HEADER_LINES) throw new LsdError('TOO_MANY_HEADERS', `more than ${MAX_HEADER_LINES} header lines`);
      lines.push(Buffer.from(d.buffer, d.byteOffset + start, end - start).toString('latin1'));
      start = i + 1;
    } else if (b === 0x0d) {
      if (d[i + 1] !== 0x0a) throw new LsdError('NOT_TEXT', `a CR not followed by LF at byte ${i}`);
    } else if ((b < 0x20 && b !== 0x09) || b > 0x7e) {
      throw new LsdError('NOT_TEXT', `byte 0x${b.toString(16).padStart(2, '0')} at ${i} in the header`);
    }
  }
  throw new LsdError('UNTERMINATED', 'the header does not end with an empty line');
}
