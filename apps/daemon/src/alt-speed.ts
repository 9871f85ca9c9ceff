import { systemClock, type Clock, type TimerHandle } from '@mainline/rate';
import { DaemonError } from './errors.js';

/**
 * Transmission's alternate speed limits ("turtle mode"): while on, the session's limits are these
 * instead of the normal ones. The schedule turns it on and off at fixed minutes of chosen days.
 * Rates in kB/s; begin/end in minutes after local midnight; days a bit mask, Sunday = 1,
 * Monday = 2, … Saturday = 64 (127 = every day), as in Transmission's settings.json.
 */
export interface AltSpeedSettings {
  altSpeedUp: number;
  altSpeedDown: number;
  altSpeedEnabled: boolean;
  altSpeedTimeEnabled: boolean;
  altSpeedTimeBegin: number;
  altSpeedTimeEnd: number;
  altSpeedTimeDay: number;
}

/** Transmission's defaults. */
export const ALT_SPEED_DEFAULTS: Readonly<AltSpeedSettings> = {
  altSpeedUp: 50,
  altSpeedDown: 50,
  altSpeedEnabled: false,
  altSpeedTimeEnabled: false,
  altSpeedTimeBegin: 540,
  altSpeedTimeEnd: 1020,
  altSpeedTimeDay: 127,
};

/** The setting's name in the RPC (session-get / session-set) and in Transmission's settings.json. */
export const ALT_SPEED_RPC_NAMES: Readonly<Record<keyof AltSpeedSettings, string>> = {
  altSpeedUp: 'alt-speed-up',
  altSpeedDown: 'alt-speed-down',
  altSpeedEnabled: 'alt-speed-enabled',
  altSpeedTimeEnabled: 'alt-speed-time-enabled',
  altSpeedTimeBegin: 'alt-speed-time-begin',
  altSpeedTimeEnd: 'alt-speed-time-end',
  altSpeedTimeDay: 'alt-speed-time-day',
};

export const ALT_SPEED_KEYS = Object.keys(ALT_SPEED_DEFAULTS) as (keyof AltSpeedSettings)[];
const SCHEDULE_KEYS: readonly (keyof AltSpeedSettings)[] = ['altSpeedTimeEnabled', 'altSpeedTimeBegin', 'altSpeedTimeEnd', 'altSpeedTimeDay'];

/**
 * The schedule's default clock: Node's timers, and the wall clock for the time (the schedule's
 * minutes are local wall time; a monotonic clock started before the machine's clock was set, as
 * on a board without a battery-backed clock, would be hours off for good). It may step back when
 * the wall clock is set: each check reads it afresh, so the schedule follows within a minute.
 */
export const wallClock: Clock = { ...systemClock, now: () => Date.now() };

const MINUTES_PER_DAY = 24 * 60;
const MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY;

/** Why a value is not acceptable for this setting, or undefined when it is. */
export function altSpeedProblem(key: keyof AltSpeedSettings, v: unknown): string | undefined {
  switch (key) {
    case 'altSpeedEnabled':
    case 'altSpeedTimeEnabled':
      return typeof v === 'boolean' ? undefined : 'true or false';
    case 'altSpeedUp':
    case 'altSpeedDown':
      // 0 is no traffic at all while the turtle is on, as in Transmission.
      return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? undefined : 'a number of kB/s, 0 or more (0: no traffic at all)';
    case 'altSpeedTimeBegin':
    case 'altSpeedTimeEnd':
      return Number.isInteger(v) && (v as number) >= 0 && (v as number) < MINUTES_PER_DAY ? undefined : 'minutes after midnight, 0 to 1439';
    case 'altSpeedTimeDay':
      return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 127 ? undefined : 'a day mask, 0 to 127 (Sunday 1, Monday 2, … Saturday 64)';
  }
}

/** The alt-speed arguments of a session-set, checked; a bad one is a DaemonError that names it. */
export function altSpeedFromRpc(args: Record<string, unknown>): Partial<AltSpeedSettings> {
  const out: Partial<AltSpeedSettings> = {};
  for (const key of ALT_SPEED_KEYS) {
    const name = ALT_SPEED_RPC_NAMES[key];
    let v = args[name];
    if (v === undefined) continue;
    if ((key === 'altSpeedEnabled' || key === 'altSpeedTimeEnabled') && (v === 0 || v === 1)) v = v === 1;
    const problem = altSpeedProblem(key, v);
    if (problem) throw new DaemonError(`argument "${name}" must be ${problem}`);
    Object.assign(out, { [key]: v });
  }
  return out;
}

/** The settings under their RPC names, for session-get. */
export function altSpeedToRpc(s: AltSpeedSettings): Record<string, number | boolean> {
  const out: Record<string, number | boolean> = {};
  for (const key of ALT_SPEED_KEYS) out[ALT_SPEED_RPC_NAMES[key]] = s[key];
  return out;
}

/**
 * Whether the schedule says "turtle" at this moment (local time), by Transmission's table: for
 * each chosen day the minutes from begin to end, past midnight into the next day when end is not
 * after begin (begin == end: the whole day).
 */
export function inTurtleTime(atMs: number, begin: number, end: number, days: number): boolean {
  const d = new Date(atMs);
  const minute = d.getDay() * MINUTES_PER_DAY + d.getHours() * 60 + d.getMinutes();
  const length = (end <= begin ? end + MINUTES_PER_DAY : end) - begin;
  for (let day = 0; day < 7; day++) {
    if ((days & (1 << day)) === 0) continue;
    const since = (((minute - (day * MINUTES_PER_DAY + begin)) % MINUTES_PER_WEEK) + MINUTES_PER_WEEK) % MINUTES_PER_WEEK;
    if (since < length) return true;
  }
  return false;
}

/**
 * Runs the turtle schedule on a clock: checked at every minute boundary, it switches the turtle
 * only when the schedule's answer changes, so a user's toggle holds until the next edge (as in
 * Transmission). A change to the schedule itself applies its answer at once.
 */
export class TurtleSchedule {
  readonly #clock: Clock;
  readonly #settings: () => AltSpeedSettings;
  readonly #turn: (on: boolean) => void;
  #timer: TimerHandle | undefined;
  /** The schedule's last answer (undefined: none yet, the next check applies its answer). */
  #last: boolean | undefined;

  constructor(clock: Clock, settings: () => AltSpeedSettings, turn: (on: boolean) => void) {
    this.#clock = clock;
    this.#settings = settings;
    this.#turn = turn;
  }

  /** Whether a settings change touches the schedule (then call poke()). */
  static touchesSchedule(changed: Partial<AltSpeedSettings>): boolean {
    return SCHEDULE_KEYS.some((k) => changed[k] !== undefined);
  }

  /** Starts, or restarts after the schedule changed: its answer now applies. */
  poke(): void {
    this.#last = undefined;
    this.#check();
    this.#arm();
  }

  close(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #check(): void {
    const s = this.#settings();
    if (!s.altSpeedTimeEnabled) {
      this.#last = undefined;
      return;
    }
    const on = inTurtleTime(this.#clock.now(), s.altSpeedTimeBegin, s.altSpeedTimeEnd, s.altSpeedTimeDay);
    if (on === this.#last) return;
    this.#last = on;
    if (on !== s.altSpeedEnabled) this.#turn(on);
  }

  #arm(): void {
    this.close();
    if (!this.#settings().altSpeedTimeEnabled) return;
    const now = this.#clock.now();
    const next = (Math.floor(now / 60_000) + 1) * 60_000;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#check();
      this.#arm();
    }, next - now);
  }
}
