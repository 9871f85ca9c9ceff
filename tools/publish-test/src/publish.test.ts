// The release path, end to end, as a user meets it: `changeset version` in a copy of this
// workspace, `changeset publish` of every package to a real registry on loopback (Verdaccio),
// then npm installs of single packages into empty directories, and a global install of the CLI,
// each followed by a use. The repository itself is never modified.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalRegistry, type LocalRegistry } from './registry.js';
import { publishedPackages, readManifest, workspaceRoot, type WorkspacePackage } from './workspace.js';

interface Ran {
  stdout: string;
  stderr: string;
}

/** Runs a command, with plain output (nx sets FORCE_COLOR); a failure's message carries both output streams. */
function sh(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Ran> {
  const env: NodeJS.ProcessEnv = { ...(opts.env ?? process.env), NO_COLOR: '1' };
  delete env.FORCE_COLOR;
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: opts.cwd, env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 1 << 26 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${cmd} ${args.join(' ')} (in ${opts.cwd}) failed: ${error.message}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

/** Packages under a node_modules tree (scoped ones counted by package), and its size. */
async function footprint(nodeModules: string): Promise<{ packages: number; bytes: number }> {
  const { stdout } = await sh('du', ['-sb', nodeModules], { cwd: nodeModules });
  const { stdout: manifests } = await sh('find', [nodeModules, '-name', 'package.json', '-path', '*/node_modules/*'], { cwd: nodeModules });
  const roots = new Set(
    manifests
      .split('\n')
      .filter(Boolean)
      .map((m) => /^(.*\/node_modules\/(?:@[^/]+\/)?[^/]+)\/package\.json$/.exec(m)?.[1])
      .filter((d): d is string => d !== undefined),
  );
  return { packages: roots.size, bytes: Number(stdout.split('\t')[0]) };
}

/** git status of what `changeset version` and a publish change: manifests, changelogs, changesets, lockfile. */
async function releaseFilesStatus(): Promise<string> {
  const paths = [':(glob)**/package.json', ':(glob)**/CHANGELOG.md', '.changeset', 'pnpm-lock.yaml'];
  return (await sh('git', ['status', '--porcelain', '--', ...paths], { cwd: workspaceRoot })).stdout;
}

let work: string;
let registry: LocalRegistry | undefined;
let released: Map<string, string>;
const timings: string[] = [];
let statusBefore: string;

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    timings.push(`${label}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
}

beforeAll(async () => {
  statusBefore = await releaseFilesStatus();
  work = await mkdtemp(join(tmpdir(), 'mainline-release-'));
  registry = await timed('verdaccio up', () => startLocalRegistry(join(work, 'registry')));
});

afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
  process.stdout.write(`publish test timings:\n  ${timings.join('\n  ')}\n`);
});

test('changeset version in a copy of the workspace, a build of the versioned packages, then pnpm publish-packages: every package to the loopback registry', async () => {
  const env = registry!.env;
  const repo = join(work, 'repo');
  const published: WorkspacePackage[] = await publishedPackages();
  await timed('copy workspace', async () => {
    // What a clone has (tracked and new files, nothing ignored), plus each package's built dist/.
    const { stdout } = await sh('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--deduplicate'], { cwd: workspaceRoot });
    const files = stdout.split('\0').filter(Boolean);
    for (const f of files) await cp(join(workspaceRoot, f), join(repo, f), { force: true, errorOnExist: false }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e; // deleted in the work tree, not yet committed
    });
    for (const p of published) await cp(join(p.dir, 'dist'), join(repo, p.rel, 'dist'), { recursive: true });
  });
  const { stdout: storeDir } = await sh('pnpm', ['store', 'path'], { cwd: workspaceRoot });
  await timed('pnpm install (offline, in the copy)', () =>
    sh('pnpm', ['install', '--offline', '--frozen-lockfile', '--ignore-scripts', '--store-dir', storeDir.trim()], { cwd: repo, env }),
  );
  const pending = (await readdir(join(repo, '.changeset'))).filter((f) => f.endsWith('.md') && f !== 'README.md');
  await timed('pnpm changeset version', () => sh('pnpm', ['changeset', 'version'], { cwd: repo, env }));
  released = new Map(published.map((p) => [p.name, readManifest(join(repo, p.rel)).version]));
  // Pending changesets were applied: some version moved, and the changeset files were consumed.
  if (pending.length > 0) {
    expect(published.some((p) => released.get(p.name) !== p.version)).toBe(true);
    expect((await readdir(join(repo, '.changeset'))).filter((f) => pending.includes(f))).toEqual([]);
  }
  // `pnpm release` builds after versioning, then publishes (and tags). Here only the packages whose
  // code has their version in it (src/version.ts, put in at build time) are built again: the
  // others' copied dist/ is what a build would make (a full build would double this test's time).
  const versioned = published.filter((p) => existsSync(join(p.dir, 'src', 'version.ts'))).map((p) => p.name);
  expect(versioned).toContain('@mainline/cli');
  await timed(`build ${versioned.join(', ')}`, () =>
    sh('pnpm', ['nx', 'run-many', '-t', 'build', '-p', ...versioned, '--exclude-task-dependencies', '--skip-nx-cache'], {
      cwd: repo,
      env: { ...env, NX_DAEMON: 'false', NX_TUI: 'false', NX_NO_CLOUD: 'true' },
      timeoutMs: 300_000,
    }),
  );
  await timed('pnpm publish-packages', () => sh('pnpm', ['publish-packages'], { cwd: repo, env, timeoutMs: 180_000 }));

  for (const [name, version] of released) {
    const res = await fetch(`${registry!.url}${name.replace('/', '%2f')}`);
    const doc = (await res.json()) as { 'dist-tags'?: { latest?: string }; versions?: Record<string, { dependencies?: Record<string, string> }> };
    expect([name, doc['dist-tags']?.latest]).toEqual([name, version]);
    // Published dependencies on our packages are the released versions, not workspace: ranges.
    for (const [dep, range] of Object.entries(doc.versions?.[version]?.dependencies ?? {})) {
      if (dep.startsWith('@mainline/')) expect([name, dep, range]).toEqual([name, dep, released.get(dep)]);
    }
  }
  // The repository is untouched: versioning and publishing happened in the copy.
  expect(await releaseFilesStatus()).toBe(statusBefore);
}, 420_000);

test('npm install @mainline/bencode alone, in an empty directory, then import it as ESM and require it as CJS', async () => {
  expect(released).toBeDefined();
  const dir = join(work, 'bencode-user');
  await mkdir(dir);
  await timed('npm install @mainline/bencode', () => sh('npm', ['install', '@mainline/bencode'], { cwd: dir, env: registry!.env }));
  expect(await readdir(join(dir, 'node_modules', '@mainline'))).toEqual(['bencode']);
  expect((await readdir(join(dir, 'node_modules'))).filter((e) => !e.startsWith('.'))).toEqual(['@mainline']);
  await writeFile(
    join(dir, 'esm.mjs'),
    "import { decode, encode, toText } from '@mainline/bencode';\nconst d = decode(encode({ hello: 'world', n: 42 }));\nconsole.log(toText(d.get('hello')), d.get('n'));\n",
  );
  await writeFile(join(dir, 'cjs.cjs'), "const { encode } = require('@mainline/bencode');\nconsole.log(Buffer.from(encode(['spam', 7])).toString());\n");
  expect((await sh(process.execPath, ['esm.mjs'], { cwd: dir })).stdout).toBe('world 42\n');
  expect((await sh(process.execPath, ['cjs.cjs'], { cwd: dir })).stdout).toBe('l4:spami7ee\n');
});

test('npm install @mainline/session, then start and close a session from ESM and from CJS', async () => {
  expect(released).toBeDefined();
  const dir = join(work, 'session-user');
  await mkdir(dir);
  await timed('npm install @mainline/session', () => sh('npm', ['install', '@mainline/session'], { cwd: dir, env: registry!.env }));
  const { stdout: version } = await sh(process.execPath, ['-p', "require('@mainline/session/package.json').version"], { cwd: dir });
  expect(version.trim()).toBe(released.get('@mainline/session'));
  const use = (load: string) =>
    `${load}\nconst session = new Session({ portRange: [0, 0], bind: '127.0.0.1' });\n` +
    "session.listen().then(async (port) => { console.log(port > 0 ? 'listening' : 'no port'); await session.close(); console.log('closed'); });\n";
  await writeFile(join(dir, 'esm.mjs'), use("import { Session } from '@mainline/session';"));
  await writeFile(join(dir, 'cjs.cjs'), use("const { Session } = require('@mainline/session');"));
  expect((await sh(process.execPath, ['esm.mjs'], { cwd: dir })).stdout).toBe('listening\nclosed\n');
  expect((await sh(process.execPath, ['cjs.cjs'], { cwd: dir })).stdout).toBe('listening\nclosed\n');
});

test('npm install -g @mainline/cli into a fresh prefix, then mainline demo --size 8', async () => {
  expect(released).toBeDefined();
  const dir = join(work, 'cli-user');
  const prefix = join(dir, 'prefix');
  await mkdir(prefix, { recursive: true });
  await timed('npm install -g @mainline/cli', () => sh('npm', ['install', '-g', '--prefix', prefix, '@mainline/cli'], { cwd: dir, env: registry!.env }));
  const bin = join(prefix, 'bin', 'mainline');
  expect((await sh(bin, ['--version'], { cwd: dir })).stdout.trim()).toBe(released.get('@mainline/cli'));
  const demo = await timed('mainline demo --size 8', () => sh(bin, ['demo', '--size', '8'], { cwd: dir, env: { ...registry!.env, TMPDIR: dir } }));
  expect(demo.stdout).toContain('demo complete: the download is identical to the seed');
  const { packages, bytes } = await footprint(join(prefix, 'lib', 'node_modules'));
  timings.push(`npm install -g @mainline/cli footprint: ${packages} packages, ${(bytes / 1e6).toFixed(1)} MB`);
  // Our 9 libraries + the CLI, commander, cli-progress and its few helpers: nothing like a WebRTC stack.
  expect(packages).toBeLessThan(25);
});
