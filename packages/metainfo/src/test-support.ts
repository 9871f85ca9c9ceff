// Helpers shared by this package's tests (not exported from index.ts).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { BencodeError } from '@mainline/bencode';
import { MetainfoError } from './errors.js';

/** The fixtures directory of the `webtorrent-fixtures` devDependency (ESM-only, so found via resolve paths). */
export function fixturesDir(): string {
  for (const base of require.resolve.paths('webtorrent-fixtures') ?? []) {
    const dir = path.join(base, 'webtorrent-fixtures', 'fixtures');
    if (existsSync(dir)) return dir;
  }
  throw new Error('webtorrent-fixtures is not installed (devDependency of @mainline/metainfo)');
}

/** `CODE path` of a MetainfoError, `bencode CODE` of a BencodeError, `no error` otherwise. */
export function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof MetainfoError) return `${e.code} ${e.path}`;
    if (e instanceof BencodeError) return `bencode ${e.code}`;
    throw e;
  }
  return 'no error';
}

/** Runs a required external tool; fails loudly (never skips) when it is not installed. */
export function runTool(cmd: string, args: string[], hint: string): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new Error(`${cmd} is required for this test but is not installed (${hint})`);
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr ?? err.message}`);
  }
}

/** Info-hash as reported by Transmission's `transmission-show`. */
export function transmissionInfoHash(file: string): string {
  const out = runTool('transmission-show', [file], 'apt-get install transmission-cli');
  const m = /^\s*Hash:\s*([0-9a-f]{40})\s*$/m.exec(out);
  if (!m) throw new Error(`no Hash line in transmission-show output:\n${out}`);
  return m[1]!;
}

/** Info-hash, name, piece count and file paths as python3-libtorrent reads them (one call for many files). */
export function libtorrentRead(files: string[]): { hash: string; name: string; pieces: number; files: string[] }[] {
  const script = [
    'import sys, json, libtorrent as lt',
    'out = []',
    'for f in sys.argv[1:]:',
    '    ti = lt.torrent_info(f)',
    '    fs = ti.files()',
    "    out.append({'hash': str(ti.info_hash()), 'name': ti.name(), 'pieces': ti.num_pieces(), 'files': [fs.file_path(i) for i in range(fs.num_files())]})",
    'print(json.dumps(out))',
  ].join('\n');
  return JSON.parse(runTool('/usr/bin/python3', ['-c', script, ...files], 'apt-get install python3-libtorrent')) as never;
}
