export {
  Choker,
  type ChokablePeer,
  type ChokerOptions,
  ChokerError,
  type ChokerErrorCode,
  DEFAULT_MAX_UPLOADS,
  DEFAULT_MIN_UPLOADS,
  DEFAULT_SNUB_TIME_MS,
  DEFAULT_RECHOKE_INTERVAL_MS,
  DEFAULT_OPTIMISTIC_EVERY,
} from './choker.js';
