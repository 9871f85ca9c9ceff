import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTorrent } from '@mainline/metainfo';
import { Session } from '@mainline/session';

// A 1 MiB file and its torrent (no tracker: the two sessions are told about each other).
const dir = await mkdtemp(join(tmpdir(), 'session-example-'));
await mkdir(join(dir, 'seed'));
await writeFile(join(dir, 'seed', 'song.flac'), randomBytes(1 << 20));
const { torrent } = await createTorrent(join(dir, 'seed', 'song.flac'));

// Two sessions on loopback; a client would use portRange [6881, 6999] and stateDir for resume.
const seeder = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
const leecher = new Session({ portRange: [0, 0], bind: '127.0.0.1', stateDir: join(dir, 'state') });
const seederPort = await seeder.listen();
await leecher.listen();

const seeding = await seeder.add(torrent, { savePath: join(dir, 'seed') }); // checks the data first
console.log('seeder:', seeding.stats().state);
const download = await leecher.add(torrent, { savePath: join(dir, 'download'), peers: [{ ip: '127.0.0.1', port: seederPort }] });
let pieces = 0;
download.on('piece', () => pieces++);
await new Promise((resolve) => download.once('done', resolve)); // every piece verified
const { progress, left, state } = download.stats();
console.log('leecher:', state, progress, left, pieces > 0);
const same = (await readFile(join(dir, 'seed', 'song.flac'))).equals(await readFile(join(dir, 'download', 'song.flac')));
console.log('identical:', same);

await Promise.all([seeder.close(), leecher.close()]); // trackers get `stopped`, resume data is flushed
await rm(dir, { recursive: true });
