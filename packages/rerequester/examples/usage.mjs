import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { encode } from '@mainline/bencode';
import { Announcer } from '@mainline/rerequester';

// A stand-in tracker on loopback: it logs each event and lists one peer, 192.0.2.7:51413, compact.
const events = [];
const tracker = createServer((req, res) => {
  const query = new URL(req.url, 'http://tracker').searchParams;
  events.push(query.get('event') ?? 'update');
  res.end(encode({ interval: 1800, peers: Uint8Array.of(192, 0, 2, 7, 0xc8, 0xd5) }));
});
await new Promise((resolve) => tracker.listen(0, '127.0.0.1', resolve));
const announce = `http://127.0.0.1:${tracker.address().port}/announce`;

let left = 1_000_000;
const announcer = new Announcer({
  infoHash: randomBytes(20), // 20-byte Uint8Arrays
  peerId: Buffer.from('-XX0001-000000000000'),
  port: 6881, // where we accept peers
  announce, // or announceList: BEP 12 tiers, e.g. from a parsed torrent
  stats: () => ({ uploaded: 0, downloaded: 1_000_000 - left, left, numPeers: 0 }),
});
const gotPeers = new Promise((resolve) => announcer.on('peers', resolve));
announcer.on('warning', (msg, { url }) => console.warn(`${url}: ${msg}`));
announcer.on('error', (err, { consecutiveFailures, retryInMs }) => console.error(err.code, consecutiveFailures, retryInMs)); // never thrown
announcer.start(); // announces `started`
console.log('peers:', await gotPeers);
// What it is doing, per tracker (for a status line): state, peers in the last answer, last error.
for (const t of announcer.trackerStatus()) console.log(t.state, t.lastPeers, t.lastError?.message ?? 'no error');

left = 0;
const announced = new Promise((resolve) => announcer.on('announce', resolve));
announcer.completed(); // `completed`, once
await announced;
await announcer.stop(); // `stopped`, bounded by stopTimeoutMs (5 s)
console.log('the tracker heard:', events.join(', '));
tracker.close();
