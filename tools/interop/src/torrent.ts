import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseTorrent, type Metainfo } from '@mainline/metainfo';
import { InteropError } from './errors.js';
import { requireProgram, runSync } from './proc.js';

export interface MakeTorrentOptions {
  /** Bytes, a power of two from 32 KiB to 256 MiB (mktorrent's range); default 256 KiB. */
  readonly pieceLength?: number;
  /** Announce URLs; each entry is a tier (a string or the URLs of one tier). Empty: a trackerless torrent. */
  readonly trackers?: readonly (string | readonly string[])[];
  readonly private?: boolean;
  /** Where to write the .torrent; default `${payloadPath}.torrent`. */
  readonly outPath?: string;
  readonly comment?: string;
  readonly webSeeds?: readonly string[];
}

export interface MadeTorrent {
  readonly path: string;
  /** The .torrent bytes as written by mktorrent. */
  readonly bytes: Uint8Array;
  /** Lowercase hex SHA-1 of the bencoded info dict. */
  readonly infoHash: string;
  readonly infoHashBytes: Uint8Array;
  readonly metainfo: Metainfo;
}

/** Creates a .torrent for a file or directory with `mktorrent`, the reference creator. */
export function makeTorrent(payloadPath: string, opts: MakeTorrentOptions = {}): MadeTorrent {
  const mktorrent = requireProgram('mktorrent', 'apt-get install mktorrent');
  const pieceLength = opts.pieceLength ?? 256 * 1024;
  const log2 = Math.log2(pieceLength);
  if (!Number.isInteger(log2) || log2 < 15 || log2 > 28) {
    throw new InteropError('BAD_ARGUMENT', `pieceLength must be a power of two from 32 KiB to 256 MiB, got ${pieceLength}`);
  }
  const out = opts.outPath ?? `${payloadPath}.torrent`;
  rmSync(out, { force: true }); // mktorrent refuses to overwrite
  const args = ['-d', '-l', String(log2), '-o', out, '-t', String(Math.max(1, cpus().length))];
  for (const tier of opts.trackers ?? []) args.push('-a', typeof tier === 'string' ? tier : tier.join(','));
  if (opts.private) args.push('-p');
  if (opts.comment !== undefined) args.push('-c', opts.comment);
  if (opts.webSeeds && opts.webSeeds.length > 0) args.push('-w', opts.webSeeds.join(','));
  args.push(payloadPath);
  runSync(mktorrent, args);
  const bytes = new Uint8Array(readFileSync(out));
  const metainfo = parseTorrent(bytes);
  return { path: out, bytes, infoHash: metainfo.infoHash, infoHashBytes: metainfo.infoHashBytes, metainfo };
}

/**
 * A .torrent that claims `length` bytes (e.g. 10 TB) without any data behind it: random piece
 * hashes, one file, or `files` under a directory `name`. For tests of what a client does with a
 * torrent too large for the disk; nothing ever verifies. Nothing is written (`path` is empty).
 */
export function makeClaimTorrent(name: string, length: number, opts: { pieceLength?: number; files?: readonly { path: string; length: number }[] } = {}): MadeTorrent {
  const pieceLength = opts.pieceLength ?? 64 * 1024 * 1024;
  const total = opts.files ? opts.files.reduce((n, f) => n + f.length, 0) : length;
  const pieces = randomBytes(20 * Math.ceil(total / pieceLength));
  const str = (s: string | Buffer): Buffer => Buffer.concat([Buffer.from(`${Buffer.byteLength(s)}:`), Buffer.from(s)]);
  const body = opts.files
    ? Buffer.concat([
        Buffer.from('5:filesl'),
        ...opts.files.map((f) => Buffer.concat([Buffer.from(`d6:lengthi${f.length}e4:pathl`), ...f.path.split('/').map((c) => str(c)), Buffer.from('ee')])),
        Buffer.from('e'),
      ])
    : Buffer.from(`6:lengthi${length}e`);
  const info = Buffer.concat([Buffer.from('d'), body, str('name'), str(name), Buffer.from(`12:piece lengthi${pieceLength}e`), str('pieces'), str(pieces), Buffer.from('e')]);
  const bytes = new Uint8Array(Buffer.concat([Buffer.from('d4:info'), info, Buffer.from('e')]));
  const metainfo = parseTorrent(bytes);
  return { path: '', bytes, infoHash: metainfo.infoHash, infoHashBytes: metainfo.infoHashBytes, metainfo };
}
