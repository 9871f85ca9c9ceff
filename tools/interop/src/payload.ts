// Deterministic pseudo-random payloads: AES-128-CTR keystream (native code, ~GB/s) keyed by the
// seed and each file's relative path, so every piece of every file is distinct and the same spec
// always gives the same bytes.
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { InteropError } from './errors.js';

export interface PayloadFileSpec {
  /** Path inside the torrent, '/'-separated. */
  readonly path: string;
  readonly size: number;
}

export type PayloadSpec =
  | { readonly name: string; readonly size: number; readonly seed?: string | number }
  | { readonly name: string; readonly files: readonly PayloadFileSpec[]; readonly seed?: string | number };

export interface PayloadFile {
  readonly path: string;
  readonly relativePath: string;
  readonly size: number;
}

export interface Payload {
  /** What to hand to makeTorrent / what the seeder's save dir holds: dir/name (a file or a directory). */
  readonly path: string;
  /** The dir given to makePayload: the save path of a seeder. */
  readonly saveDir: string;
  readonly name: string;
  readonly files: readonly PayloadFile[];
  readonly totalSize: number;
  readonly multiFile: boolean;
}

const CHUNK = 4 << 20;
let zeros: Buffer | undefined;

function checkRelative(rel: string): void {
  const n = normalize(rel);
  if (rel.length === 0 || n.startsWith('..') || n.startsWith(sep) || n.split(sep).includes('..')) {
    throw new InteropError('BAD_ARGUMENT', `bad payload path ${JSON.stringify(rel)}`);
  }
}

/** The deterministic bytes of one payload file, as a stream of chunks (also used to verify). */
export function* payloadChunks(seed: string | number, relativePath: string, size: number): Generator<Buffer> {
  const digest = createHash('sha256').update(`${String(seed)}\0${relativePath}`).digest();
  const cipher = createCipheriv('aes-128-ctr', digest.subarray(0, 16), digest.subarray(16, 32));
  zeros ??= Buffer.alloc(CHUNK);
  for (let left = size; left > 0; left -= CHUNK) {
    yield cipher.update(left >= CHUNK ? zeros : zeros.subarray(0, left));
  }
}

/** Writes the payload under `dir` (created if needed) and returns where everything is. */
export async function makePayload(dir: string, spec: PayloadSpec): Promise<Payload> {
  checkRelative(spec.name);
  const seed = spec.seed ?? spec.name;
  const multiFile = 'files' in spec;
  const entries: PayloadFileSpec[] = multiFile ? [...spec.files] : [{ path: spec.name, size: spec.size }];
  if (multiFile && entries.length === 0) throw new InteropError('BAD_ARGUMENT', 'a multi-file payload needs at least one file');
  const root = join(dir, spec.name);
  const files: PayloadFile[] = [];
  for (const e of entries) {
    if (!Number.isSafeInteger(e.size) || e.size < 0) throw new InteropError('BAD_ARGUMENT', `bad size ${e.size} for ${e.path}`);
    checkRelative(e.path);
    const path = multiFile ? join(root, ...e.path.split('/')) : root;
    await mkdir(dirname(path), { recursive: true });
    const fh = await open(path, 'w');
    try {
      for (const chunk of payloadChunks(seed, e.path, e.size)) await fh.write(chunk);
    } finally {
      await fh.close();
    }
    files.push({ path, relativePath: e.path, size: e.size });
  }
  return {
    path: root,
    saveDir: dir,
    name: spec.name,
    files,
    totalSize: files.reduce((a, f) => a + f.size, 0),
    multiFile,
  };
}
