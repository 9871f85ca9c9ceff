import { readFile, realpath, stat } from 'node:fs/promises';
import { extname, join, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.webmanifest': 'application/manifest+json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.xml': 'application/xml; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.gif': 'image/gif',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.eot': 'application/vnd.ms-fontobject',
  '.wasm': 'application/wasm',
};

/** The Content-Type for a file name (application/octet-stream when unknown). */
export function contentType(name: string): string {
  return TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

/** What a lookup found: a file, a directory asked for without its slash, or nothing (404). */
export type StaticResult = { kind: 'file'; body: Buffer; type: string } | { kind: 'redirect' } | { kind: 'missing' };

/**
 * A directory of static files served read-only (a web UI): `index.html` for a directory, no way
 * out of the directory (no `..`, no hidden files, symbolic links only when their target is
 * inside), regular files only, at most `maxBytes` each.
 */
export class StaticDir {
  readonly root: string;
  readonly #maxBytes: number;
  #realRoot: Promise<string> | undefined;

  constructor(root: string, maxBytes = 64 * 1024 * 1024) {
    this.root = root;
    this.#maxBytes = maxBytes;
  }

  /** `relative` is the URL path below the mount point, still percent-encoded. */
  async lookup(relative: string): Promise<StaticResult> {
    const segments: string[] = [];
    for (const raw of relative.split('/')) {
      let s: string;
      try {
        s = decodeURIComponent(raw);
      } catch {
        return { kind: 'missing' };
      }
      if (s === '' || s === '.') continue;
      if (s.startsWith('.') || s.includes('/') || s.includes('\\') || s.includes('\0')) return { kind: 'missing' };
      segments.push(s);
    }
    const dirAsked = relative === '' || relative.endsWith('/');
    try {
      const realRoot = await (this.#realRoot ??= realpath(this.root).catch((err: unknown) => {
        this.#realRoot = undefined; // looked up again next time (the directory may appear)
        throw err;
      }));
      let path = join(realRoot, ...segments);
      let st = await stat(path);
      if (st.isDirectory()) {
        if (!dirAsked) return { kind: 'redirect' };
        path = join(path, 'index.html');
        st = await stat(path);
      }
      if (!st.isFile() || st.size > this.#maxBytes) return { kind: 'missing' };
      const real = await realpath(path);
      if (!real.startsWith(realRoot + sep)) return { kind: 'missing' };
      return { kind: 'file', body: await readFile(real), type: contentType(real) };
    } catch {
      return { kind: 'missing' };
    }
  }
}
