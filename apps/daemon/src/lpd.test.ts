import { join } from 'node:path';
import { freePort, makeTempDir, poll } from '@mainline/interop';
import { mergeConfig } from './config.js';
import { startDaemon, type RunningDaemon } from './program.js';
import { rpcClient } from './test-helpers.js';

// `lpd-enabled` is real: session-get reports the setting, session-set switches the session's
// local peer discovery at once and the setting survives a restart. (Bound to loopback, LSD has
// no interface to run on, and says so: the network-namespace tests run it for real.)
test('lpd-enabled: off by default, switched by session-set, kept across a restart', async () => {
  const dir = makeTempDir('daemon-lpd');
  const peerPort = await freePort();
  const config = mergeConfig({ downloadDir: join(dir, 'dl'), stateDir: join(dir, 'state'), portRange: [peerPort, peerPort], bind: '127.0.0.1', rpcPort: 0 });
  let running: RunningDaemon | undefined = await startDaemon(config, { log: () => undefined });
  try {
    let rpc = rpcClient(running.server.port);
    const lpd = async (): Promise<unknown> => (await rpc('session-get', { fields: ['lpd-enabled'] })).arguments['lpd-enabled'];
    expect(await lpd()).toBe(false);
    expect(running.daemon.session.lsdStatus()).toMatchObject({ enabled: false, running: false, error: undefined });

    expect((await rpc('session-set', { 'lpd-enabled': true })).result).toBe('success');
    expect(await lpd()).toBe(true);
    const session = running.daemon.session;
    await poll(() => session.lsdStatus().error !== undefined, 5000, () => 'LSD to try its sockets');
    expect(session.lsdStatus()).toMatchObject({ enabled: true, running: false, error: expect.stringMatching(/no network interface/) });

    await running.stop();
    running = await startDaemon(config, { log: () => undefined });
    rpc = rpcClient(running.server.port);
    expect(await lpd()).toBe(true);
    expect(running.daemon.session.lsdStatus().enabled).toBe(true);

    expect((await rpc('session-set', { 'lpd-enabled': false })).result).toBe('success');
    expect(await lpd()).toBe(false);
    const after = running.daemon.session;
    await poll(() => after.lsdStatus().error === undefined && !after.lsdStatus().running, 5000, () => 'LSD to stop');
    expect(after.lsdStatus()).toMatchObject({ enabled: false, running: false });
    expect((await rpc('session-set', { 'lpd-enabled': 'yes' })).result).toMatch(/lpd-enabled/);
  } finally {
    await running?.stop();
  }
});
