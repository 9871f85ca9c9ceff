export { type Clock, type TimerHandle, systemClock, ManualClock } from './clock.js';
export { TimerQueue } from './timer-queue.js';
export { RateError, type RateErrorCode } from './errors.js';
export {
  RateMeasure,
  type RateMeasureOptions,
  DEFAULT_MAX_RATE_PERIOD_MS,
  DEFAULT_FUDGE_MS,
  UPLOAD_RATE_FUDGE_MS,
} from './measure.js';
export { RecentRate, type RecentRateOptions, DEFAULT_RECENT_WINDOW_MS } from './recent.js';
export { SlotGate, type SlotGateOptions, type ReleaseSlot } from './slot-gate.js';
export { EtaEstimator, type EtaEstimatorOptions } from './eta.js';
export { TokenBucket, TokenLane, type Limiter, type TokenBucketOptions, type TokenTicket, type RateLimit, MIN_DEFAULT_BURST } from './bucket.js';
