// The release tests pack every package and run a registry: one file at a time (two cores), with
// generous time per test.
module.exports = { ...require('../../jest.preset.cjs'), testTimeout: 180000, maxWorkers: 1 };
