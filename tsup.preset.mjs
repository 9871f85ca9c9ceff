// One tsup setup for every package: ESM + CJS + .d.ts from src/index.ts (plus extra entries).
import { defineConfig } from 'tsup';

export function libraryConfig(extra = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    ...extra,
  });
}
