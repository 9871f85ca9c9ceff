import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startStandaloneDht } from '@mainline/dht';
import { freePort, makePayload, makeTempDir, makeTorrent, poll } from '@mainline/interop';
import { formatMagnet } from '@mainline/metainfo';
import { Session } from '@mainline/session';
import { mergeConfig } from './config.js';
import { startDaemon, type RunningDaemon } from './program.js';
import { rpcClient } from './test-helpers.js';

// `dht-enabled` is real: off by default, session-set starts the session's DHT (through the test's
// own loopback node, `dhtBootstrap`, never the public routers), a trackerless magnet then
// downloads, the node table is kept in the daemon's state directory and the setting survives a
// restart.
test('dht-enabled: off by default, switched by session-set, a trackerless magnet downloads, kept across a restart', async () => {
  const dir = makeTempDir('daemon-dht');
  const router = await startStandaloneDht({ bootstrap: [] });
  const payload = await makePayload(join(dir, 'seed'), { name: 'tl.bin', size: 400_000 });
  const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024 });
  const seeder = new Session({ portRange: [0, 0], bind: '127.0.0.1', dht: { bootstrap: [router.address] } });
  const peerPort = await freePort();
  const stateDir = join(dir, 'state');
  const config = mergeConfig({ downloadDir: join(dir, 'dl'), stateDir, portRange: [peerPort, peerPort], bind: '127.0.0.1', rpcPort: 0, dhtBootstrap: [router.address] });
  let running: RunningDaemon | undefined;
  try {
    await seeder.listen();
    await seeder.add(torrent.bytes, { savePath: payload.saveDir });
    running = await startDaemon(config, { log: () => undefined });
    let rpc = rpcClient(running.server.port);
    const dht = async (): Promise<unknown> => (await rpc('session-get', { fields: ['dht-enabled'] })).arguments['dht-enabled'];
    expect(await dht()).toBe(false);
    expect(running.daemon.session.dhtStatus()).toMatchObject({ enabled: false, running: false });

    expect((await rpc('session-set', { 'dht-enabled': true })).result).toBe('success');
    expect(await dht()).toBe(true);
    const session = running.daemon.session;
    await poll(() => session.dhtStatus().nodes >= 1 || undefined, 10_000, () => 'the DHT to join through the test node');

    const added = await rpc('torrent-add', { filename: formatMagnet({ infoHash: torrent.infoHash }) });
    const id = (added.arguments['torrent-added'] as { id: number }).id;
    await poll(
      async () => {
        const t = ((await rpc('torrent-get', { ids: [id], fields: ['percentDone'] })).arguments.torrents as { percentDone: number }[])[0];
        return t?.percentDone === 1 || undefined;
      },
      20_000,
      () => 'the trackerless magnet to complete',
      100,
    );

    await running.stop();
    expect(existsSync(join(stateDir, 'dht.dat'))).toBe(true);
    running = await startDaemon(config, { log: () => undefined });
    rpc = rpcClient(running.server.port);
    expect(await dht()).toBe(true);
    expect(running.daemon.session.dhtStatus()).toMatchObject({ enabled: true, running: true, stateFile: join(stateDir, 'dht.dat') });

    expect((await rpc('session-set', { 'dht-enabled': false })).result).toBe('success');
    expect(await dht()).toBe(false);
    const after = running.daemon.session;
    await poll(() => !after.dhtStatus().running || undefined, 5000, () => 'the DHT to stop');
    expect((await rpc('session-set', { 'dht-enabled': 'yes' })).result).toMatch(/dht-enabled/);
  } finally {
    await running?.stop();
    await seeder.close();
    await router.close();
  }
});
