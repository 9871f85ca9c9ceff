// A session bound to one loopback address announces from it: an HTTP tracker records the address
// we listen on (with --bind 127.0.0.2 the announces used to leave from 127.0.0.1, and the tracker
// handed our own unreachable address back to us as a peer).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { encode } from '@mainline/bencode';
import { makePayload, makeTempDir, makeTorrent, removeTempDir } from '@mainline/interop';
import { Session } from './index.js';
import { until } from './test-helpers.js';

let server: Server | undefined;
let session: Session | undefined;
let dir: string | undefined;
afterEach(async () => {
  await session?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  if (dir) removeTempDir(dir);
});

test('HTTP announces leave from the bind address', async () => {
  const from: string[] = [];
  server = createServer((req, res) => {
    from.push(req.socket.remoteAddress ?? '');
    res.end(Buffer.from(encode({ interval: 1800, peers: new Uint8Array(0) })));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const announce = `http://127.0.0.1:${(server.address() as AddressInfo).port}/announce`;
  dir = makeTempDir('ml-bind-tracker-');
  const payload = await makePayload(join(dir, 'seed'), { name: 'b.bin', size: 40_000 });
  const torrent = makeTorrent(payload.path, { pieceLength: 32768, trackers: [announce] });
  session = new Session({ portRange: [0, 0], bind: '127.0.0.2' });
  await session.listen();
  await session.add(torrent.bytes, { savePath: payload.saveDir });
  await until(() => from.length > 0, 'the first announce', 10_000);
  expect(from[0]).toBe('127.0.0.2');
});
