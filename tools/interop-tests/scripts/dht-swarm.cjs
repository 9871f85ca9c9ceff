// Runs inside a network namespace for dht-transmission-netns.test.ts: N of our DHT nodes on one
// address (ports base..base+N-1, each joining through those before it) and, with a .torrent, a
// seeding Session whose DHT joins through them. The address is a documentation one that BEP 42
// does not exempt and all nodes share it, so BEP 42 and the one-node-per-IP rule are off, as for
// libtorrent's relaxed settings on one IP.
//   node dht-swarm.cjs DIST_DHT DIST_SESSION ADDRESS BASE N [TORRENT SAVE_DIR]
// Prints JSON lines: {"type":"ready","nodes":[...],"seeder":port}, then {"type":"stats",...} every s.
// Ends when stdin closes.
const [dhtPath, sessionPath, address, base, count, torrentPath, saveDir] = process.argv.slice(2);
const { startStandaloneDht } = require(dhtPath);
const { Session } = require(sessionPath);
const { readFileSync } = require('node:fs');

const relaxed = { bep42: false, onePerIp: false, rateLimit: false, queryTimeoutMs: 2000 };
const emit = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

(async () => {
  const nodes = [];
  for (let i = 0; i < Number(count); i++) {
    const bootstrap = nodes.map((n) => n.address);
    nodes.push(await startStandaloneDht({ ...relaxed, host: address, port: Number(base) + i, bootstrap }));
  }
  // The first ones joined an empty network: one more round so every table holds them all.
  await Promise.all(nodes.map((n) => n.node.findNode(n.node.id)));
  let seeder;
  if (torrentPath) {
    seeder = new Session({ portRange: [0, 0], bind: address, dht: { bootstrap: nodes.map((n) => n.address), bep42: false, node: { onePerIp: false, rateLimit: false } } });
    await seeder.listen();
    await seeder.add(readFileSync(torrentPath), { savePath: saveDir });
  }
  emit({ type: 'ready', nodes: nodes.map((n) => n.socket.localPort), seeder: seeder?.port, tables: nodes.map((n) => n.node.nodeCount) });
  const timer = setInterval(() => {
    const t = seeder?.torrents[0];
    emit({
      type: 'stats',
      storedPeers: nodes.map((n) => n.node.stats().storedPeers),
      announces: seeder?.dhtStatus().announces ?? 0,
      seederNodes: seeder?.dhtStatus().nodes ?? 0,
      uploaded: t ? t.stats().uploaded : 0,
    });
  }, 1000);
  process.stdin.on('end', async () => {
    clearInterval(timer);
    await seeder?.close();
    for (const n of nodes) await n.close();
    process.exit(0);
  });
  process.stdin.resume();
})().catch((e) => {
  emit({ type: 'error', message: String(e && e.stack) });
  process.exit(2);
});
