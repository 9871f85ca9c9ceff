// A speed limit of 0 kB/s with the limit on (normal or turtle) is no traffic at all that way, as
// in Transmission: the peers stay connected and ask, no piece data moves, and the transfer
// resumes when the limit is raised. (Our limiters used to take 0 as "no limit".)
import { join } from 'node:path';
import { freePort, makePayload, makeTempDir, makeTorrent, poll, removeTempDir, type MadeTorrent, type Payload } from '@mainline/interop';
import { Session } from '@mainline/session';
import { mergeConfig } from './config.js';
import { startDaemon, type RunningDaemon } from './program.js';
import { remote, rpcClient } from './test-helpers.js';

let dir: string;
let payload: Payload;
let made: MadeTorrent;
const daemons: RunningDaemon[] = [];
const sessions: Session[] = [];
beforeAll(async () => {
  dir = makeTempDir('daemon-speed-zero');
  payload = await makePayload(join(dir, 'seed'), { name: 'zero.bin', size: 1_000_000 });
  made = makeTorrent(payload.path, { pieceLength: 32768 });
});
afterAll(async () => {
  await Promise.all(sessions.map((s) => s.close()));
  await Promise.all(daemons.map((d) => d.stop()));
  removeTempDir(dir);
});

async function start(name: string, downloadDir: string): Promise<RunningDaemon> {
  const peerPort = await freePort();
  const running = await startDaemon(
    mergeConfig({ downloadDir, stateDir: join(dir, name), portRange: [peerPort, peerPort], bind: '127.0.0.1', rpcPort: 0, dhtBootstrap: [] }),
    { log: () => undefined },
  );
  daemons.push(running);
  return running;
}

async function session(): Promise<Session> {
  const s = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
  sessions.push(s);
  await s.listen();
  return s;
}

const until = (cond: () => boolean, what: string, ms = 15_000): Promise<unknown> => poll(() => (cond() ? true : undefined), ms, () => what, 20);

test('speed-limit-up 0 (on): a seeding daemon sends no piece data until the limit goes off', async () => {
  const running = await start('up', payload.saveDir);
  const rpc = rpcClient(running.server.port);
  expect((await rpc('session-set', { 'speed-limit-up': 0, 'speed-limit-up-enabled': true })).result).toBe('success');
  await running.daemon.add(made.bytes, { paused: false });
  const leecher = await session();
  const t = await leecher.add(made.bytes, { savePath: join(dir, 'leech-up'), noTrackers: true, peers: [{ ip: '127.0.0.1', port: running.daemon.peerPort }] });
  const limiter = running.daemon.session.uploadLimiter;
  // The leecher connected and asked: its requests wait for tokens that never come.
  await until(() => t.peers.length === 1 && limiter.waiting > 0, 'the leecher asks the daemon for blocks');
  expect(limiter.limit).toBe('none');
  expect(limiter.totalGranted).toBe(0);
  expect(t.downloaded).toBe(0);
  expect((await rpc('session-get', { fields: ['speed-limit-up', 'speed-limit-up-enabled'] })).arguments).toEqual({ 'speed-limit-up': 0, 'speed-limit-up-enabled': true });

  expect((await rpc('session-set', { 'speed-limit-up-enabled': false })).result).toBe('success');
  await until(() => t.state === 'seeding', 'the download completes once the limit is off', 30_000);
});

test('turtle down 0 (transmission-remote -asd 0 -as): a downloading daemon stalls, -AS resumes it', async () => {
  const seed = await session();
  await seed.add(made.bytes, { savePath: payload.saveDir, noTrackers: true });
  const running = await start('down', join(dir, 'dl-down'));
  await remote(running.server.port, '-asd', '0', '-as');
  const { entry } = await running.daemon.add(made.bytes, { paused: false });
  if (entry.kind !== 'torrent') throw new Error('expected a torrent');
  entry.torrent.addPeers([{ ip: '127.0.0.1', port: seed.port }]);
  const limiter = running.daemon.session.downloadLimiter;
  // Connected, interested, its requests held back: none was sent, so no block came.
  await until(() => entry.torrent.peers.length === 1 && limiter.waiting > 0, 'the daemon wants blocks from the seed');
  expect(limiter.totalGranted).toBe(0);
  expect(entry.torrent.downloaded).toBe(0);
  expect(await remote(running.server.port, '-si')).toMatch(/Download speed limit: 0 kB\/s/);

  await remote(running.server.port, '-AS');
  await until(() => entry.torrent.state === 'seeding', 'the download completes once the turtle is off', 30_000);
});
