// @mainline/dht: (1) rounds and messages per get_peers lookup beside BEP 5's log2(N), on 1,000 real
// DhtNodes that joined over an in-memory network and on a simulated 10,000-node network; (2) the
// memory of a routing table that has heard of 10,000 nodes; (3) the CPU of an idle node answering
// 1,000 queries/s over UDP on loopback, beside libtorrent 2.0's DHT under the same load.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  DhtNode,
  MemoryNetwork,
  RoutingTable,
  UdpDatagramSocket,
  compareDistance,
  decodeKrpc,
  encodeNodes,
  encodePeer,
  encodeQuery,
  encodeResponse,
  randomId,
} from '@mainline/dht';
import { ManualClock } from '@mainline/rate';
import { ratio } from './timing.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const K = 8;
const hostOf = (i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const flush = () => new Promise((r) => setImmediate(r));

async function runUntil(clock, promise, stepMs = 10) {
  let done = false;
  let value;
  promise.then((v) => {
    done = true;
    value = v;
  });
  await flush();
  while (!done) {
    clock.advance(stepMs);
    await flush();
  }
  return value;
}

/** How many of the true K closest ids (`all`) a lookup result found. */
function hits(target, all, closest, self) {
  const truth = new Set(
    all
      .filter((id) => id !== self)
      .sort((a, b) => compareDistance(target, a, b))
      .slice(0, K)
      .map((id) => Buffer.from(id).toString('hex')),
  );
  return closest.filter((n) => truth.has(Buffer.from(n.id).toString('hex'))).length;
}

function report(label, n, results) {
  const rounds = results.map((r) => r.rounds);
  const queries = results.map((r) => r.queries);
  const found = results.map((r) => r.hits);
  console.log(
    `  ${label}: ${results.length} get_peers lookups; rounds median ${median(rounds)} (max ${Math.max(...rounds)}), ` +
      `messages median ${median(queries)} queries (max ${Math.max(...queries)}) + ${median(results.map((r) => r.responses))} replies; ` +
      `true ${K} closest found: median ${median(found)}/${K} (min ${Math.min(...found)})`,
  );
  ratio(`rounds/log2(N=${n})`, median(rounds), Math.log2(n));
}

/** 1,000 real nodes joining one after another (25 at a time) through the first one. */
async function realNetwork(n) {
  const clock = new ManualClock(0);
  const net = new MemoryNetwork({ clock, latencyMs: 10 });
  const nodes = [];
  const started = Date.now();
  for (let i = 0; i < n; i += 25) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 25); j++) {
      const ep = net.endpoint(hostOf(j + 1), 6881);
      const node = new DhtNode({ socket: ep, clock, bootstrap: j === 0 ? [] : [`${hostOf(1)}:6881`] });
      ep.onMessage = (d, from) => node.receive(d, from);
      nodes.push(node);
      batch.push(node.start());
    }
    await runUntil(clock, Promise.all(batch));
  }
  const joinMessages = net.sent;
  const ids = nodes.map((x) => x.id);
  const results = [];
  for (let i = 0; i < 50; i++) {
    const target = randomId();
    const from = nodes[(i * 97) % n];
    const { lookups } = await runUntil(clock, from.getPeers(target).done);
    results.push({ ...lookups[0], hits: hits(target, ids, lookups[0].closest, from.id) });
  }
  const tables = nodes.map((x) => x.nodeCount);
  console.log(`  ${n} real DhtNodes joined in ${((Date.now() - started) / 1000).toFixed(1)} s wall, ${(joinMessages / n).toFixed(0)} datagrams per join; table sizes median ${median(tables)}`);
  report(`real nodes, N=${n}`, n, results);
  for (const x of nodes) x.close();
}

/**
 * N simulated nodes whose routing tables have BEP 5's shape (for each shared-prefix depth with
 * their own id, up to K nodes of that range, picked pseudo-randomly once); they answer KRPC with
 * the package's own encoders. One real DhtNode joins them and looks up random info-hashes.
 */
async function simulatedNetwork(n) {
  const clock = new ManualClock(0);
  const net = new MemoryNetwork({ clock, latencyMs: 10 });
  const all = Array.from({ length: n }, (_, i) => ({ id: randomId(), host: hostOf(i + 1), port: 6881 }));
  const sorted = [...all].sort((a, b) => Buffer.compare(a.id, b.id));
  const lowerBound = (key) => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (Buffer.compare(sorted[mid].id, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  /** [from, to) of the ids sharing at least `bits` leading bits with `id`. */
  const prefixRange = (id, bits) => {
    const lo = Buffer.from(id);
    const hi = Buffer.from(id);
    for (let b = bits; b < 160; b++) {
      const mask = 0x80 >> (b & 7);
      lo[b >> 3] &= ~mask;
      hi[b >> 3] |= mask;
    }
    return [lowerBound(lo), lowerBound(hi) + (lowerBound(hi) < sorted.length && Buffer.compare(sorted[lowerBound(hi)].id, hi) === 0 ? 1 : 0)];
  };
  const tables = new Map();
  let seed = 1;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
  const tableOf = (self) => {
    let t = tables.get(self);
    if (t) return t;
    t = [];
    for (let d = 0; d < 160; d++) {
      const [a, b] = prefixRange(self.id, d);
      const [c, e] = prefixRange(self.id, d + 1);
      const span = [];
      for (let i = a; i < b; i++) if (i < c || i >= e) span.push(sorted[i]);
      if (span.length <= K) t.push(...span);
      else for (let k = 0; k < K; k++) t.push(span.splice(Math.floor(rand() * span.length), 1)[0]);
      if (e - c <= 1) break; // only self is left deeper
    }
    tables.set(self, t);
    return t;
  };
  const closestIn = (self, target) =>
    [...tableOf(self)].sort((a, b) => compareDistance(target, a.id, b.id)).slice(0, K);
  let answered = 0;
  for (const self of all) {
    const ep = net.endpoint(self.host, self.port);
    ep.onMessage = (data, from) => {
      const r = decodeKrpc(data);
      if (!r.ok || r.message.kind !== 'query') return;
      const q = r.message;
      const body = { id: self.id };
      if (q.method === 'find_node') body.nodes = encodeNodes(closestIn(self, q.target), 4);
      if (q.method === 'get_peers') Object.assign(body, { token: 'tk', nodes: encodeNodes(closestIn(self, q.infoHash), 4) });
      answered++;
      ep.send(encodeResponse({ t: q.t }, body, encodePeer({ host: from.address, port: from.port }, 4)), from.port, from.address);
    };
  }
  const ep = net.endpoint('10.255.255.1', 6881);
  const searcher = new DhtNode({ socket: ep, clock, bootstrap: [0, 1, 2].map((i) => `${all[i * 1000].host}:6881`) });
  ep.onMessage = (d, from) => searcher.receive(d, from);
  const before = net.sent;
  await runUntil(clock, searcher.start());
  console.log(`  simulated N=${n}: our node joined with ${net.sent - before} datagrams, table ${searcher.nodeCount} nodes`);
  const ids = all.map((x) => x.id);
  const results = [];
  for (let i = 0; i < 100; i++) {
    const target = randomId();
    const { lookups } = await runUntil(clock, searcher.getPeers(target).done);
    results.push({ ...lookups[0], hits: hits(target, ids, lookups[0].closest) });
  }
  report(`simulated, N=${n}`, n, results);
  searcher.close();
  void answered;
}

function tableMemory() {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc');
  const heap = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  // 20 tables, each hearing from the same 10,000 nodes (ids and hosts made beforehand), so the
  // difference with and without the tables is what they keep.
  const offered = Array.from({ length: 10_000 }, (_, i) => ({ id: randomId(), host: hostOf(i + 1), port: 6881 }));
  let tables = Array.from({ length: 20 }, () => new RoutingTable({ id: randomId() }));
  const before = heap();
  for (const t of tables) for (const n of offered) t.heardFrom(n, 1);
  const withTables = heap();
  const s = tables[0].stats(1);
  const kept = tables.reduce((n, t) => n + t.size + t.stats(1).replacements, 0) / tables.length;
  tables = null;
  const bytes = (withTables - before) / 20;
  console.log(
    `  one routing table after hearing from 10,000 nodes: ${s.good} nodes in ${s.buckets} buckets + ${s.replacements} replacements (${kept.toFixed(0)} entries on average over 20 tables), ` +
      `${(bytes / 1024).toFixed(1)} KiB (${(bytes / kept).toFixed(0)} B per entry kept)`,
  );
  ratio('table bytes/bytes of the 10,000 compact node infos it heard (26 B each)', bytes, 10_000 * 26);
  void offered.length;
}

/** CPU seconds a process used so far (Linux /proc). */
async function procCpu(pid) {
  const { readFile } = await import('node:fs/promises');
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return (Number(stat[11]) + Number(stat[12])) / 100; // utime + stime, in ticks of 1/100 s
}

function spawnLines(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = [];
  const waiters = [];
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    for (let i; (i = buf.indexOf('\n')) >= 0; ) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
      for (const w of waiters.splice(0)) w();
    }
  });
  const next = async () => {
    while (lines.length === 0) await new Promise((r) => waiters.push(r));
    return JSON.parse(lines.shift());
  };
  return { child, next };
}

const LT_NODE = `
import libtorrent as lt, sys, json
s = lt.session({'listen_interfaces': '127.0.0.1:0', 'enable_dht': True, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
  'dht_bootstrap_nodes': '', 'dht_restrict_routing_ips': False, 'dht_restrict_search_ips': False, 'dht_block_ratelimit': 100000, 'dht_upload_rate_limit': 100000000, 'alert_mask': 0})
for a in sys.argv[1:]:
    h, p = a.rsplit(':', 1); s.add_dht_node((h, int(p)))
print(json.dumps({'port': s.listen_port()}), flush=True)
sys.stdin.read()
`;

/** Sends `rate` queries/s for `seconds` from 250 source addresses (127.0.2.x) to 127.0.0.1:port; returns replies seen. */
async function load(port, rate, seconds) {
  const sockets = await Promise.all(
    Array.from({ length: 250 }, (_, i) => new Promise((resolve) => {
      const s = createSocket('udp4');
      s.bind(0, `127.0.2.${i + 1}`, () => resolve(s));
    })),
  );
  let replies = 0;
  // Count answers only (a node may also ping the sources back).
  for (const s of sockets) s.on('message', (d) => d.includes('1:y1:r') && replies++);
  const methods = ['ping', 'find_node', 'find_node', 'get_peers', 'get_peers'];
  const tickMs = 10;
  const perTick = (rate * tickMs) / 1000;
  let sent = 0;
  const started = Date.now();
  while (Date.now() - started < seconds * 1000) {
    const due = Math.floor(((Date.now() - started) / 1000) * rate);
    for (; sent < due; sent++) {
      const m = methods[sent % methods.length];
      const args = m === 'find_node' ? { target: randomId() } : m === 'get_peers' ? { info_hash: randomId() } : {};
      sockets[sent % sockets.length].send(encodeQuery({ t: Uint8Array.of(sent >> 8, sent & 255) }, m, { id: randomId(), ...args }), port, '127.0.0.1');
    }
    await new Promise((r) => setTimeout(r, tickMs));
  }
  void perTick;
  await new Promise((r) => setTimeout(r, 300));
  for (const s of sockets) s.close();
  return { sent, replies };
}

async function idleCpu() {
  // 40 nodes of ours on 127.0.3.x that both responders bootstrap from, so that find_node and
  // get_peers replies carry a table's worth of nodes.
  const peers = [];
  for (let i = 0; i < 40; i++) {
    let node;
    const socket = await UdpDatagramSocket.bind({ host: `127.0.3.${i + 1}`, onMessage: (d, f) => node.receive(d, f) });
    node = new DhtNode({ socket, bootstrap: peers.length ? [`127.0.3.1:${peers[0].socket.localPort}`] : [] });
    await node.start();
    peers.push({ node, socket });
  }
  const addrs = peers.map((p) => `127.0.3.${peers.indexOf(p) + 1}:${p.socket.localPort}`);
  const SECONDS = 10;
  const RATE = 1000;

  const ours = spawnLines(process.execPath, [join(here, 'dht-responder.mjs'), ...addrs]);
  const { port, nodes } = await ours.next();
  const c0 = await procCpu(ours.child.pid);
  const got = await load(port, RATE, SECONDS);
  const oursCpu = (await procCpu(ours.child.pid)) - c0;
  ours.child.stdin.end();
  const { rssMiB } = await ours.next();
  console.log(
    `  ours: ${got.sent} queries in ${SECONDS} s from 250 IPs (table ${nodes} nodes), ${got.replies} answered; ` +
      `CPU ${oursCpu.toFixed(2)} s = ${((oursCpu / SECONDS) * 100).toFixed(1)}% of a core, ${((oursCpu / got.sent) * 1e6).toFixed(0)} µs per query; RSS ${rssMiB} MiB`,
  );

  const lt = spawnLines('/usr/bin/python3', ['-c', LT_NODE, ...addrs]);
  const ltPort = (await lt.next()).port;
  await new Promise((r) => setTimeout(r, 2000)); // let it ping its nodes
  const l0 = await procCpu(lt.child.pid);
  const ltGot = await load(ltPort, RATE, SECONDS);
  const ltCpu = (await procCpu(lt.child.pid)) - l0;
  lt.child.stdin.end();
  console.log(`  libtorrent 2.0: ${ltGot.sent} queries, ${ltGot.replies} answered; CPU ${ltCpu.toFixed(2)} s = ${((ltCpu / SECONDS) * 100).toFixed(1)}% of a core`);
  ratio('ours/libtorrent CPU answering 1,000 queries/s', oursCpu, ltCpu);
  for (const p of peers) {
    p.node.close();
    await p.socket.close();
  }
}

/** DHT_BENCH=lookups,memory,cpu (default all) picks parts. */
export async function run() {
  const parts = (process.env.DHT_BENCH ?? 'lookups,memory,cpu').split(',');
  if (parts.includes('lookups')) {
    console.log('lookups (get_peers), simulated on an in-memory network, 10 ms one-way latency:');
    await realNetwork(1000);
    await simulatedNetwork(10_000);
  }
  if (parts.includes('memory')) {
    console.log('routing table memory:');
    tableMemory();
  }
  if (parts.includes('cpu')) {
    console.log('an idle node answering 1,000 queries/s (ping 20%, find_node 40%, get_peers 40%) over UDP on loopback:');
    await idleCpu();
  }
}
