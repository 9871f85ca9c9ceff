// Interop with libtorrent 2.0's DHT over real UDP on loopback (python3-libtorrent).
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, poll, removeTempDir, startLtDhtNode, type LtDhtNode } from '@mainline/interop';
import { startStandaloneDht, type StandaloneDht } from './standalone.js';

/** One of our nodes on its own loopback socket, not yet started. */
const ourNode = (bootstrap: string[]): Promise<StandaloneDht> => startStandaloneDht({ bootstrap, queryTimeoutMs: 2000, start: false });

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

test('our node bootstraps from a libtorrent node and finds the peer another libtorrent node announced', async () => {
  const dir = makeTempDir('dht-lt');
  cleanup.push(() => removeTempDir(dir));
  writeFileSync(join(dir, 'payload.bin'), randomBytes(100_000));
  const l1 = await startLtDhtNode(['--port', '0']);
  cleanup.push(() => l1.stop());
  const l2 = await startLtDhtNode(['--port', '0', '--node', `127.0.0.1:${l1.port}`, '--seed', join(dir, 'payload.bin')]);
  cleanup.push(() => l2.stop());
  const infoHash = Buffer.from((await l2.waitFor((l) => l.type === 'seeding', 15_000, 'seeding')).infohash!, 'hex');

  const ours = await ourNode([`127.0.0.1:${l1.port}`]);
  cleanup.push(() => ours.close());
  await ours.node.start();
  // The libtorrent node is in our table: it answered our bootstrap queries.
  expect(ours.node.nodeCount).toBeGreaterThanOrEqual(1);

  // libtorrent announces once its own DHT is up; search until its peer shows up.
  const want = `127.0.0.1:${l2.port}`;
  const found = await poll(
    async () => {
      const r = await ours.node.getPeers(infoHash).done;
      return r.peers.some((p) => `${p.host}:${p.port}` === want) ? r : undefined;
    },
    60_000,
    () => `get_peers to return ${want}`,
    1000,
  );
  expect(found.lookups[0]!.responses).toBeGreaterThanOrEqual(1);
}, 90_000);

test("libtorrent's get_peers finds the peer one of our nodes stored for another of ours", async () => {
  const n = await ourNode([]);
  cleanup.push(() => n.close());
  await n.node.start();
  const m = await ourNode([`127.0.0.1:${n.socket.localPort}`]);
  cleanup.push(() => m.close());
  await m.node.start();
  expect(m.node.nodeCount).toBe(1);

  // M announces before libtorrent exists: the peer is stored at N only, so libtorrent can only
  // learn it from our node's reply.
  const infoHash = randomBytes(20);
  const announced = await m.node.announce(infoHash, 45678);
  expect(announced.announced).toBe(1);
  expect(n.node.stats().storedPeers).toBe(1);
  const lt: LtDhtNode = await startLtDhtNode(['--port', '0', '--node', `127.0.0.1:${n.socket.localPort}`, '--get-peers', infoHash.toString('hex')]);
  cleanup.push(() => lt.stop());
  await lt.waitFor((l) => l.type === 'peers' && (l.peers ?? []).includes('127.0.0.1:45678'), 60_000, 'get_peers reply with 127.0.0.1:45678');
}, 90_000);
