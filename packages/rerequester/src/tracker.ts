import { TrackerError } from './errors.js';
import { HttpTracker, type HttpTrackerOptions } from './http.js';
import type { Tracker } from './types.js';
import { UdpTracker, type UdpTrackerOptions } from './udp.js';

/** Options for {@link createTracker}: the HTTP ones apply to http(s) URLs, the UDP ones to udp URLs. */
export interface TrackerOptions {
  http?: HttpTrackerOptions;
  udp?: UdpTrackerOptions;
}

/** A {@link Tracker} for an http:, https: or udp: URL; throws TrackerError for anything else. */
export function createTracker(url: string, options: TrackerOptions = {}): Tracker {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'http' || scheme === 'https') return new HttpTracker(url, options.http);
  if (scheme === 'udp') return new UdpTracker(url, options.udp);
  if (scheme === undefined) throw new TrackerError('BAD_URL', 'not a URL', url);
  throw new TrackerError('UNSUPPORTED_PROTOCOL', `${scheme}: trackers are not supported`, url);
}
