import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mergeConfig, startDaemon } from '@mainline/daemon';
import { createTorrent } from '@mainline/metainfo';

const dir = await mkdtemp(join(tmpdir(), 'daemon-example-'));
await writeFile(join(dir, 'notes.txt'), 'hello from mainlined\n');
const { torrent } = await createTorrent(join(dir, 'notes.txt'));

// rpcPort 0 and portRange [0, 0]: any free ports (the defaults are 9091 and 6881-6999).
const running = await startDaemon(
  mergeConfig({ downloadDir: dir, stateDir: join(dir, 'state'), rpcPort: 0, portRange: [0, 0], bind: '127.0.0.1' }),
  { log: () => undefined },
);
console.log(running.rpcUrl.replace(/:\d+\//, ':PORT/'));

// Add from code; an entry is a torrent, or (kind 'magnet') a magnet link still fetching metadata.
const { entry } = await running.daemon.add(torrent, { paused: false });
if (entry.kind === 'torrent') console.log(entry.id, entry.torrent.stats().name);

// What transmission-remote does: the session-id handshake (409), then a method call.
const rpc = async (method, args, sessionId = '') => {
  const res = await fetch(running.rpcUrl, { method: 'POST', headers: { 'X-Transmission-Session-Id': sessionId }, body: JSON.stringify({ method, arguments: args }) });
  if (res.status === 409) return rpc(method, args, res.headers.get('X-Transmission-Session-Id'));
  return res.json();
};
const { arguments: { torrents } } = await rpc('torrent-get', { fields: ['id', 'name', 'totalSize'] });
console.log(torrents);

await running.stop(); // resume data and state flushed, trackers told `stopped`
await rm(dir, { recursive: true });
