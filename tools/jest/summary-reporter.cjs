// A jest reporter that records each package's totals in <package>/.jest-summary.json (an Nx
// output of the test target, so cached runs restore it) so `pnpm test` can close with one
// plain line for the whole repository: "N passed, N failed".
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

class SummaryReporter {
  constructor(globalConfig) {
    this.rootDir = globalConfig.rootDir;
  }

  onRunComplete(_contexts, results) {
    writeFileSync(
      join(this.rootDir, '.jest-summary.json'),
      JSON.stringify({
        passed: results.numPassedTests,
        failed: results.numFailedTests + results.numRuntimeErrorTestSuites,
        skipped: results.numPendingTests + results.numTodoTests,
      }),
    );
  }
}

module.exports = SummaryReporter;
