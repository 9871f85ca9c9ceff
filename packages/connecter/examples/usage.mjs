import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { WireHub } from '@mainline/connecter';

// One torrent of 4 pieces of 32 KiB, and two clients: a seed and a leecher, on loopback.
const infoHash = randomBytes(20);
const limits = { numPieces: 4, pieceLength: 32_768, totalLength: 4 * 32_768 };
const data = randomBytes(16_384);
const log = (e) => console.log('dropped a peer:', e.code); // malformed input drops only its sender

const seed = new WireHub({ peerId: Buffer.from('-XX0001-seed00000000'), log });
seed.addTorrent(infoHash, {
  limits,
  onPeer(peer) {
    peer.send({ type: 'have-all' }); // BEP 6, as peer.fast says (else send a 'bitfield')
    return {
      onMessage(p, msg) {
        if (msg.type === 'interested') p.send({ type: 'unchoke' });
        if (msg.type === 'request') p.sendPiece(msg.index, msg.begin, data.subarray(0, msg.length));
      },
      onClose: () => undefined,
    };
  },
  extensionHandshake: () => ({ m: new Map([['ut_pex', 1]]), v: 'example 0.1', reqq: 250 }),
});
// A client would listen on 6881-6999; here any free port on loopback.
const { port } = await seed.listen({ minPort: 0, hosts: ['127.0.0.1'] });

const leecher = new WireHub({ peerId: Buffer.from('-XX0001-leech0000000'), log });
const done = new Promise((resolve) => {
  leecher.addTorrent(infoHash, {
    limits,
    onPeer(peer) {
      console.log('handshake done, fast extension:', peer.fast);
      return {
        onMessage(p, msg) {
          if (msg.type === 'keep-alive') return;
          console.log('got', msg.type);
          if (msg.type === 'have-all') p.send({ type: 'interested' });
          if (msg.type === 'unchoke') p.send({ type: 'request', index: 0, begin: 0, length: 16_384 });
          if (msg.type === 'piece') {
            console.log('block matches:', Buffer.from(msg.block).equals(data));
            p.close();
          }
        },
        onClose: (p, reason) => resolve(reason),
      };
    },
  });
});
leecher.connect(infoHash, '127.0.0.1', port);
console.log('closed:', await done);

// Someone who does not speak the protocol: refused with a typed reason, the seed carries on.
const stranger = connect(port, '127.0.0.1', () => stranger.end('GET / HTTP/1.1\r\n\r\n'));
await new Promise((resolve) => stranger.on('close', resolve));
await Promise.all([seed.close(), leecher.close()]);
