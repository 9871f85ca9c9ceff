// Child process of dht.bench.mjs: one idle DhtNode on 127.0.0.1 (bootstrapped from the addresses
// given) answering whatever comes; prints {port, nodes}, and {rssMiB} when stdin ends.
import { DhtNode, UdpDatagramSocket } from '@mainline/dht';

let node;
const socket = await UdpDatagramSocket.bind({ host: '127.0.0.1', onMessage: (d, from) => node.receive(d, from) });
node = new DhtNode({ socket, bootstrap: process.argv.slice(2) });
await node.start();
console.log(JSON.stringify({ port: socket.localPort, nodes: node.nodeCount }));
process.stdin.resume();
process.stdin.on('end', async () => {
  console.log(JSON.stringify({ rssMiB: (process.memoryUsage().rss / 2 ** 20).toFixed(0), answered: node.stats().sent.responses }));
  node.close();
  await socket.close();
  process.exit(0);
});
