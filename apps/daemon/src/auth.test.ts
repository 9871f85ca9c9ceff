// Basic auth under a password-guessing attack, and how the password is passed.
import { readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, makeTempDir } from '@mainline/interop';
import { ManualClock } from '@mainline/rate';
import { AuthLimiter, clientKey } from './auth-limit.js';
import { mergeConfig } from './config.js';
import { maskPassword, startDaemon, type RunningDaemon } from './program.js';
import { http, killAll, rpcClient, spawnDaemon } from './test-helpers.js';

jest.setTimeout(60_000);
let dir: string;
let running: RunningDaemon;
let clock: ManualClock;

beforeAll(async () => {
  dir = makeTempDir('daemon-auth');
  clock = new ManualClock();
  const peerPort = await freePort();
  running = await startDaemon(
    mergeConfig({ downloadDir: join(dir, 'dl'), stateDir: join(dir, 'state'), portRange: [peerPort, peerPort + 1], bind: '127.0.0.1', rpcPort: 0, rpcUsername: 'alice', rpcPassword: 's3cret' }),
    { log: () => undefined, clock },
  );
});

afterAll(async () => {
  killAll();
  await running?.stop();
});

const basic = (cred: string): Record<string, string> => ({ Authorization: `Basic ${Buffer.from(cred).toString('base64')}` });
const attempt = (cred: string, localAddress = '127.0.0.1'): Promise<number> =>
  http(running.server.port, { method: 'GET', path: '/', headers: basic(cred), localAddress }).then((r) => r.status);

test('2,300 guesses from one address: 5 are checked, the rest get 429 (even the right password); others are not locked out', async () => {
  const statuses = new Map<number, number>();
  // One second of the attack as measured before (~2,300 guesses/s, all answered 401).
  for (let i = 0; i < 2300; i += 50) {
    const batch = await Promise.all(Array.from({ length: 50 }, (_, k) => attempt(`alice:guess${i + k}`)));
    for (const s of batch) statuses.set(s, (statuses.get(s) ?? 0) + 1);
  }
  expect(statuses.get(401)).toBe(6); // 5 free, the 6th locks the address out for 1 s
  expect(statuses.get(429)).toBe(2300 - 6);
  const locked = await http(running.server.port, { method: 'GET', path: '/', headers: basic('alice:s3cret') });
  expect(locked.status).toBe(429);
  expect(locked.headers['retry-after']).toBe('1');
  // Another client (address) is not affected, and a request without credentials is not a guess.
  expect(await attempt('alice:s3cret', '127.0.0.2')).toBe(200);
  for (let i = 0; i < 10; i++) expect((await http(running.server.port, { method: 'GET', path: '/', localAddress: '127.0.0.3' })).status).toBe(401);
  expect(await attempt('alice:s3cret', '127.0.0.3')).toBe(200);
  // After the wait the next wrong guess doubles it; the right password then clears the address.
  clock.advance(1000);
  expect(await attempt('alice:wrong')).toBe(401);
  expect(await attempt('alice:s3cret')).toBe(429);
  clock.advance(1999);
  expect(await attempt('alice:s3cret')).toBe(429);
  clock.advance(1);
  expect(await attempt('alice:s3cret')).toBe(200);
  expect(await attempt('alice:wrong')).toBe(401); // counting starts afresh
  expect((await rpcClient(running.server.port, 'alice:s3cret')('session-get', { fields: ['version'] })).result).toBe('success');
});

test('the limiter: doubling waits up to 15 min, forgetting after an hour, a bounded table, IPv6 per /64', () => {
  const c = new ManualClock();
  const l = new AuthLimiter({ clock: c, maxTracked: 100 });
  const waits: number[] = [];
  for (let i = 0; i < 16; i++) {
    l.failed('192.0.2.1');
    waits.push(l.retryAfterMs('192.0.2.1'));
    c.advance(waits.at(-1)!);
  }
  expect(waits).toEqual([0, 0, 0, 0, 0, 1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 512_000, 900_000]);
  c.advance(60 * 60_000);
  expect(l.retryAfterMs('192.0.2.1')).toBe(0);
  l.failed('192.0.2.1');
  expect(l.retryAfterMs('192.0.2.1')).toBe(0); // forgotten: one failure again
  for (let i = 0; i < 1000; i++) l.failed(`10.0.${i >> 8}.${i & 255}`);
  expect(l.size).toBeLessThanOrEqual(100);
  expect(clientKey('2001:db8:1:2:3:4:5:6')).toBe(clientKey('2001:db8:1:2::9'));
  expect(clientKey('2001:db8:1:2::9')).not.toBe(clientKey('2001:db8:1:3::9'));
  expect(clientKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
});

test('--rpc-password: a warning, and ps no longer shows it; the environment variable and a private config file do not warn', async () => {
  expect(maskPassword(['node', 'mainlined.js', '--rpc-password', 'hunter2', '--rpc-password=x'])).toEqual(['node', 'mainlined.js', '--rpc-password', '***', '--rpc-password=***']);
  const base = { stateDir: join(dir, 'ps-state'), downloadDir: join(dir, 'ps-dl') };
  const flag = await spawnDaemon({ ...base, args: ['--rpc-username', 'alice', '--rpc-password', 'hunter2'] });
  expect(flag.output()).toContain('warning: --rpc-password shows in ps');
  const cmdline = readFileSync(`/proc/${flag.proc.pid}/cmdline`, 'utf8');
  expect(cmdline).not.toContain('hunter2');
  expect(cmdline).toContain('--rpc-password ***');
  expect(await rpcClient(flag.rpcPort, 'alice:hunter2')('session-get', { fields: ['version'] })).toMatchObject({ result: 'success' });
  flag.kill('SIGKILL');
  await flag.exited;

  const env = await spawnDaemon({ ...base, args: ['--rpc-username', 'alice'], env: { MAINLINED_RPC_PASSWORD: 'hunter3' } });
  expect(env.output()).not.toContain('warning');
  expect(await rpcClient(env.rpcPort, 'alice:hunter3')('session-get', { fields: ['version'] })).toMatchObject({ result: 'success' });
  env.kill('SIGKILL');
  await env.exited;

  const config = join(dir, 'auth.json');
  writeFileSync(config, JSON.stringify({ rpcUsername: 'alice', rpcPassword: 'hunter4' }));
  chmodSync(config, 0o644);
  const open = await spawnDaemon({ ...base, args: ['--config', config] });
  expect(open.output()).toContain(`warning: ${config} holds rpcPassword and other users may read it: chmod 600 ${config}`);
  open.kill('SIGKILL');
  await open.exited;
  chmodSync(config, 0o600);
  const tight = await spawnDaemon({ ...base, args: ['--config', config] });
  expect(tight.output()).not.toContain('warning');
  expect(await rpcClient(tight.rpcPort, 'alice:hunter4')('session-get', { fields: ['version'] })).toMatchObject({ result: 'success' });
  tight.kill('SIGKILL');
});
