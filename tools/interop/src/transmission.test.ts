import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, removeTempDir, startLibtorrent, startTransmission, startTransmissionDaemon4, transmission4Version, transmissionRemote, transmissionRemote4 } from './index.js';
import { alive, sameFiles } from './test-helpers.js';

let dir: string;
const running: { stop(): Promise<void> }[] = [];
beforeAll(() => {
  dir = makeTempDir('tr-test');
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((h) => h.stop()));
});
afterAll(() => removeTempDir(dir));

test('transmission-daemon leeches from a libtorrent seeder that dials it', async () => {
  const seedDir = join(dir, 'seed');
  const payload = await makePayload(seedDir, { name: 'tr.bin', size: 8 << 20 });
  const torrent = makeTorrent(payload.path);
  const leechDir = join(dir, 'leech');
  const transmission = await startTransmission({ torrentPath: torrent.path, dir: leechDir, seed: false, backend: 'daemon' });
  running.push(transmission);
  expect(transmission.backend).toBe('daemon');
  expect(transmission.status?.complete).toBe(false);
  expect(transmission.status?.sizeWhenDone).toBe(8 << 20);
  const seeder = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: seedDir, peers: [['127.0.0.1', transmission.port]] });
  running.push(seeder);
  const done = await transmission.waitForComplete(40000);
  expect(done.haveValid).toBe(8 << 20);
  expect(sameFiles(payload, leechDir)).toBe(true);
  const session = await transmission.rpc('session-get');
  expect(session['peer-port']).toBe(transmission.port);
  const pid = transmission.pid;
  await transmission.stop();
  expect(alive(pid)).toBe(false);
});

test('the transmission-cli backend leeches too, and seeds once complete', async () => {
  const seedDir = join(dir, 'cseed');
  const payload = await makePayload(seedDir, { name: 'cli.bin', size: 2 << 20 });
  const torrent = makeTorrent(payload.path, { pieceLength: 64 * 1024 });
  const leechDir = join(dir, 'cleech');
  const transmission = await startTransmission({ torrentPath: torrent.path, dir: leechDir, seed: false, backend: 'cli' });
  running.push(transmission);
  expect(transmission.backend).toBe('cli');
  expect(transmission.status?.complete).toBe(false);
  await expect(transmission.rpc('session-get')).rejects.toThrow(/daemon/);
  const seeder = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: seedDir, peers: [['127.0.0.1', transmission.port]] });
  running.push(seeder);
  const done = await transmission.waitForComplete(40000);
  expect(done.state).toBe('seeding');
  expect(sameFiles(payload, leechDir)).toBe(true);
});

test('Transmission 4.x from the unpacked root: its daemon on its own address, its remote and 3.00s both talk to it', async () => {
  const daemon = await startTransmissionDaemon4({ address: '127.0.0.4', downloadDir: join(dir, 'tr4') });
  running.push(daemon);
  const session = await daemon.rpc('session-get');
  expect([session.result, session.arguments.version, session.arguments['rpc-version'], session.arguments['dht-enabled'], session.arguments['lpd-enabled']]).toEqual([
    'success',
    expect.stringMatching(/^4\./),
    18,
    false,
    false,
  ]);
  const four = await transmissionRemote4(daemon.rpcTarget, ['-si']);
  expect([four.code, /Daemon version: 4\./.test(four.out)]).toEqual([0, true]);
  const three = await transmissionRemote(daemon.rpcTarget, ['-st']);
  expect([three.code, three.out]).toEqual([0, expect.stringContaining('CURRENT SESSION')]);
  expect(transmission4Version()).toMatch(/^4\./);
});
