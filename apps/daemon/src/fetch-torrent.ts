import { lookup as dnsLookup } from 'node:dns/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type * as Https from 'node:https';
import { createRequire } from 'node:module';
import { BlockList, isIP } from 'node:net';

/** Why a URL was not fetched: `message` is for the RPC caller, `detail` for the daemon's log. */
export class FetchError extends Error {
  override name = 'FetchError';
  constructor(
    message: string,
    readonly detail: string = message,
  ) {
    super(message);
  }
}

export interface FetchOptions {
  /** Fetch from loopback, private, link-local and other non-public addresses too (default false). */
  allowPrivate?: boolean;
  /** Largest body accepted (default 10 MiB); the transfer stops as soon as it is passed. */
  maxBytes?: number;
  /** Redirects followed, each to a checked address (default 5). */
  maxRedirects?: number;
  /** For the whole fetch, redirects included (default 30 s). */
  timeoutMs?: number;
  /** Name resolution (default dns.lookup, all addresses). */
  lookup?: (host: string) => Promise<{ address: string; family: number }[]>;
  /** Decides whether an address may be fetched from (default: public unless allowPrivate). */
  addressAllowed?: (address: string) => boolean;
}

const MiB = 1024 * 1024;

// Addresses that are not the public internet: this host, private networks, link-local, shared
// (CGNAT), documentation/benchmark ranges, multicast and reserved (IANA special-purpose registries).
const NON_PUBLIC = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NON_PUBLIC.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 127], // :: and ::1
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  NON_PUBLIC.addSubnet(net, bits, 'ipv6');
}

/** Whether `address` (an IP literal) is on the public internet. IPv4 inside IPv6 is judged as IPv4. */
export function isPublicAddress(address: string): boolean {
  const v4 = embeddedIPv4(address);
  if (v4 !== undefined) return !NON_PUBLIC.check(v4, 'ipv4');
  const family = isIP(address);
  if (family === 4) return !NON_PUBLIC.check(address, 'ipv4');
  if (family === 6) return !NON_PUBLIC.check(address, 'ipv6');
  return false;
}

/** The IPv4 address in an IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::) or 6to4 (2002::/16) IPv6 address. */
function embeddedIPv4(address: string): string | undefined {
  if (isIP(address) !== 6) return undefined;
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  const sixToFour = /^2002:([0-9a-f]{1,4}):([0-9a-f]{1,4})(?::|$)/i.exec(address);
  const m = hex ?? sixToFour;
  if (!m) return undefined;
  const hi = parseInt(m[1]!, 16);
  const lo = parseInt(m[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

const defaultLookup = (host: string): Promise<{ address: string; family: number }[]> => dnsLookup(host, { all: true });

/**
 * Downloads a .torrent for `torrent-add {filename: URL}`. Every hop's host name is resolved here
 * and its addresses checked (a name pointing at 127.0.0.1 is refused like the literal), then the
 * connection goes to the checked address (no second lookup to rebind). At most `maxRedirects`
 * redirects, http(s) only; the body is streamed and the transfer stops once it passes `maxBytes`
 * (a chunked endless body costs at most that); one deadline covers it all. The messages say
 * what went wrong without echoing the server's answer (status, bytes); `detail` has it for the log.
 */
export async function fetchTorrentUrl(url: string, options: FetchOptions = {}): Promise<Uint8Array> {
  const maxBytes = options.maxBytes ?? 10 * MiB;
  const maxRedirects = options.maxRedirects ?? 5;
  const allowed = options.addressAllowed ?? (options.allowPrivate ? () => true : isPublicAddress);
  const lookup = options.lookup ?? defaultLookup;
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), options.timeoutMs ?? 30_000);
  try {
    let target = parseUrl(url, url);
    for (let hop = 0; ; hop++) {
      const address = await checkedAddress(target, url, lookup, allowed);
      const res = await get(target, address, url, deadline.signal);
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location !== undefined) {
        res.destroy();
        if (hop >= maxRedirects) throw new FetchError(`cannot fetch ${url}: more than ${maxRedirects} redirects`);
        target = parseUrl(new URL(res.headers.location, target).href, url);
        continue;
      }
      if (status < 200 || status >= 300) {
        res.destroy();
        throw new FetchError(`cannot fetch ${url}: the server did not send a torrent`, `cannot fetch ${url}: HTTP ${status} from ${target.href}`);
      }
      return await readCapped(res, maxBytes, url);
    }
  } catch (err) {
    if (err instanceof FetchError) throw err;
    if (deadline.signal.aborted) throw new FetchError(`cannot fetch ${url}: timed out`);
    throw new FetchError(`cannot fetch ${url}: the connection failed`, `cannot fetch ${url}: ${(err as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
}

function parseUrl(href: string, asked: string): URL {
  let u: URL;
  try {
    u = new URL(href);
  } catch {
    throw new FetchError(`cannot fetch ${asked}: not a valid URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new FetchError(`cannot fetch ${asked}: only http and https URLs are fetched`);
  return u;
}

/** The address to connect to for `u`, after checking every address its host name has. */
async function checkedAddress(u: URL, asked: string, lookup: NonNullable<FetchOptions['lookup']>, allowed: (a: string) => boolean): Promise<string> {
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: string[];
  if (isIP(host) !== 0) addresses = [host];
  else {
    try {
      addresses = (await lookup(host)).map((a) => a.address);
    } catch (err) {
      throw new FetchError(`cannot fetch ${asked}: cannot resolve ${host}`, `cannot fetch ${asked}: ${host}: ${(err as Error).message}`);
    }
  }
  // One non-public address is enough to refuse: the name could be answered either way next time.
  if (addresses.length === 0 || !addresses.every(allowed)) {
    throw new FetchError(
      `refusing to fetch ${asked}: ${host}${isIP(host) !== 0 ? ' is' : ' resolves to'} a loopback, private or otherwise non-public address (the daemon setting fetchPrivateAddresses allows it)`,
    );
  }
  return addresses[0]!;
}

// node:https (and TLS with it) loads at the first https URL: a daemon that never fetches one does
// not keep its ~1 MiB of code and heap resident.
let httpsModule: typeof Https | undefined;
const loadHttps = (): typeof Https => (httpsModule ??= createRequire(process.execPath)('node:https') as typeof Https);

function get(u: URL, address: string, asked: string, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const https = u.protocol === 'https:';
    const req = (https ? loadHttps().request : httpRequest)(
      {
        host: address,
        port: u.port === '' ? (https ? 443 : 80) : Number(u.port),
        path: `${u.pathname}${u.search}`,
        method: 'GET',
        // The checked address is dialled; the name still goes in Host and in TLS (SNI, certificate).
        headers: { Host: u.host, Accept: 'application/x-bittorrent, */*', 'User-Agent': 'mainlined' },
        ...(https && isIP(u.hostname) === 0 ? { servername: u.hostname } : {}),
        signal,
      },
      resolve,
    );
    req.on('error', (err) => reject(signal.aborted ? new FetchError(`cannot fetch ${asked}: timed out`) : err));
    req.end();
  });
}

/** The body, up to `max` bytes; the connection is closed the moment it passes that. */
function readCapped(res: IncomingMessage, max: number, asked: string): Promise<Uint8Array> {
  const tooLarge = (): FetchError => new FetchError(`cannot fetch ${asked}: larger than ${max} bytes`);
  const declared = Number(res.headers['content-length'] ?? 0);
  if (declared > max) {
    res.destroy();
    return Promise.reject(tooLarge());
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        res.destroy();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    res.on('error', reject);
    res.on('close', () => reject(new FetchError(`cannot fetch ${asked}: the connection was closed early`)));
  });
}
