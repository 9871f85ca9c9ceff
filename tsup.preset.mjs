// One tsup setup for every package: ESM + CJS + .d.ts from src/index.ts (plus extra entries).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'tsup';

/** The version of the package being built (tsup runs in its folder): `__PACKAGE_VERSION__` in its code. */
const version = JSON.parse(readFileSync(join(process.cwd(), 'package.json'), 'utf8')).version;

export function libraryConfig(extra = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    define: { __PACKAGE_VERSION__: JSON.stringify(version) },
    ...extra,
  });
}
