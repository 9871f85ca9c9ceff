import { randomBytes } from 'node:crypto';
import { LocalDiscovery, createUdpTransport, lsdInterfaces } from '@mainline/lsd';

// Two clients on one machine share a torrent. A real client leaves out `interfaces` (then LSD runs on
// every interface but loopback); here loopback is named, so nothing leaves this machine.
const interfaces = lsdInterfaces(['127.0.0.1']);
const infoHash = randomBytes(20); // or 40 hex digits
const found = (who) => new Promise((resolve) => (who.resolve = resolve));

const alice = new LocalDiscovery({ transport: await createUdpTransport({ interfaces }), port: 6881 });
const bob = new LocalDiscovery({ transport: await createUdpTransport({ interfaces }), port: 6882 });
const aliceFound = found(alice);
const bobFound = found(bob);
// Each announces the torrent at once (then every 5 min) and hears the other's announce.
alice.add(infoHash, (peer) => alice.resolve(peer));
bob.add(infoHash, (peer) => bob.resolve(peer));
console.log('alice found', await aliceFound); // the sender's address, and the port from its announce
console.log('bob found', await bobFound);
console.log('announces sent:', alice.stats().sent, bob.stats().sent); // the next ones in 5 minutes
await Promise.all([alice.close(), bob.close()]);
