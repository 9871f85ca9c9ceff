import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { AuthLimiter } from './auth-limit.js';
import type { RpcHandler } from './rpc.js';
import { StaticDir } from './static-files.js';

export interface RpcServerOptions {
  rpc: RpcHandler;
  host: string;
  port: number;
  /** Basic auth is required when both are set. */
  username?: string;
  password?: string;
  /** Accepted `Host` names besides IP literals and localhost (ignored when auth is on, as in Transmission). */
  hostWhitelist?: readonly string[];
  /** Largest request body (default 16 MiB: a 10 MiB torrent in base64 fits). */
  maxBodyBytes?: number;
  /** Our own web UI's files (index.html, app.js, style.css, ...), served at / and /transmission/web/. */
  publicDir?: string;
  /**
   * Another web UI's directory (Transmission's `--web-home` / `TRANSMISSION_WEB_HOME`): served at
   * /transmission/web/ instead of ours, and / redirects there.
   */
  webHome?: string;
  /** Wrong-password limits per client address (default: 5 free, then 1 s doubling up to 15 min). */
  authLimiter?: AuthLimiter;
}

export const RPC_PATHS = new Set(['/transmission/rpc', '/transmission/rpc/']);
const DEFAULT_MAX_BODY = 16 * 1024 * 1024;
/** Bodies up to this size are read and thrown away before a 413, so the client sees the answer. */
const DRAIN_LIMIT = 64 * 1024 * 1024;

export const WEB_PATH = '/transmission/web/';
/** Paths that lead to the web UI's directory (as Transmission redirects them). */
const TO_WEB = new Set(['/transmission', '/transmission/', '/transmission/web']);

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
  'Cache-Control': 'no-store',
};

/**
 * Another project's web UI may use inline scripts and styles: no content policy of ours, but it
 * still cannot be framed by other sites and its files are never sniffed.
 */
const WEB_HOME_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Content-Security-Policy': "frame-ancestors 'none'",
  'Cache-Control': 'no-store',
};

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * The HTTP side of mainlined: Transmission RPC at /transmission/rpc with its CSRF handshake
 * (409 + X-Transmission-Session-Id) and optional basic auth, and the web UI at /.
 * Check order follows Transmission's: auth 401 (429 while locked out after wrong passwords), host
 * 421, path 404, session id 409, then the body.
 */
export class RpcServer {
  readonly sessionId = randomBytes(36).toString('base64url').slice(0, 48);
  readonly server: Server;
  readonly #o: RpcServerOptions;
  readonly #auth: Buffer | undefined;
  readonly #limiter: AuthLimiter;
  readonly #ownUi: StaticDir | undefined;
  readonly #webHome: StaticDir | undefined;
  #port = 0;

  constructor(options: RpcServerOptions) {
    this.#o = options;
    this.#limiter = options.authLimiter ?? new AuthLimiter();
    if (options.username !== undefined && options.password !== undefined) {
      this.#auth = digest(`${options.username}:${options.password}`);
    }
    this.#ownUi = options.publicDir !== undefined ? new StaticDir(options.publicDir) : undefined;
    this.#webHome = options.webHome !== undefined ? new StaticDir(options.webHome) : undefined;
    this.server = createServer((req, res) => {
      this.#route(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.#text(res, 500, `internal error: ${(err as Error).message}`);
        else res.destroy();
      });
    });
  }

  get port(): number {
    return this.#port;
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.#o.host, port: this.#o.port }, () => {
        this.server.off('error', reject);
        const addr = this.server.address();
        this.#port = typeof addr === 'object' && addr ? addr.port : this.#o.port;
        resolve(this.#port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  #text(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS, ...headers });
    res.end(`${body}\n`);
  }

  #json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json; charset=UTF-8', 'Content-Length': Buffer.byteLength(text), ...SECURITY_HEADERS });
    res.end(text);
  }

  #authorized(req: IncomingMessage): boolean {
    if (!this.#auth) return true;
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!m) return false;
    return timingSafeEqual(digest(Buffer.from(m[1]!, 'base64').toString('utf8')), this.#auth);
  }

  /**
   * Basic auth with a per-address limit: while an address is locked out after wrong passwords it
   * gets 429 and its credentials are not even looked at (so guessing on gains nothing). A request
   * with no credentials at all (a browser's first try) is not a guess and does not count.
   */
  #checkAuth(req: IncomingMessage, res: ServerResponse): boolean {
    if (!this.#auth) return true;
    const who = req.socket.remoteAddress ?? '';
    const wait = this.#limiter.retryAfterMs(who);
    if (wait > 0) {
      req.resume();
      this.#text(res, 429, 'Too Many Requests: too many wrong passwords from this address; try again later', { 'Retry-After': String(Math.ceil(wait / 1000)) });
      return false;
    }
    if (!this.#authorized(req)) {
      if (req.headers.authorization !== undefined) this.#limiter.failed(who);
      req.resume();
      this.#text(res, 401, 'Unauthorized: user name or password required', { 'WWW-Authenticate': 'Basic realm="Transmission"' });
      return false;
    }
    this.#limiter.succeeded(who);
    return true;
  }

  #hostAllowed(req: IncomingMessage): boolean {
    if (this.#auth) return true;
    const host = req.headers.host;
    if (host === undefined) return true;
    const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
    if (isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost')) return true;
    return (this.#o.hostWhitelist ?? []).some((w) => w === '*' || w.toLowerCase() === name.toLowerCase());
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.#checkAuth(req, res)) return;
    if (!this.#hostAllowed(req)) {
      req.resume();
      this.#text(res, 421, 'Misdirected Request: unknown Host name; add it to rpcHostWhitelist');
      return;
    }
    const path = (req.url ?? '/').split('?')[0]!;
    if (RPC_PATHS.has(path)) return this.#rpc(req, res);
    req.resume();
    // With a web home, it is the web UI and / leads to it; else ours is at / and there too.
    const home = this.#webHome;
    if (TO_WEB.has(path) || (home && path === '/')) return this.#redirect(res, WEB_PATH);
    const [dir, relative, headers] = path.startsWith(WEB_PATH)
      ? [home ?? this.#ownUi, path.slice(WEB_PATH.length), home ? WEB_HOME_HEADERS : SECURITY_HEADERS]
      : [home ? undefined : this.#ownUi, path.slice(1), SECURITY_HEADERS];
    const found = dir ? await dir.lookup(relative) : { kind: 'missing' as const };
    if (found.kind === 'missing') {
      this.#text(res, 404, 'Not Found');
      return;
    }
    // One leading slash: `//name/` would send the browser to another host.
    if (found.kind === 'redirect') return this.#redirect(res, `${path.replace(/^\/+/, '/')}/`);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      this.#text(res, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
      return;
    }
    res.writeHead(200, { 'Content-Type': found.type, 'Content-Length': found.body.length, ...headers });
    res.end(req.method === 'HEAD' ? undefined : found.body);
  }

  #redirect(res: ServerResponse, location: string): void {
    this.#text(res, 301, `Moved Permanently: ${location}`, { Location: location });
  }

  async #rpc(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.headers['x-transmission-session-id'] !== this.sessionId) {
      req.resume();
      this.#text(res, 409, `409: Conflict\n\nYour request had an invalid session-id header.\n\nX-Transmission-Session-Id: ${this.sessionId}`, {
        'X-Transmission-Session-Id': this.sessionId,
      });
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      this.#text(res, 405, 'Method Not Allowed: the RPC takes POST', { Allow: 'POST' });
      return;
    }
    const max = this.#o.maxBodyBytes ?? DEFAULT_MAX_BODY;
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > DRAIN_LIMIT) {
      this.#text(res, 413, `Payload Too Large: the limit is ${max} bytes`, { Connection: 'close' });
      res.on('finish', () => req.destroy());
      return;
    }
    const body = await readBody(req, max);
    if (body === 'too-large') {
      this.#text(res, 413, `Payload Too Large: the limit is ${max} bytes`, { Connection: 'close' });
      return;
    }
    let request: unknown;
    try {
      request = JSON.parse(body.toString('utf8'));
    } catch (err) {
      this.#json(res, 400, { result: `malformed JSON request: ${(err as Error).message}`, arguments: {} });
      return;
    }
    this.#json(res, 200, await this.#o.rpc.handle(request));
  }
}

/** The body, or 'too-large' once it passes `max` (the rest is read and dropped, up to DRAIN_LIMIT). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > DRAIN_LIMIT) {
        req.destroy();
        resolve('too-large');
      } else if (size <= max) chunks.push(chunk);
      else chunks.length = 0;
    });
    req.on('end', () => resolve(size > max ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
