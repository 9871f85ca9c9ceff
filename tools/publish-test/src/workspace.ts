// The workspace as pnpm sees it, and the packs it makes: what the release tests inspect.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';

export const run = promisify(execFile);

export const workspaceRoot = join(__dirname, '..', '..', '..');

export interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  license?: string;
  author?: string;
  homepage?: string;
  keywords?: string[];
  repository?: { type?: string; url?: string; directory?: string };
  bugs?: { url?: string };
  bin?: Record<string, string>;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

export interface WorkspacePackage {
  name: string;
  version: string;
  /** Absolute directory. */
  dir: string;
  /** Directory relative to the workspace root, e.g. `packages/bencode`. */
  rel: string;
  private: boolean;
}

/** Every project of the workspace (`pnpm -r ls`), root excluded. */
export async function workspacePackages(root = workspaceRoot): Promise<WorkspacePackage[]> {
  const { stdout } = await run('pnpm', ['-r', 'ls', '--depth', '-1', '--json'], { cwd: root, maxBuffer: 1 << 24 });
  const listed = JSON.parse(stdout) as { name: string; version?: string; path: string; private: boolean }[];
  return listed
    .filter((p) => realpathSync(p.path) !== realpathSync(root))
    .map((p) => ({ name: p.name, version: p.version ?? '0.0.0', dir: p.path, rel: relative(root, p.path), private: p.private }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export async function publishedPackages(root = workspaceRoot): Promise<WorkspacePackage[]> {
  return (await workspacePackages(root)).filter((p) => !p.private);
}

export interface Pack {
  tarball: string;
  /** Paths inside the tarball, without the `package/` prefix. */
  files: string[];
  manifest: Manifest;
  read(path: string): string;
}

/** `pnpm pack` of one package into `dest` (so the workspace's pnpm hooks apply), then read back. */
export async function pack(dir: string, dest: string): Promise<Pack> {
  const { stdout } = await run('pnpm', ['pack', '--json', '--pack-destination', dest], { cwd: dir, maxBuffer: 1 << 24 });
  const tarball = (JSON.parse(stdout.slice(stdout.indexOf('{'))) as { filename: string }).filename;
  const { stdout: list } = await run('tar', ['-tzf', tarball], { maxBuffer: 1 << 24 });
  const read = (path: string): string => execFileSync('tar', ['-xzOf', tarball, `package/${path}`]).toString('utf8');
  const files = list.split('\n').filter(Boolean).map((f) => f.replace(/^package\//, '')).sort();
  return { tarball, files, manifest: JSON.parse(read('package.json')) as Manifest, read };
}

/** Where `name` resolves from `fromDir` by Node's node_modules walk (pnpm's symlinks followed). */
export function findInstalled(fromDir: string, name: string): string | undefined {
  for (let d = realpathSync(fromDir); ; d = dirname(d)) {
    const candidate = join(d, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dirname(d) === d) return undefined;
  }
}

export function readManifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;
}

/**
 * The production dependency closure of a package as installed in the workspace: every third-party
 * package a user's `npm install` would bring, by directory. Workspace packages are walked through.
 */
export function productionClosure(dir: string): Map<string, Manifest> {
  const seen = new Map<string, Manifest>();
  const walk = (from: string): void => {
    const manifest = readManifest(from);
    for (const name of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) {
      const found = findInstalled(from, name);
      if (found === undefined) {
        if (manifest.optionalDependencies?.[name] !== undefined) continue;
        throw new Error(`${manifest.name}: dependency ${name} is not installed`);
      }
      if (seen.has(found)) continue;
      seen.set(found, readManifest(found));
      walk(found);
    }
  };
  walk(dir);
  return seen;
}

/** What would make `npm install` of this package run code: install scripts, or a binding.gyp (implicit node-gyp). */
export function installTimeWork(dir: string, manifest: Manifest): string | undefined {
  for (const script of ['preinstall', 'install', 'postinstall']) {
    const body = manifest.scripts?.[script];
    if (body !== undefined) return `${script}: ${body}`;
  }
  if (existsSync(join(dir, 'binding.gyp'))) return 'binding.gyp (node-gyp rebuild)';
  return undefined;
}
