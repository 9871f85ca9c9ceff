// pnpm hooks for this workspace.
//
// beforePacking (pnpm pack / pnpm publish / changeset publish): a published manifest must name
// only packages that are published. Tests of some packages use private workspace tools
// (@mainline/interop, ...) as devDependencies; those entries are dropped from the packed
// package.json (the repository's package.json keeps them, so nx and pnpm still see the edge).
const { readdirSync, readFileSync } = require('node:fs');
const { join } = require('node:path');

const root = __dirname;

/** Names of the workspace's private packages, from the globs of pnpm-workspace.yaml ("dir/*" or "dir"). */
function privateWorkspacePackages() {
  const globs = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8')
    .split('\n')
    .map((line) => /^\s*-\s*["']?([^"'\s]+)["']?\s*$/.exec(line)?.[1])
    .filter((glob) => glob !== undefined);
  const dirs = globs.flatMap((glob) =>
    glob.endsWith('/*')
      ? readdirSync(join(root, glob.slice(0, -2)), { withFileTypes: true })
          .filter((e) => e.isDirectory())
          .map((e) => join(root, glob.slice(0, -2), e.name))
      : [join(root, glob)],
  );
  const names = new Set();
  for (const dir of dirs) {
    let manifest;
    try {
      manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    } catch {
      continue; // not a package (tools/install-system-deps.sh's siblings without a manifest)
    }
    if (manifest.private === true) names.add(manifest.name);
  }
  return names;
}

function beforePacking(pkg) {
  const hidden = privateWorkspacePackages();
  for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
    for (const name of Object.keys(pkg[field] ?? {})) {
      if (hidden.has(name)) throw new Error(`${pkg.name}: ${field} names the private package ${name}, which is never published`);
    }
  }
  if (pkg.devDependencies) {
    for (const name of Object.keys(pkg.devDependencies)) if (hidden.has(name)) delete pkg.devDependencies[name];
    if (Object.keys(pkg.devDependencies).length === 0) delete pkg.devDependencies;
  }
  return pkg;
}

module.exports = { hooks: { beforePacking } };
