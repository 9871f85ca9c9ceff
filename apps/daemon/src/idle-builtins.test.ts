// What an idle mainlined has loaded of node's builtins: each one loaded costs heap and resident
// pages of the node binary, and with 1,000 torrents every MiB counts (bench daemon-scale). These
// are loaded only when a feature needs them: https (an https tracker or .torrent URL), zlib (a
// compressed tracker reply), worker_threads (the first piece hashed in a thread), perf_hooks
// (nothing: the clock reads process.hrtime).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, removeTempDir } from '@mainline/interop';
import { killAll, remote, spawnDaemon } from './test-helpers.js';

let dir: string;
beforeAll(() => (dir = makeTempDir('daemon-idle-builtins')));
afterAll(() => {
  killAll();
  removeTempDir(dir);
});

test('a daemon seeding a torrent, listed over RPC, has not loaded https, zlib, worker_threads or perf_hooks', async () => {
  const payload = await makePayload(join(dir, 'data'), { name: 'idle.bin', size: 100_000 });
  const made = makeTorrent(payload.path, { pieceLength: 32768 });
  const torrentFile = join(dir, 'idle.torrent');
  writeFileSync(torrentFile, made.bytes);
  // Written when the daemon exits: the builtins it loaded in its whole life.
  const hook = join(dir, 'builtins-hook.cjs');
  const listFile = join(dir, 'builtins.json');
  writeFileSync(hook, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(listFile)}, JSON.stringify(process.moduleLoadList)));\n`);
  const d = await spawnDaemon({ stateDir: join(dir, 'state'), downloadDir: payload.saveDir, env: { NODE_OPTIONS: `--require ${hook}` } });
  await remote(d.rpcPort, '-a', torrentFile);
  // Added with its data: verified and seeding, with no peer ("Idle" in transmission-remote's words).
  const seeding = /100%.*Idle\s+idle\.bin/;
  for (let i = 0; i < 100 && !seeding.test(await remote(d.rpcPort, '-l')); i++) await new Promise((r) => setTimeout(r, 100));
  expect(await remote(d.rpcPort, '-l')).toMatch(seeding);
  expect(await remote(d.rpcPort, '-t', '1', '-i')).toMatch(/Name: idle\.bin/);
  d.kill('SIGTERM');
  expect(await d.exited).toBe(0);
  const loaded = (JSON.parse(readFileSync(listFile, 'utf8')) as string[]).filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
  // The list is real: what every daemon needs is in it.
  expect(loaded).toEqual(expect.arrayContaining(['net', 'http', 'crypto', 'fs']));
  for (const unneeded of ['https', 'zlib', 'worker_threads', 'perf_hooks']) expect({ unneeded, loaded: loaded.includes(unneeded) }).toEqual({ unneeded, loaded: false });
});
