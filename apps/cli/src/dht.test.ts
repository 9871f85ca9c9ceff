// The DHT from the command line, on loopback only: a DhtNode in this process is the only
// bootstrap node every run is given (--dht-bootstrap); no run ever reaches the public routers.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startStandaloneDht, type StandaloneDht } from '@mainline/dht';
import { makePayload, makeTempDir, makeTorrent, removeTempDir } from '@mainline/interop';
import { formatMagnet } from '@mainline/metainfo';
import { Session } from '@mainline/session';
import { noMulticast, run, sha1 } from './test-cli.js';

async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const LOCAL = ['--bind', '127.0.0.1', '--minport', '0', '--maxport', '0'];
let dir: string;
let r: StandaloneDht;
beforeAll(async () => {
  dir = makeTempDir('ml-cli-dht-');
  r = await startStandaloneDht({ bootstrap: [] });
});
afterAll(async () => {
  await r.close();
  removeTempDir(dir);
});

test('download of a magnet link with no tracker and no peer: found through the DHT; the node table is kept', async () => {
  const payload = await makePayload(join(dir, 'seed'), { name: 'clip.bin', size: 700_000 });
  const torrent = makeTorrent(payload.path, { pieceLength: 32 * 1024 });
  const seeder = new Session({ portRange: [0, 0], bind: '127.0.0.1', dht: { bootstrap: [r.address] } });
  try {
    await seeder.listen();
    await seeder.add(torrent.bytes, { savePath: payload.saveDir });
    await until(() => r.node.stats().storedPeers >= 1, 'the seeder to announce');
    const state = join(dir, 'state');
    const res = await run(['download', formatMagnet({ infoHash: torrent.infoHash }), '-o', join(dir, 'out'), '--dht-bootstrap', r.address, '--state-dir', state, ...LOCAL], { timeoutMs: 30_000 });
    expect({ code: res.code, stderr: res.code === 0 ? '' : res.stderr }).toEqual({ code: 0, stderr: '' });
    expect(res.stderr).toContain(`DHT on: `);
    expect(res.stderr).toContain(`node table: ${join(state, 'dht.dat')}`);
    expect(await sha1(join(dir, 'out', 'clip.bin'))).toBe(await sha1(payload.path));
    expect(existsSync(join(state, 'dht.dat'))).toBe(true);
  } finally {
    await seeder.close();
  }
});

test('dht-status: no saved table, then a join through the given node; the second run reads the table the first saved', async () => {
  const state = join(dir, 'status-state');
  const first = await run(['dht-status', '--dht-bootstrap', r.address, '--state-dir', state, ...LOCAL]);
  expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
  const lines = first.stdout.trim().split('\n');
  expect(lines[0]).toBe(`no saved node table at ${join(state, 'dht.dat')} (one is written when a download or seed with the DHT ends)`);
  expect(lines[1]).toMatch(new RegExp(`^joining the DHT on UDP port \\d+ through ${r.address}\\.\\.\\.$`));
  expect(lines[2]).toMatch(/^DHT: 1 node \(1 good, 0 questionable\), joined in \d+\.\d s; id [0-9a-f]{40}$/);
  const second = await run(['dht-status', '--dht-bootstrap', r.address, '--state-dir', state, ...LOCAL]);
  expect(second.stdout.split('\n')[0]).toMatch(new RegExp(`^saved node table ${join(state, 'dht.dat')}: 1 node, id ${/id ([0-9a-f]{40})/.exec(lines[2]!)![1]}, saved `));
});

test('a bootstrap node that is not host:port is a usage error naming it', async () => {
  const res = await run(['download', 'x.torrent', '--dht-bootstrap', 'nowhere']);
  expect(res.code).toBe(2);
  expect(res.stderr).toContain("option '--dht-bootstrap <host:port>' argument 'nowhere' is invalid. nowhere is not host:port");
});

test('the test runner never lets a run reach the public DHT', () => {
  expect(noMulticast(['download', 'x.torrent', '--bind', '127.0.0.1'])).toEqual(['download', 'x.torrent', '--bind', '127.0.0.1', '--no-dht']);
  expect(noMulticast(['seed', 'x.torrent', '--dht-bootstrap', '127.0.0.1:1', '--bind', '127.0.0.1'])).toEqual(['seed', 'x.torrent', '--dht-bootstrap', '127.0.0.1:1', '--bind', '127.0.0.1']);
  expect(() => noMulticast(['dht-status'])).toThrow(/--dht-bootstrap/);
});
