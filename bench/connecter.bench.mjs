// @mainline/connecter's WireReader against npm `bittorrent-protocol` (webtorrent's wire) parsing the
// same received byte stream: a handshake, then 16 KiB piece messages mixed with haves, delivered
// in 64 KiB socket-sized chunks. Ratios are of times: below 1 means ours is faster.
import Protocol from 'bittorrent-protocol';
import { WireReader, encodeHandshake, encodeMessage, makeReserved } from '@mainline/connecter';
import { medianMs, ratio } from './timing.mjs';

const PIECES = 2000;
const BLOCKS = 4096; // 64 MiB of blocks
const block = Buffer.alloc(16384, 0x5a);

function makeStream() {
  const parts = [encodeHandshake(Buffer.alloc(20, 1), Buffer.alloc(20, 2), makeReserved({ fast: true, extended: true }))];
  for (let i = 0; i < BLOCKS; i++) {
    parts.push(...encodeMessage({ type: 'piece', index: i % PIECES, begin: 0, block }));
    parts.push(...encodeMessage({ type: 'have', index: i % PIECES }));
  }
  const all = Buffer.concat(parts);
  const chunks = [];
  for (let o = 0; o < all.length; o += 65536) chunks.push(Buffer.from(all.subarray(o, o + 65536)));
  return chunks;
}

export async function run() {
  const chunks = makeStream();
  const bytes = chunks.reduce((n, c) => n + c.length, 0);

  const ours = async () => {
    let pieces = 0;
    const r = new WireReader(
      { onMessage: (m) => { if (m.type === 'piece') pieces++; } },
      { limits: { numPieces: PIECES }, localReserved: makeReserved({ fast: true, extended: true }) },
    );
    for (const c of chunks) r.push(c);
    if (pieces !== BLOCKS) throw new Error(`ours parsed ${pieces} pieces`);
  };

  const theirs = () =>
    new Promise((resolve, reject) => {
      const wire = new Protocol();
      let pieces = 0;
      wire.on('error', reject);
      wire.on('handshake', () => wire.handshake(Buffer.alloc(20, 1), Buffer.alloc(20, 3)));
      wire.on('piece', () => {
        if (++pieces === BLOCKS) {
          wire.destroy();
          resolve();
        }
      });
      wire.on('data', () => undefined); // drain what it sends back
      for (const c of chunks) wire.write(c);
    });

  await ours();
  await theirs();
  const tOurs = await medianMs(ours, 7);
  const tTheirs = await medianMs(theirs, 7);
  const mbps = (t) => ((bytes / 2 ** 20) / (t / 1000)).toFixed(0);
  console.log(`  ${(bytes / 2 ** 20).toFixed(0)} MiB stream: ours ${tOurs.toFixed(1)} ms (${mbps(tOurs)} MiB/s), bittorrent-protocol ${tTheirs.toFixed(1)} ms (${mbps(tTheirs)} MiB/s)`);
  ratio('ours/bittorrent-protocol parse time', tOurs, tTheirs);
}
