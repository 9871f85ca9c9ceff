// The turtle (alternate speed limits) and its schedule, on a ManualClock set to local times: with
// an in-process daemon over minutes (the session's limiters follow it, kept across a restart), and
// TurtleSchedule alone over a week (edges only, a user's toggle holds until the next one).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, makeTempDir } from '@mainline/interop';
import { ManualClock, type RateLimit } from '@mainline/rate';
import { ALT_SPEED_DEFAULTS, inTurtleTime, TurtleSchedule, type AltSpeedSettings } from './alt-speed.js';
import { mergeConfig } from './config.js';
import { startDaemon, type RunningDaemon } from './program.js';
import { rpcClient } from './test-helpers.js';

const daemons: RunningDaemon[] = [];
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
});

// Local wall-clock times (whatever the machine's zone): 2026-12-07 is a Monday.
const at = (day: number, h: number, m = 0): number => new Date(2026, 11, day, h, m).getTime();
const SUN = 1;
const MON = 2;
const SAT = 64;

test('inTurtleTime: Transmission\'s table, days as a mask from Sunday = 1, nights past midnight', () => {
  expect(inTurtleTime(at(7, 8, 59), 540, 1020, MON)).toBe(false);
  expect(inTurtleTime(at(7, 9, 0), 540, 1020, MON)).toBe(true);
  expect(inTurtleTime(at(7, 16, 59), 540, 1020, MON)).toBe(true);
  expect(inTurtleTime(at(7, 17, 0), 540, 1020, MON)).toBe(false);
  expect(inTurtleTime(at(8, 10, 0), 540, 1020, MON)).toBe(false); // Tuesday
  expect(inTurtleTime(at(6, 10, 0), 540, 1020, SUN)).toBe(true);
  // 22:00 to 06:00 on Saturdays: Saturday night runs into Sunday morning, not Friday's.
  expect(inTurtleTime(at(12, 23, 0), 1320, 360, SAT)).toBe(true);
  expect(inTurtleTime(at(13, 5, 59), 1320, 360, SAT)).toBe(true);
  expect(inTurtleTime(at(13, 6, 0), 1320, 360, SAT)).toBe(false);
  expect(inTurtleTime(at(11, 23, 0), 1320, 360, SAT)).toBe(false);
  expect(inTurtleTime(at(12, 5, 0), 1320, 360, SAT)).toBe(false);
  // Begin == end: 24 hours from begin; no day chosen: never.
  expect(inTurtleTime(at(7, 9, 59), 600, 600, MON)).toBe(false);
  expect(inTurtleTime(at(7, 10, 0), 600, 600, MON)).toBe(true);
  expect(inTurtleTime(at(8, 9, 59), 600, 600, MON)).toBe(true);
  expect(inTurtleTime(at(8, 10, 0), 600, 600, MON)).toBe(false);
  expect(inTurtleTime(at(7, 12, 0), 0, 1439, 0)).toBe(false);
});

test('alt-speed-* over RPC: applied to the session limits, the schedule switches at its edges, a toggle holds until the next one, kept across a restart', async () => {
  const dir = makeTempDir('daemon-turtle');
  const clock = new ManualClock(at(7, 8, 58)); // Monday 08:58
  const peerPort = await freePort();
  const config = mergeConfig({ downloadDir: join(dir, 'dl'), stateDir: join(dir, 'state'), portRange: [peerPort, peerPort], bind: '127.0.0.1', rpcPort: 0 });
  const log: string[] = [];
  const first = await startDaemon(config, { log: (l) => log.push(l), clock });
  daemons.push(first);
  const rpc = rpcClient(first.server.port);
  const session = first.daemon.session;
  const limits = (): [RateLimit, RateLimit] => [session.uploadLimiter.limit, session.downloadLimiter.limit];
  const turtle = async (): Promise<unknown> => (await rpc('session-get', { fields: ['alt-speed-enabled'] })).arguments['alt-speed-enabled'];

  // Defaults as Transmission's.
  const defaults = (await rpc('session-get')).arguments;
  expect(defaults).toMatchObject({ 'alt-speed-up': 50, 'alt-speed-down': 50, 'alt-speed-enabled': false, 'alt-speed-time-enabled': false, 'alt-speed-time-begin': 540, 'alt-speed-time-end': 1020, 'alt-speed-time-day': 127 });

  // Normal limits 100 up / off down; the turtle on by hand: 30 / 40 kB/s; off again: back.
  expect((await rpc('session-set', { 'speed-limit-up': 100, 'speed-limit-up-enabled': true, 'alt-speed-up': 30, 'alt-speed-down': 40 })).result).toBe('success');
  expect(limits()).toEqual([100_000, 0]);
  await rpc('session-set', { 'alt-speed-enabled': true });
  expect(limits()).toEqual([30_000, 40_000]);
  expect(await turtle()).toBe(true);
  // Changing the normal limits while the turtle is on does not lift it.
  await rpc('session-set', { 'speed-limit-down': 500, 'speed-limit-down-enabled': true });
  expect(limits()).toEqual([30_000, 40_000]);
  await rpc('session-set', { 'alt-speed-enabled': false });
  expect(limits()).toEqual([100_000, 500_000]);

  // Bad values are errors that name the argument, and change nothing.
  for (const [k, v] of [['alt-speed-up', -1], ['alt-speed-down', -5], ['alt-speed-time-begin', 1440], ['alt-speed-time-day', 128], ['alt-speed-enabled', 'yes']] as const) {
    const r = await rpc('session-set', { [k]: v });
    expect(r.result).toContain(`"${k}"`);
  }
  expect(limits()).toEqual([100_000, 500_000]);
  // A turtle limit of 0 is no traffic that way while the turtle is on (as Transmission).
  expect((await rpc('session-set', { 'alt-speed-up': 0, 'alt-speed-enabled': true })).result).toBe('success');
  expect(limits()).toEqual(['none', 40_000]);
  await rpc('session-set', { 'alt-speed-up': 30, 'alt-speed-enabled': false });
  expect(limits()).toEqual([100_000, 500_000]);

  // The schedule: Mondays 09:00-17:00. Enabled at 08:58: off now; on at 09:00 (the session runs on
  // the same clock, so the daemon test moves minutes, not days: the week is TurtleSchedule's test).
  await rpc('session-set', { 'alt-speed-time-enabled': true, 'alt-speed-time-begin': 540, 'alt-speed-time-end': 1020, 'alt-speed-time-day': MON });
  expect(await turtle()).toBe(false);
  clock.advanceTo(at(7, 8, 59) + 59_000);
  expect(await turtle()).toBe(false);
  clock.advanceTo(at(7, 9, 0));
  expect(await turtle()).toBe(true);
  expect(limits()).toEqual([30_000, 40_000]);
  // The user turns it off at 09:01: it stays off (the next edge is 17:00).
  clock.advanceTo(at(7, 9, 1));
  await rpc('session-set', { 'alt-speed-enabled': false });
  clock.advanceTo(at(7, 9, 4));
  expect(await turtle()).toBe(false);
  expect(limits()).toEqual([100_000, 500_000]);
  expect(log.filter((l) => l.startsWith('turtle'))).toEqual(['turtle on by the schedule']);

  // Changing the schedule applies its answer at once: 09:00-09:10 every day, now 09:04.
  await rpc('session-set', { 'alt-speed-time-begin': 540, 'alt-speed-time-end': 550, 'alt-speed-time-day': 127 });
  expect(await turtle()).toBe(true);
  await first.stop();

  // Kept across a restart (session.json), the schedule deciding at start: 09:06, on; 09:10, off.
  const state = JSON.parse(readFileSync(join(dir, 'state', 'session.json'), 'utf8')) as Record<string, unknown>;
  expect(state).toMatchObject({ altSpeedUp: 30, altSpeedDown: 40, altSpeedTimeEnabled: true, altSpeedTimeBegin: 540, altSpeedTimeEnd: 550, altSpeedTimeDay: 127 });
  clock.advanceTo(at(7, 9, 6));
  const second = await startDaemon(config, { log: () => undefined, clock });
  daemons.push(second);
  const rpc2 = rpcClient(second.server.port);
  expect((await rpc2('session-get')).arguments).toMatchObject({ 'alt-speed-up': 30, 'alt-speed-down': 40, 'alt-speed-enabled': true, 'alt-speed-time-enabled': true, 'alt-speed-time-begin': 540, 'alt-speed-time-end': 550, 'alt-speed-time-day': 127 });
  expect([second.daemon.session.uploadLimiter.rate, second.daemon.session.downloadLimiter.rate]).toEqual([30_000, 40_000]);
  clock.advanceTo(at(7, 9, 10));
  expect((await rpc2('session-get', { fields: ['alt-speed-enabled'] })).arguments['alt-speed-enabled']).toBe(false);
  expect([second.daemon.session.uploadLimiter.rate, second.daemon.session.downloadLimiter.rate]).toEqual([100_000, 500_000]);
});

test('TurtleSchedule over a week: it switches at its edges only, a toggle by hand holds until the next one', () => {
  const clock = new ManualClock(at(7, 8, 58)); // Monday 08:58
  const settings: AltSpeedSettings = { ...ALT_SPEED_DEFAULTS, altSpeedTimeEnabled: true, altSpeedTimeBegin: 540, altSpeedTimeEnd: 1020, altSpeedTimeDay: MON };
  const turns: string[] = [];
  const schedule = new TurtleSchedule(clock, () => settings, (on) => {
    turns.push(`${new Date(clock.now()).getDate()} ${new Date(clock.now()).getHours()}:${String(new Date(clock.now()).getMinutes()).padStart(2, '0')} ${on ? 'on' : 'off'}`);
    settings.altSpeedEnabled = on;
  });
  const byHand = (on: boolean): void => void (settings.altSpeedEnabled = on);
  schedule.poke();
  expect(settings.altSpeedEnabled).toBe(false);
  clock.advanceTo(at(7, 9, 0));
  expect(settings.altSpeedEnabled).toBe(true);
  // Off by hand at 10:00: off until the next edge (17:00 says off: no change, so all day).
  clock.advanceTo(at(7, 10, 0));
  byHand(false);
  clock.advanceTo(at(7, 16, 59));
  expect(settings.altSpeedEnabled).toBe(false);
  // On by hand in the evening: the next edge is next Monday 09:00; Tuesday is not a chosen day.
  clock.advanceTo(at(7, 20, 0));
  byHand(true);
  clock.advanceTo(at(8, 9, 30));
  expect(settings.altSpeedEnabled).toBe(true);
  byHand(false);
  clock.advanceTo(at(14, 9, 0));
  expect(settings.altSpeedEnabled).toBe(true);
  clock.advanceTo(at(14, 17, 0));
  expect(settings.altSpeedEnabled).toBe(false);
  expect(turns).toEqual(['7 9:00 on', '14 9:00 on', '14 17:00 off']);
  // One timer at a time, none once closed; a schedule turned off arms none.
  expect(clock.pendingTimers).toBe(1);
  schedule.close();
  expect(clock.pendingTimers).toBe(0);
  settings.altSpeedTimeEnabled = false;
  schedule.poke();
  expect(clock.pendingTimers).toBe(0);
});
