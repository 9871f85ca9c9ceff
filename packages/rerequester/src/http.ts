import type * as Http from 'node:http';
import type * as Https from 'node:https';
import { createRequire } from 'node:module';
import { pipeline, type Readable } from 'node:stream';
import type * as Zlib from 'node:zlib';
import { BencodeDict, decode, isDict, type BencodeValue } from '@mainline/bencode';
import { validateScrapeResponse, validateTrackerResponse, type ScrapeEntry, type TrackerResponse } from '@mainline/metainfo';
import { systemClock, type Clock } from '@mainline/rate';
import { percentEncodeBytes, percentEncodeText } from './encode.js';
import { TrackerError, toTrackerError } from './errors.js';
import {
  checkAnnounceRequest,
  checkHash,
  tellAttempt,
  type AnnounceRequest,
  type AnnounceResponse,
  type RequestOptions,
  type Tracker,
} from './types.js';

/** Options of {@link HttpTracker} (and of {@link httpGet}). */
export interface HttpTrackerOptions {
  /** Whole-request deadline, redirects included (mainline: 60 s). */
  timeoutMs?: number;
  /** Largest body accepted, after decompression (default 4 MiB). */
  maxResponseBytes?: number;
  /** Redirects followed before giving up (default 5). */
  maxRedirects?: number;
  /** Sent as User-Agent. */
  userAgent?: string;
  /**
   * Our address to send from (a session's bind address): the tracker then records the address we
   * listen on, not another of this machine's. Only trackers of the same family are reached then.
   */
  localAddress?: string;
  clock?: Clock;
}

export const DEFAULT_HTTP_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_REDIRECTS = 5;
export const DEFAULT_USER_AGENT = 'mainline/0.1';

/** An HTTP reply: status and the (decompressed) body. */
export interface HttpReply {
  status: number;
  body: Buffer;
  /** The URL that finally answered (after redirects). */
  url: string;
}

function parseHttpUrl(url: string, original: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TrackerError('BAD_URL', `not a valid URL: ${JSON.stringify(url)}`, original);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new TrackerError('UNSUPPORTED_PROTOCOL', `cannot fetch ${u.protocol} URLs over HTTP`, original);
  }
  return u;
}

// Built-ins resolve from anywhere: the base only has to be an absolute path. (A plain require,
// not import(): a dynamic import fails in CommonJS hosts such as jest's module sandbox.)
const requireBuiltin = createRequire(process.execPath);
let http: typeof Http | undefined;
let https: typeof Https | undefined;
let zlib: typeof Zlib | undefined;

/**
 * Each module loads when first needed: node:http at the first HTTP request, node:https (TLS) at the
 * first https URL, node:zlib at the first compressed reply. Loading them costs start-up time
 * (~20 ms together) and ~1.5 MiB of resident memory in a long-running daemon that may only ever
 * talk to plain-HTTP trackers that do not compress.
 */
function transportFor(u: URL): typeof Http | typeof Https {
  if (u.protocol === 'https:') return (https ??= requireBuiltin('node:https') as typeof Https);
  return (http ??= requireBuiltin('node:http') as typeof Http);
}
function loadZlib(): typeof Zlib {
  return (zlib ??= requireBuiltin('node:zlib') as typeof Zlib);
}

/** One GET without following redirects; resolves with status, headers and a size-capped body. */
function getOnce(
  u: URL,
  opts: Required<Pick<HttpTrackerOptions, 'maxResponseBytes' | 'userAgent'>> & Pick<HttpTrackerOptions, 'localAddress'>,
  signal: AbortSignal,
  original: string,
): Promise<{ status: number; location: string | undefined; body: Buffer }> {
  const mod = transportFor(u);
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (e: unknown): void => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(e);
    };
    const req = mod.get(
      u,
      {
        signal,
        agent: false,
        headers: { 'user-agent': opts.userAgent, 'accept-encoding': 'gzip, deflate', connection: 'close' },
        // From our bind address, resolving the tracker's name in that address's family.
        ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress, family: opts.localAddress.includes(':') ? 6 : 4 } : {}),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const location = res.headers.location;
        if (status >= 300 && status < 400 && location !== undefined) {
          res.resume();
          settled = true;
          resolve({ status, location, body: Buffer.alloc(0) });
          req.destroy();
          return;
        }
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > opts.maxResponseBytes) {
          fail(tooLarge(opts.maxResponseBytes, original));
          return;
        }
        const encoding = String(res.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
        let source: Readable = res;
        let decoder: Zlib.Gunzip | Zlib.Inflate | undefined;
        if (encoding === 'gzip' || encoding === 'x-gzip') decoder = loadZlib().createGunzip();
        else if (encoding === 'deflate') decoder = loadZlib().createInflate();
        if (decoder) source = pipeline(res, decoder, () => undefined);
        const chunks: Buffer[] = [];
        let size = 0;
        source.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > opts.maxResponseBytes) {
            fail(tooLarge(opts.maxResponseBytes, original));
            source.destroy();
            return;
          }
          chunks.push(chunk);
        });
        source.on('end', () => {
          if (settled) return;
          settled = true;
          resolve({ status, location: undefined, body: Buffer.concat(chunks, size) });
        });
        source.on('error', (e: Error & { code?: string }) => {
          if (decoder && typeof e.code === 'string' && e.code.startsWith('Z_')) {
            fail(new TrackerError('BAD_RESPONSE', `could not decompress the ${encoding} body: ${e.message}`, original));
          } else fail(e);
        });
        // A server that closes mid-body: 'aborted' / premature close surface as errors or as 'close' without 'end'.
        res.on('aborted', () => fail(new TrackerError('NETWORK', 'connection closed before the whole reply arrived', original)));
        res.on('close', () => {
          if (!res.complete) fail(new TrackerError('NETWORK', 'connection closed before the whole reply arrived', original));
        });
      },
    );
    req.on('error', fail);
  });
}

function tooLarge(cap: number, url: string): TrackerError {
  return new TrackerError('RESPONSE_TOO_LARGE', `reply is larger than ${cap} bytes`, url);
}

/**
 * GET `url` following at most `maxRedirects` redirects (a loop is an error), accepting gzip,
 * refusing bodies over `maxResponseBytes`, all within one `timeoutMs` deadline on `clock`.
 * Rejects only with TrackerError.
 */
export async function httpGet(url: string, options: HttpTrackerOptions & RequestOptions = {}, errorUrl = url): Promise<HttpReply> {
  const clock = options.clock ?? systemClock;
  const timeoutMs = options.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const opts = {
    maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    userAgent: options.userAgent ?? DEFAULT_USER_AGENT,
    ...(options.localAddress !== undefined ? { localAddress: options.localAddress } : {}),
  };
  const ac = new AbortController();
  let timedOut = false;
  const timer = clock.setTimeout(() => {
    timedOut = true;
    ac.abort();
  }, timeoutMs);
  tellAttempt(options.onAttempt, { attempt: 1, maxAttempts: 1, timeoutMs });
  const outer = options.signal;
  const onOuterAbort = (): void => ac.abort();
  if (outer) {
    if (outer.aborted) ac.abort();
    else outer.addEventListener('abort', onOuterAbort, { once: true });
  }
  try {
    let current = parseHttpUrl(url, errorUrl);
    const seen = new Set<string>([current.href]);
    for (let hops = 0; ; hops++) {
      if (ac.signal.aborted) throw new Error('aborted');
      const reply = await getOnce(current, opts, ac.signal, errorUrl);
      if (reply.location === undefined) return { status: reply.status, body: reply.body, url: current.href };
      let next: URL;
      try {
        next = new URL(reply.location, current);
      } catch {
        throw new TrackerError('BAD_RESPONSE', `redirect to an invalid URL ${JSON.stringify(reply.location)}`, errorUrl);
      }
      next = parseHttpUrl(next.href, errorUrl);
      if (seen.has(next.href)) {
        throw new TrackerError('TOO_MANY_REDIRECTS', `redirect loop (back to ${next.href})`, errorUrl);
      }
      if (hops + 1 > maxRedirects) {
        throw new TrackerError('TOO_MANY_REDIRECTS', `more than ${maxRedirects} redirects`, errorUrl);
      }
      seen.add(next.href);
      current = next;
    }
  } catch (e) {
    if (timedOut) throw new TrackerError('TIMEOUT', `no reply within ${timeoutMs} ms`, errorUrl, { cause: e });
    if (outer?.aborted) throw new TrackerError('ABORTED', 'request cancelled', errorUrl, { cause: e });
    throw toTrackerError(e, errorUrl);
  } finally {
    clock.clearTimeout(timer);
    outer?.removeEventListener('abort', onOuterAbort);
  }
}

/** Appends `query` to `base` with `?` or `&` as needed (a `#fragment` is dropped). */
export function appendQuery(base: string, query: string): string {
  const hash = base.indexOf('#');
  const b = hash >= 0 ? base.slice(0, hash) : base;
  if (!b.includes('?')) return `${b}?${query}`;
  return b.endsWith('?') || b.endsWith('&') ? `${b}${query}` : `${b}&${query}`;
}

/** The full HTTP announce URL for `request` on `announceUrl` (BEP 3 + BEP 23 `compact=1`). */
export function buildAnnounceUrl(announceUrl: string, request: AnnounceRequest): string {
  checkAnnounceRequest(request);
  const parts = [
    `info_hash=${percentEncodeBytes(request.infoHash)}`,
    `peer_id=${percentEncodeBytes(request.peerId)}`,
    `port=${request.port}`,
    `uploaded=${request.uploaded}`,
    `downloaded=${request.downloaded}`,
    `left=${request.left}`,
    'compact=1',
  ];
  if (request.event !== undefined && request.event !== 'none') parts.push(`event=${request.event}`);
  if (request.numwant !== undefined) parts.push(`numwant=${request.numwant}`);
  parts.push(`key=${request.key.toString(16).padStart(8, '0')}`);
  if (request.trackerId !== undefined) parts.push(`trackerid=${percentEncodeBytes(request.trackerId)}`);
  if (request.ip !== undefined) parts.push(`ip=${percentEncodeText(request.ip)}`);
  return appendQuery(announceUrl, parts.join('&'));
}

/**
 * The scrape URL for an announce URL (BEP 48): the last path segment must start with `announce`,
 * which becomes `scrape` (`/x/announce.php?k=1` → `/x/scrape.php?k=1`). Undefined when the
 * tracker cannot be scraped by that rule.
 */
export function scrapeUrlOf(announceUrl: string): string | undefined {
  const q = announceUrl.search(/[?#]/);
  const path = q >= 0 ? announceUrl.slice(0, q) : announceUrl;
  const rest = q >= 0 ? announceUrl.slice(q) : '';
  const slash = path.lastIndexOf('/');
  if (slash < 0 || path.slice(0, slash).endsWith('/')) return undefined; // no path at all ("http://host")
  if (!path.startsWith('announce', slash + 1)) return undefined;
  return `${path.slice(0, slash + 1)}scrape${path.slice(slash + 1 + 'announce'.length)}${rest}`;
}

function rejected(reason: string, url: string): TrackerError {
  return new TrackerError('REJECTED', `rejected by tracker: ${reason}`, url);
}

function decodeReply<T>(reply: HttpReply, url: string, validate: (b: Uint8Array) => T): T {
  if (reply.body.length === 0) {
    throw new TrackerError(reply.status === 200 ? 'EMPTY_RESPONSE' : 'HTTP_STATUS', reply.status === 200 ? 'empty reply' : `HTTP status ${reply.status}`, url);
  }
  try {
    return validate(reply.body);
  } catch (e) {
    if (reply.status !== 200) throw new TrackerError('HTTP_STATUS', `HTTP status ${reply.status}`, url, { cause: e });
    const msg = e instanceof Error ? e.message : String(e);
    throw new TrackerError('BAD_RESPONSE', `bad data from tracker: ${msg}`, url, { cause: e });
  }
}

/**
 * Interop: the npm `bittorrent-tracker` server writes scrape `files` keys as the info-hash's
 * "binary" string bencoded as UTF-8 (bytes ≥ 0x80 take two bytes). When every key of a reply is
 * valid UTF-8 whose code points all fit a byte and come to 20 of them, map them back to raw bytes.
 * Returns undefined when the reply is not of that shape.
 */
function repairScrapeKeys(body: Uint8Array): BencodeValue | undefined {
  let d: BencodeValue;
  try {
    d = decode(body, { strict: false });
  } catch {
    return undefined;
  }
  if (!isDict(d)) return undefined;
  const files = d.get('files');
  if (!isDict(files)) return undefined;
  const fixed = new BencodeDict();
  let changed = false;
  for (const [key, value] of files) {
    if (key.length === 20) {
      fixed.set(key, value);
      continue;
    }
    const text = Buffer.from(key).toString('utf8');
    const latin1 = Buffer.from(text, 'latin1');
    if (text.length !== 20 || !Buffer.from(text, 'utf8').equals(key)) return undefined;
    for (let i = 0; i < 20; i++) if (text.charCodeAt(i) > 0xff) return undefined;
    fixed.set(latin1, value);
    changed = true;
  }
  if (!changed) return undefined;
  d.set('files', fixed);
  return d;
}

/**
 * What an HTTP announce reply means (after httpGet): the checked reply, or a TrackerError
 * (REJECTED for a failure reason, HTTP_STATUS, EMPTY_RESPONSE, BAD_RESPONSE). No socket involved.
 */
export function parseHttpAnnounceReply(reply: HttpReply, url = ''): AnnounceResponse {
  const response: TrackerResponse = decodeReply(reply, url, (b) => validateTrackerResponse(b));
  if (response.failureReason !== undefined) throw rejected(response.failureReason, url);
  if (reply.status !== 200) throw new TrackerError('HTTP_STATUS', `HTTP status ${reply.status}`, url);
  return response;
}

/** What an HTTP scrape reply means (after httpGet): counts by hex info-hash, or a TrackerError. */
export function parseHttpScrapeReply(reply: HttpReply, url = ''): Map<string, ScrapeEntry> {
  const response = decodeReply(reply, url, (b) => {
    try {
      return validateScrapeResponse(b);
    } catch (e) {
      const repaired = repairScrapeKeys(b);
      if (repaired === undefined) throw e;
      return validateScrapeResponse(repaired);
    }
  });
  if (response.failureReason !== undefined) throw rejected(response.failureReason, url);
  if (reply.status !== 200) throw new TrackerError('HTTP_STATUS', `HTTP status ${reply.status}`, url);
  return response.files;
}

/** An HTTP(S) tracker (BEP 3, 23, 7, 48). */
export class HttpTracker implements Tracker {
  readonly #options: HttpTrackerOptions;
  #closed = false;

  constructor(
    readonly url: string,
    options: HttpTrackerOptions = {},
  ) {
    parseHttpUrl(url, url);
    this.#options = { ...options };
  }

  async announce(request: AnnounceRequest, options: RequestOptions = {}): Promise<AnnounceResponse> {
    this.#checkOpen();
    const full = buildAnnounceUrl(this.url, request);
    return parseHttpAnnounceReply(await httpGet(full, { ...this.#options, ...options }, this.url), this.url);
  }

  async scrape(infoHashes: readonly Uint8Array[], options: RequestOptions = {}): Promise<Map<string, ScrapeEntry>> {
    this.#checkOpen();
    const base = scrapeUrlOf(this.url);
    if (base === undefined) {
      throw new TrackerError('UNSUPPORTED_PROTOCOL', 'tracker has no scrape URL (last path segment does not start with "announce")', this.url);
    }
    infoHashes.forEach((h, i) => checkHash(`infoHashes[${i}]`, h));
    const query = infoHashes.map((h) => `info_hash=${percentEncodeBytes(h)}`).join('&');
    return parseHttpScrapeReply(await httpGet(query ? appendQuery(base, query) : base, { ...this.#options, ...options }, this.url), this.url);
  }

  close(): void {
    this.#closed = true;
  }

  #checkOpen(): void {
    if (this.#closed) throw new TrackerError('BAD_ARGUMENT', 'tracker is closed', this.url);
  }
}
