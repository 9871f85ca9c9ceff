// Local service discovery wired into sessions: real multicast sockets on loopback (named
// explicitly, so nothing leaves this machine; the network-namespace tests are in
// tools/interop-tests).
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LSD_GROUP_IPV4, LSD_PORT, encodeAnnounce, parseAnnounce, type LsdAnnounce } from '@mainline/lsd';
import { createTorrent } from '@mainline/metainfo';
import { makeTempDir } from '@mainline/interop';
import { Session, sessionLsdInterfaces, type SessionOptions, type Torrent } from './index.js';

const LOOPBACK_LSD = { interfaces: ['127.0.0.1'] };

/** Every LSD announce on loopback, parsed (others' garbage skipped). */
async function listenToLoopbackGroup(): Promise<{ socket: Socket; heard: LsdAnnounce[]; until(cond: (a: LsdAnnounce) => boolean): Promise<LsdAnnounce> }> {
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  const heard: LsdAnnounce[] = [];
  const waiters = new Set<() => void>();
  socket.on('message', (m) => {
    try {
      heard.push(parseAnnounce(m));
    } catch {
      return;
    }
    for (const w of [...waiters]) w();
  });
  await new Promise<void>((resolve) => socket.bind({ port: LSD_PORT, address: LSD_GROUP_IPV4 }, () => resolve()));
  socket.addMembership(LSD_GROUP_IPV4, '127.0.0.1');
  socket.setMulticastInterface('127.0.0.1');
  return {
    socket,
    heard,
    until: (cond) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no such announce within 10 s')), 10_000);
        const check = (): void => {
          const a = heard.find(cond);
          if (!a) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(a);
        };
        waiters.add(check);
        check();
      }),
  };
}

async function makeFile(dir: string, options: { private?: boolean } = {}): Promise<{ torrent: Uint8Array; infoHash: string; saveDir: string }> {
  const saveDir = join(dir, 'seed');
  await mkdir(saveDir, { recursive: true });
  const name = `f-${randomBytes(4).toString('hex')}.bin`;
  await writeFile(join(saveDir, name), randomBytes(300_000));
  const { torrent, metainfo } = await createTorrent(join(saveDir, name), { pieceLength: 32768, ...options });
  return { torrent, infoHash: metainfo.infoHash, saveDir };
}

function whenDone(t: Torrent, ms = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    if (t.state === 'seeding') return resolve();
    const timer = setTimeout(() => reject(new Error(`not done after ${ms} ms: ${JSON.stringify(t.peerList.counts())}`)), ms);
    t.once('done', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

describe('sessions find each other by LSD alone', () => {
  const sessions: Session[] = [];
  const sockets: Socket[] = [];
  const session = async (o: SessionOptions = {}): Promise<Session> => {
    const s = new Session({ portRange: [0, 0], bind: '127.0.0.1', lsd: LOOPBACK_LSD, ...o });
    sessions.push(s);
    await s.listen();
    return s;
  };
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.close();
    await Promise.all(sessions.splice(0).map((s) => s.close()));
  });

  test('no tracker, no peers given: the leecher downloads from the seeder it heard on the local network', async () => {
    const dir = makeTempDir('lsd-session');
    const f = await makeFile(dir);
    const seeder = await session();
    const leecher = await session();
    expect(seeder.lsdStatus()).toMatchObject({ enabled: true, running: true, interfaces: ['lo IPv4 127.0.0.1'], error: undefined });
    await seeder.add(f.torrent, { savePath: f.saveDir });
    const download = await leecher.add(f.torrent, { savePath: join(dir, 'out') });
    await whenDone(download);
    expect(download.peerList.counts().known.lsd).toBeGreaterThanOrEqual(1);
    const name = download.meta.files[0]!.path.join('/');
    expect((await readFile(join(dir, 'out', name))).equals(await readFile(join(f.saveDir, name)))).toBe(true);
    expect(leecher.lsdStatus().stats).toMatchObject({ torrents: 1 });
    expect(leecher.lsdStatus().stats!.peers).toBeGreaterThanOrEqual(1);
  });

  test('a private torrent is never announced, and announces naming it are ignored', async () => {
    const dir = makeTempDir('lsd-private');
    const secret = await makeFile(join(dir, 'p'), { private: true });
    const open = await makeFile(join(dir, 'o'));
    const group = await listenToLoopbackGroup();
    sockets.push(group.socket);
    const s = await session();
    const hidden = await s.add(secret.torrent, { savePath: secret.saveDir });
    const shown = await s.add(open.torrent, { savePath: open.saveDir });
    expect(hidden.meta.private).toBe(true);
    // The public torrent's announce comes; none of ours, up to it, names the private one.
    await group.until((a) => a.port === s.port && a.infoHashes.includes(open.infoHash));
    expect(group.heard.filter((a) => a.port === s.port).flatMap((a) => a.infoHashes)).not.toContain(secret.infoHash);
    // One announce naming both: the public torrent learns the peer, the private one does not.
    const datagram = encodeAnnounce({ family: 'IPv4', port: 40_000, infoHashes: [secret.infoHash, open.infoHash] });
    group.socket.send(datagram, LSD_PORT, LSD_GROUP_IPV4);
    const deadline = Date.now() + 10_000;
    while (shown.peerList.counts().known.lsd === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(shown.peerList.has('127.0.0.1', 40_000)).toBe(true);
    expect(hidden.peerList.counts().known.lsd).toBe(0);
    expect(hidden.peerList.has('127.0.0.1', 40_000)).toBe(false);
  });

  test('lsd: false opens nothing; setLsd switches it on and off while the session runs', async () => {
    const dir = makeTempDir('lsd-switch');
    const f = await makeFile(dir);
    const group = await listenToLoopbackGroup();
    sockets.push(group.socket);
    const s = await session({ lsd: { ...LOOPBACK_LSD } });
    await s.setLsd(false);
    expect(s.lsdStatus()).toMatchObject({ enabled: false, running: false, interfaces: [] });
    await s.add(f.torrent, { savePath: f.saveDir });
    await s.setLsd(true);
    expect(s.lsdStatus()).toMatchObject({ enabled: true, running: true, stats: { torrents: 1 } });
    // Registered while off, announced once on.
    await group.until((a) => a.port === s.port && a.infoHashes.includes(f.infoHash));
    await s.setLsd(false);
    expect(s.lsdStatus().running).toBe(false);
    const off = new Session({ portRange: [0, 0], bind: '127.0.0.1', lsd: false });
    sessions.push(off);
    await off.listen();
    expect(off.lsdStatus()).toMatchObject({ enabled: false, running: false });
  });

  test('bound to loopback and no interface named: LSD says why it is not running, the session works', async () => {
    const s = await session({ lsd: true });
    expect(s.lsdStatus()).toMatchObject({ enabled: true, running: false });
    expect(s.lsdStatus().error).toMatch(/no network interface/);
    expect(sessionLsdInterfaces('127.0.0.1')).toEqual([]);
    expect(sessionLsdInterfaces('0.0.0.0').every((i) => i.family === 'IPv4' && !i.internal)).toBe(true);
    expect(sessionLsdInterfaces('', ['127.0.0.1']).map((i) => i.name)).toEqual(['lo']);
  });
});
