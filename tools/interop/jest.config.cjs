// Real clients on loopback: allow generous per-test time; tests run one file at a time so
// the 2 cores are not shared between two swarms.
module.exports = { ...require('../../jest.preset.cjs'), testTimeout: 60000, maxWorkers: 1 };
