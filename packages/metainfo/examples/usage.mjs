import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '@mainline/bencode';
import { createTorrent, magnetFromTorrent, MetainfoError, parseTorrent, safeFilePath, validateTrackerResponse } from '@mainline/metainfo';

// Create a torrent of a directory (the same bytes mktorrent 1.1 makes for the same options).
const dir = await mkdtemp(join(tmpdir(), 'metainfo-example-'));
await mkdir(join(dir, 'album'));
await writeFile(join(dir, 'album', '01.flac'), Buffer.alloc(100_000, 1));
await writeFile(join(dir, 'album', 'cover.jpg'), Buffer.alloc(5_000, 2));
const { torrent } = await createTorrent(join(dir, 'album'), { trackers: [['http://tracker.example/announce']], pieceLength: 32768 });
await rm(dir, { recursive: true });

// Parse and validate it (throws MetainfoError / BencodeError on a bad file).
const meta = parseTorrent(torrent);
console.log(meta.name, meta.totalLength, meta.pieceCount, meta.pieceLengthAt(meta.pieceCount - 1));
for (const f of meta.files) console.log(safeFilePath('/downloads', f.path), f.length, f.offset);
console.log(magnetFromTorrent(meta).startsWith(`magnet:?xt=urn:btih:${meta.infoHash}`));

// A tracker's announce reply, checked: here one compact IPv4 peer, 127.0.0.1:6881.
const reply = validateTrackerResponse(encode({ interval: 1800, peers: Uint8Array.of(127, 0, 0, 1, 0x1a, 0xe1) }));
if (reply.failureReason !== undefined) console.error(reply.failureReason);
else console.log(reply.interval, reply.peers);

// Paths that would escape the download directory are refused.
try {
  safeFilePath('/downloads', ['album', '..', '..', 'etc', 'passwd']);
} catch (e) {
  if (!(e instanceof MetainfoError)) throw e;
  console.log(e.code);
}
