// transmission-remote 3.00 `-p` (peer-port) and `-pr` (peer-limit-global) while the daemon runs:
// the port moves (the old one closes, a peer dialling the new one downloads, port-test checks the
// new one, kept across a restart) and the global peer limit closes connections over it at once;
// `-Bh` / `-Bl` reach the torrent's share of the session limits (bandwidth-priority.test.ts of
// @mainline/session measures what the share does).
import { join } from 'node:path';
import { freePort, isListening, makePayload, makeTempDir, makeTorrent, poll, removeTempDir } from '@mainline/interop';
import { Session, type Torrent } from '@mainline/session';
import { mergeConfig } from './config.js';
import { startDaemon, type RunningDaemon } from './program.js';
import { remote, rpcClient } from './test-helpers.js';

let dir: string;
const daemons: RunningDaemon[] = [];
const sessions: Session[] = [];
beforeAll(() => {
  dir = makeTempDir('daemon-peer-settings');
});
afterAll(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  await Promise.all(daemons.map((d) => d.stop()));
  removeTempDir(dir);
});

/** Stops one daemon and forgets it (the others stay for afterAll). */
async function stop(running: RunningDaemon): Promise<void> {
  await running.stop();
  daemons.splice(daemons.indexOf(running), 1);
}

async function start(state: string): Promise<RunningDaemon> {
  const peerPort = await freePort();
  const running = await startDaemon(
    mergeConfig({ downloadDir: join(dir, 'seed'), stateDir: join(dir, state), portRange: [peerPort, peerPort], bind: '127.0.0.1', rpcPort: 0, dhtBootstrap: [] }),
    { log: () => undefined },
  );
  daemons.push(running);
  return running;
}

test('-p moves the peer port while seeding; -pr caps the connections at once', async () => {
  const payload = await makePayload(join(dir, 'seed'), { name: 'port.bin', size: 1_000_000 });
  const made = makeTorrent(payload.path, { pieceLength: 32768 });
  let running = await start('port');
  const rpc = rpcClient(running.server.port);
  await running.daemon.add(made.bytes, { paused: false });
  const oldPort = running.daemon.peerPort;
  const newPort = await freePort();

  await remote(running.server.port, '-p', String(newPort));
  expect((await rpc('session-get', { fields: ['peer-port'] })).arguments['peer-port']).toBe(newPort);
  expect(await isListening(oldPort)).toBe(false);
  expect(await remote(running.server.port, '-pt')).toMatch(/Port is open: Yes/);

  // Two leechers dial the new port and download.
  const leechers = [0, 1].map(() => new Session({ portRange: [0, 0], bind: '127.0.0.1', downloadLimit: 100_000 }));
  sessions.push(...leechers);
  const got = await Promise.all(
    leechers.map(async (s, i) => {
      await s.listen();
      return s.add(made.bytes, { savePath: join(dir, `leech${i}`), noTrackers: true, peers: [{ ip: '127.0.0.1', port: newPort }] });
    }),
  );
  await poll(() => (got.every((t) => t.downloaded > 0) ? true : undefined), 15_000, () => 'both leechers download from the new port', 20);
  expect(running.daemon.session.hub.connectionCount).toBe(2);

  // -pr 1: one connection goes at once, the other goes on.
  await remote(running.server.port, '-pr', '1');
  expect((await rpc('session-get', { fields: ['peer-limit-global'] })).arguments['peer-limit-global']).toBe(1);
  expect(running.daemon.session.hub.connectionCount).toBe(1);
  await poll(() => (got.filter((t) => t.peers.length === 1).length === 1 ? true : undefined), 15_000, () => 'one leecher left connected', 20);
  const kept = got.find((t) => t.peers.length === 1)!;
  kept.setLimits({ download: 0 });
  await poll(() => (kept.state === 'seeding' ? true : undefined), 30_000, () => 'the kept leecher finishes', 20);

  // Both are kept in the state directory: the next start listens on the new port, with the new limit.
  await stop(running);
  running = await start('port');
  expect(running.daemon.peerPort).toBe(newPort);
  expect(running.daemon.session.maxConnections).toBe(1);
}, 90_000);

test('-Bh / -Bl set the running torrent\'s bandwidth priority at once, kept across a restart', async () => {
  const payload = await makePayload(join(dir, 'prio'), { name: 'prio.bin', size: 100_000 });
  const made = makeTorrent(payload.path, { pieceLength: 32768 });
  let running = await start('priority');
  const { entry } = await running.daemon.add(made.bytes, { paused: false });
  const torrent = (): Torrent | undefined => running.daemon.session.get(made.infoHash);
  expect(torrent()?.bandwidthPriority).toBe('normal');
  await remote(running.server.port, '-t', String(entry.id), '-Bh');
  expect(torrent()?.bandwidthPriority).toBe('high');
  await remote(running.server.port, '-t', String(entry.id), '-Bl');
  expect(torrent()?.bandwidthPriority).toBe('low');
  expect(await remote(running.server.port, '-t', String(entry.id), '-i')).toMatch(/Bandwidth Priority: Low/);
  await stop(running);
  running = await start('priority');
  expect(torrent()?.bandwidthPriority).toBe('low');
});

test('-P (peer-port-random-on-start): the next start listens on a random port of 49152-65535', async () => {
  let running = await start('random');
  const configured = running.daemon.peerPort;
  await remote(running.server.port, '-P');
  expect((await rpcClient(running.server.port)('session-get', { fields: ['peer-port-random-on-start'] })).arguments['peer-port-random-on-start']).toBe(true);
  await stop(running);
  running = await start('random');
  const port = running.daemon.peerPort;
  expect(port).toBeGreaterThanOrEqual(49152);
  expect(port).not.toBe(configured);
  expect(await isListening(port)).toBe(true);
});
