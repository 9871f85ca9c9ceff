// What each published package's tarball says about itself: the manifest a user's npm reads, the
// files it ships, and what installing its dependencies would cost.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installTimeWork, pack, productionClosure, publishedPackages, workspacePackages, workspaceRoot, type Pack, type WorkspacePackage } from './workspace.js';

const REPO = 'https://github.com/mainline-bt/mainline';

let dest: string;
let published: WorkspacePackage[];
let privateNames: Set<string>;
const packs = new Map<string, Pack>();

beforeAll(async () => {
  dest = await mkdtemp(join(tmpdir(), 'mainline-packs-'));
  const all = await workspacePackages();
  published = all.filter((p) => !p.private);
  privateNames = new Set(all.filter((p) => p.private).map((p) => p.name));
  // Two at a time: the machine has two cores.
  const queue = [...published];
  await Promise.all(
    [0, 1].map(async () => {
      for (let p = queue.shift(); p !== undefined; p = queue.shift()) packs.set(p.name, await pack(p.dir, dest));
    }),
  );
}, 120_000);

afterAll(async () => rm(dest, { recursive: true, force: true }));

test('the published packages are the libraries and the two apps', async () => {
  expect((await publishedPackages()).map((p) => p.rel).sort()).toEqual(
    ['apps/cli', 'apps/daemon', ...['bencode', 'bitfield', 'choker', 'connecter', 'dht', 'lsd', 'metainfo', 'piecepicker', 'rate', 'rawserver', 'rerequester', 'session', 'storage'].map((n) => `packages/${n}`)].sort(),
  );
});

test('every pack ships the MIT LICENSE, the README and its built entries, and no sources or tests', async () => {
  const license = await readFile(join(workspaceRoot, 'LICENSE'), 'utf8');
  expect(license).toMatch(/^MIT License\n/);
  for (const p of published) {
    const { files, manifest, read } = packs.get(p.name)!;
    expect([p.name, files.includes('LICENSE') && read('LICENSE')]).toEqual([p.name, license]);
    expect([p.name, manifest.license]).toEqual([p.name, 'MIT']);
    for (const f of ['README.md', 'package.json', 'dist/index.js', 'dist/index.cjs', 'dist/index.d.ts', 'dist/index.d.cts']) {
      expect([p.name, f, files.includes(f)]).toEqual([p.name, f, true]);
    }
    expect([p.name, files.filter((f) => f.startsWith('src/') || /\.test\.[cm]?[jt]s$/.test(f))]).toEqual([p.name, []]);
    for (const target of Object.values(manifest.bin ?? {})) expect([p.name, target, files.includes(target.replace(/^\.\//, ''))]).toEqual([p.name, target, true]);
  }
});

test('every manifest says where the project lives: repository (with its directory), homepage, bugs, keywords, author', () => {
  for (const p of published) {
    const { manifest } = packs.get(p.name)!;
    expect({ name: manifest.name, repository: manifest.repository, homepage: manifest.homepage, bugs: manifest.bugs }).toEqual({
      name: p.name,
      repository: { type: 'git', url: `git+${REPO}.git`, directory: p.rel },
      homepage: `${REPO}/tree/main/${p.rel}#readme`,
      bugs: { url: `${REPO}/issues` },
    });
    expect([p.name, manifest.keywords?.includes('bittorrent'), typeof manifest.author]).toEqual([p.name, true, 'string']);
  }
});

test('a published manifest names only published packages, at their versions, and no workspace: ranges', () => {
  const versions = new Map(published.map((p) => [p.name, p.version]));
  for (const p of published) {
    const { manifest } = packs.get(p.name)!;
    expect([p.name, JSON.stringify(manifest).includes('workspace:')]).toEqual([p.name, false]);
    for (const field of ['dependencies', 'devDependencies', 'peerDependencies', 'optionalDependencies'] as const) {
      for (const [dep, range] of Object.entries(manifest[field] ?? {})) {
        expect([p.name, field, dep, privateNames.has(dep)]).toEqual([p.name, field, dep, false]);
        if (dep.startsWith('@mainline/')) expect([p.name, dep, range]).toEqual([p.name, dep, versions.get(dep)]);
      }
    }
  }
});

test('installing a published package runs no install script and builds nothing natively', () => {
  for (const p of published) {
    const offenders = [...productionClosure(p.dir)]
      .map(([dir, manifest]) => [manifest.name, installTimeWork(dir, manifest)] as const)
      .filter(([, work]) => work !== undefined);
    expect([p.name, offenders]).toEqual([p.name, []]);
  }
});
