// Shared jest settings: TypeScript through @swc/jest (fast, type-checking is the `typecheck` target),
// tests live next to the code as src/**/*.test.ts.
module.exports = {
  testEnvironment: 'node',
  transform: {
    '^.+\\.(t|j|mj)s$': [
      '@swc/jest',
      {
        jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
        module: { type: 'commonjs' },
      },
    ],
  },
  // Sources import siblings as './x.js' (NodeNext); jest resolves the .ts file.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testMatch: ['<rootDir>/src/**/*.test.ts'],
  testTimeout: 30000,
  // What tsup's define puts in at build time (see tsup.preset.mjs): the tested package's version.
  globals: { __PACKAGE_VERSION__: require(require('node:path').join(process.cwd(), 'package.json')).version },
  reporters: ['default', require.resolve('./tools/jest/summary-reporter.cjs')],
};
