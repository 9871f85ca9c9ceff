// Transmission's DHT (jech/dht) drops all 127/8 traffic, so this runs in two network namespaces
// made here (a veth pair, 198.18.N.1 and .2; removed after, also on failure): in A, ten of our DHT
// nodes and our seeding session, which announces the torrent to them; in B, Transmission 3 with a
// node table (dht.dat) naming our ten nodes (it searches only with >= 4 good and > 8 known nodes,
// and reads dht.bootstrap too slowly). The torrent has no tracker, LPD and PEX are off: Transmission
// can find our seeder only through our DHT nodes' answers to its get_peers.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { makePayload, makeTempDir, makeTorrent, makeVethPair, netnsUnavailable, poll, type VethPair } from '@mainline/interop';
import { MiB, digests, transmissionLeecherIn } from './helpers.js';

interface SwarmLine {
  type: string;
  nodes?: number[];
  seeder?: number;
  tables?: number[];
  storedPeers?: number[];
  announces?: number;
  seederNodes?: number;
  uploaded?: number;
  message?: string;
}

/** Transmission's dht.dat: bencoded {id, nodes} with the nodes as 6-byte compact addresses. */
function dhtDat(address: string, ports: readonly number[]): Uint8Array {
  const ip = Buffer.from(address.split('.').map(Number));
  const nodes = Buffer.concat(ports.map((p) => Buffer.concat([ip, Buffer.from([p >> 8, p & 255])])));
  return Buffer.concat([Buffer.from('d2:id20:'), randomBytes(20), Buffer.from(`5:nodes${nodes.length}:`), nodes, Buffer.from('e')]);
}

describe("Transmission's DHT between two network namespaces", () => {
  let pair: VethPair;
  let swarm: ChildProcess | undefined;
  const cleanup: (() => Promise<unknown>)[] = [];
  beforeAll(() => {
    const why = netnsUnavailable();
    // Not a skip: without namespaces nothing here is tested, and that must show.
    if (why) throw new Error(`this test makes network namespaces and cannot on this machine: ${why}`);
    pair = makeVethPair();
  });
  afterAll(async () => {
    for (const stop of cleanup.splice(0).reverse()) await stop().catch(() => undefined);
    swarm?.kill('SIGKILL');
    pair?.remove();
  });

  test('a Transmission leecher finds our seeder through our DHT nodes alone and downloads from it', async () => {
    const dir = makeTempDir('it-dht-tr');
    const payload = await makePayload(join(dir, 'seed'), { name: 'tr-dht.bin', size: 2 * MiB + 5 });
    const torrent = makeTorrent(payload.path, { pieceLength: 64 * 1024 });
    expect(torrent.metainfo.trackers).toEqual([]);

    const script = join(__dirname, '..', 'scripts', 'dht-swarm.cjs');
    const args = [require.resolve('@mainline/dht'), require.resolve('@mainline/session'), pair.a.ipv4, '7001', '10', torrent.path, payload.saveDir];
    const [program, ...before] = [...pair.prefix(pair.a), process.execPath];
    const child = spawn(program!, [...before, script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    swarm = child;
    const lines: SwarmLine[] = [];
    createInterface({ input: child.stdout! }).on('line', (l) => {
      try {
        lines.push(JSON.parse(l) as SwarmLine);
      } catch {
        // stray output
      }
    });
    const failed = (): string | undefined => lines.find((l) => l.type === 'error')?.message;
    const ready = await poll(() => lines.find((l) => l.type === 'ready'), 30_000, () => 'our DHT nodes and seeder in namespace A', 50, failed);
    expect(ready.nodes).toHaveLength(10);
    // Every one of our nodes knows the others (Transmission's search needs good nodes to ask).
    expect(Math.min(...ready.tables!)).toBeGreaterThanOrEqual(8);
    await poll(() => (lines.at(-1)?.announces ?? 0) >= 1 || undefined, 20_000, () => 'our seeder to announce to our nodes', 100, failed);

    const started = Date.now();
    const tr = await transmissionLeecherIn(pair.b, torrent.path, join(dir, 'tr-out'), { 'dht-enabled': true }, { 'dht.dat': dhtDat(pair.a.ipv4, ready.nodes!) });
    cleanup.push(() => tr.stop());
    await tr.waitForComplete(75_000);
    const elapsed = Date.now() - started;
    const got = await digests(payload, join(dir, 'tr-out'));
    expect(got.actual).toEqual(got.expected);
    const last = lines.at(-1)!;
    console.log(`Transmission <- our seeder, found through our DHT nodes in a netns: ${payload.totalSize} bytes in ${elapsed} ms; peers stored by our nodes ${JSON.stringify(last.storedPeers)}`);
    child.stdin!.end();
  }, 120_000);
});
