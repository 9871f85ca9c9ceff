export { buildProgram, runCli } from './program.js';
export { describeTorrent, info } from './info.js';
export { create, type CreateCommandOptions } from './create.js';
export { Progress, type ProgressOptions } from './progress.js';
export { formatBytes, formatDuration, formatPercent, formatRate } from './format.js';
