import { randomBytes } from 'node:crypto';
import { DhtNode, UdpDatagramSocket } from '@mainline/dht';

// A DHT node over its own UDP socket on loopback. In the client, the session's shared UDP
// endpoint plays the socket's part and hands every datagram starting with 'd' to node.receive().
async function startNode(bootstrap) {
  let node;
  const socket = await UdpDatagramSocket.bind({ host: '127.0.0.1', port: 0, onMessage: (data, from) => node.receive(data, from) });
  node = new DhtNode({ socket, bootstrap }); // bootstrap: 'host:port' strings; default: the public routers
  await node.start(); // contacts the bootstrap nodes, then looks up its own id
  return { node, socket, address: `127.0.0.1:${socket.localPort}` };
}

const first = await startNode([]); // a tiny private DHT: the first node knows nobody
const seeder = await startNode([first.address]);
const leecher = await startNode([first.address]);

const infoHash = randomBytes(20);
const announced = await seeder.node.announce(infoHash, 51413); // get_peers, then announce_peer to the closest
console.log('announced to', announced.announced, 'node(s)');

const search = leecher.node.getPeers(infoHash); // an async iterable of peers; `done` resolves at the end
for await (const peer of search) console.log('peer:', `${peer.host}:${peer.port}`);
const { lookups } = await search.done;
console.log('lookup ended:', lookups[0].end, '; nodes known to the first node:', first.node.nodeCount);

// What a restart needs instead of the bootstrap nodes: bencoded { id, nodes }, like Transmission's dht.dat.
const state = leecher.node.saveState();
console.log('saved state:', state.length, 'bytes');

for (const n of [first, seeder, leecher]) {
  n.node.close();
  await n.socket.close();
}
