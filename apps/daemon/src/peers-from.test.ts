// peersFrom counts the daemon's connected peers by where their address came from, as
// Transmission does: a seeder found through opentracker (fromTracker), one found by local peer
// discovery (fromLpd; LSD on loopback, named explicitly so nothing leaves the machine) and one
// that dials us (fromIncoming). Real TCP on loopback, each client on its own 127.0.0.x.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { freePort, makePayload, makeTempDir, makeTorrent, poll, removeTempDir, startOpentracker, type RunningOpentracker } from '@mainline/interop';
import { Session } from '@mainline/session';
import { mergeConfig } from './config.js';
import { Daemon } from './daemon.js';
import { RpcHandler } from './rpc.js';

const LOOPBACK_LSD = { interfaces: ['127.0.0.1'] };
let dir: string;
let tracker: RunningOpentracker | undefined;
const sessions: Session[] = [];
let daemon: Daemon | undefined;

afterAll(async () => {
  await daemon?.close();
  await Promise.all(sessions.map((s) => s.close()));
  await tracker?.stop();
  if (dir) removeTempDir(dir);
});

async function seeder(bind: string, options: ConstructorParameters<typeof Session>[0] = {}): Promise<Session> {
  const s = new Session({ bind, portRange: [await freePort(), 65535], ...options });
  sessions.push(s);
  await s.listen();
  return s;
}

test('peersFrom: a tracker peer, an LSD peer and an incoming peer, from the peer list', async () => {
  dir = makeTempDir('daemon-peers-from');
  // A torrent of its own (random content): LSD on loopback is shared with every test on this
  // machine, and another run of this test must not announce the same info-hash to us.
  const payload = await makePayload(join(dir, 'seed'), { name: 'from.bin', size: 2 * 1024 * 1024, seed: randomBytes(8).toString('hex') });
  const probe = makeTorrent(payload.path, { pieceLength: 32 * 1024, outPath: join(dir, 'probe.torrent') });
  tracker = await startOpentracker({ infoHashes: [probe.infoHash] });
  const t = makeTorrent(payload.path, { pieceLength: 32 * 1024, trackers: [tracker.announceUrl], outPath: join(dir, 't.torrent') });

  // The tracker sees every announce coming from 127.0.0.1: the tracker's seeder listens there.
  await (await seeder('127.0.0.1')).add(t.bytes, { savePath: payload.saveDir });
  await (await seeder('127.0.0.1', { lsd: LOOPBACK_LSD })).add(t.bytes, { savePath: payload.saveDir, noTrackers: true });

  // The daemon listens on 127.0.0.3 only (the seeders cannot dial it back) and downloads
  // slowly, so every peer stays connected while we look.
  const peerPort = await freePort();
  daemon = new Daemon({
    config: mergeConfig({ downloadDir: join(dir, 'dl'), stateDir: join(dir, 'state'), portRange: [peerPort, peerPort], bind: '127.0.0.3', lpdEnabled: true, speedLimitDown: 16, speedLimitDownEnabled: true }),
    session: { lsd: LOOPBACK_LSD },
    log: () => undefined,
  });
  await daemon.start();
  const rpc = new RpcHandler(daemon);
  const added = await rpc.handle({ method: 'torrent-add', arguments: { metainfo: Buffer.from(t.bytes).toString('base64') } });
  const id = (added.arguments['torrent-added'] as { id: number }).id;

  const dialsUs = await seeder('127.0.0.4');
  await dialsUs.add(t.bytes, { savePath: payload.saveDir, noTrackers: true, peers: [{ ip: '127.0.0.3', port: peerPort }] });

  type Got = { peersFrom: Record<string, number>; peersConnected: number; peers: { address: string; isIncoming: boolean }[] };
  const get = async (): Promise<Got> => ((await rpc.handle({ method: 'torrent-get', arguments: { ids: [id], fields: ['peersFrom', 'peersConnected', 'peers'] } })).arguments.torrents as Got[])[0]!;
  let last: Got | undefined;
  const seen = await poll(
    async () => {
      last = await get();
      return last.peersConnected === 3 ? last : undefined;
    },
    40_000,
    () => `three peers connected: ${JSON.stringify(last)} ${JSON.stringify(daemon?.entries.map((e) => (e.kind === 'torrent' ? e.torrent.peerList.counts() : undefined)))}`,
  );
  expect(seen.peersFrom).toEqual({ fromCache: 0, fromDht: 0, fromIncoming: 1, fromLpd: 1, fromLtep: 0, fromPex: 0, fromTracker: 1 });
  expect(seen.peers.filter((p) => p.isIncoming).map((p) => p.address)).toEqual(['127.0.0.4']);
}, 60_000);
