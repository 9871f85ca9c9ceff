import { RawServer } from '@mainline/rawserver';

// An echo service: every incoming socket gets this handler, which writes back what it reads.
let serverSideClosed;
const closedOnServer = new Promise((resolve) => (serverSideClosed = resolve));
const echo = {
  onData: (socket, chunk) => socket.write(chunk),
  onClose: (socket, reason) => serverSideClosed(reason), // exactly once per socket
};
const server = new RawServer({ onIncoming: () => echo, maxAllowIn: 55, timeoutMs: 300_000 });
// A client would listen on 6881-6999 (the first free port); here any free port on loopback.
const { port, addresses } = await server.listen({ minPort: 0, hosts: ['127.0.0.1'] });
console.log('listening on', addresses.length, 'address');

// A dial with a connect timeout; writes before the connect completes are held, then sent.
const closedOnClient = new Promise((resolve) => {
  const client = server.connect('127.0.0.1', port, {
    onConnect: () => console.log('connected'),
    onData: (socket, chunk) => {
      console.log('echoed:', chunk.toString());
      socket.close();
    },
    onClose: (socket, reason) => resolve(reason),
  }, { connectTimeoutMs: 5000 });
  client.write(new TextEncoder().encode('hello, peer'));
});
console.log('closed:', await closedOnClient, 'here,', await closedOnServer, 'there');

await server.close(); // every socket, server and timer released
console.log('shut down:', server.closed, server.connectionCount);
