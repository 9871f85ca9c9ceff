// Real clients on loopback: generous per-test time, and one test file at a time so two swarms
// never share the 2 cores.
module.exports = { ...require('../../jest.preset.cjs'), testTimeout: 90000, maxWorkers: 1 };
