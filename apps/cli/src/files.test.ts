// What `verify`, `seed` and `download` do to the files on disk: verify and seed never create,
// truncate or write one; a torrent larger than the disk is refused with a clear message.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeClaimTorrent, makePayload, makeTempDir, makeTorrent } from '@mainline/interop';
import { run } from './test-cli.js';

const TB = 10 ** 12;
const NET = ['--no-trackers', '--no-lsd', '--minport', '0', '--maxport', '0'];

async function twoFiles(prefix: string) {
  const dir = makeTempDir(prefix);
  const payload = await makePayload(join(dir, 'data'), { name: 'set', files: [{ path: 'one.bin', size: 200_000 }, { path: 'two.bin', size: 200_000 }] });
  const t = makeTorrent(payload.path, { pieceLength: 32768 });
  return { dir, payload, t, one: join(payload.path, 'one.bin'), two: join(payload.path, 'two.bin') };
}

test('verify -d of a directory that does not exist says so, exits 1 and creates nothing', async () => {
  const { dir, t } = await twoFiles('ml-cli-verify-nodir-');
  const nowhere = join(dir, 'nonexistent');
  const r = await run(['verify', t.path, '-d', nowhere]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`cannot verify set: the directory ${nowhere} does not exist`);
  expect(r.stdout).not.toContain('damaged');
  expect(existsSync(nowhere)).toBe(false);
});

test('verify reports missing and wrong-size files as such, and changes nothing', async () => {
  const { payload, t, one, two } = await twoFiles('ml-cli-verify-ro-');
  const longer = Buffer.concat([readFileSync(one), Buffer.alloc(300_000, 1)]);
  writeFileSync(one, longer);
  const twoBytes = readFileSync(two);
  rmSync(two);
  const r = await run(['verify', t.path, '-d', payload.saveDir]);
  expect(r.code).toBe(1);
  expect(r.stdout).toContain('  wrong size: set/one.bin (500000 bytes, expected 200000)');
  expect(r.stdout).toContain('  missing: set/two.bin');
  expect(r.stdout).not.toContain('damaged');
  // Before: one.bin was cut to 200,000 bytes and an empty two.bin was created.
  expect(readFileSync(one)).toEqual(longer);
  expect(existsSync(two)).toBe(false);
  // Every piece good (the first 200,000 bytes of one.bin are right) but one.bin is too long: exit 1.
  writeFileSync(two, twoBytes);
  const again = await run(['verify', t.path, '-d', payload.saveDir]);
  expect(again.stdout).toContain('set: 13 of 13 pieces verified');
  expect(again.stdout).toContain('  wrong size: set/one.bin (500000 bytes, expected 200000)');
  expect(again.code).toBe(1);
  expect(readFileSync(one)).toEqual(longer);
});

test('verify refuses to read through a symbolic link in the data directory, naming it', async () => {
  const { dir, payload, t, one } = await twoFiles('ml-cli-verify-link-');
  const elsewhere = join(dir, 'elsewhere.bin');
  writeFileSync(elsewhere, readFileSync(one));
  rmSync(one);
  symlinkSync(elsewhere, one);
  const r = await run(['verify', t.path, '-d', payload.saveDir]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`${one} is a symbolic link; refusing to follow it`);
});

test('seed never creates or truncates: incomplete data is refused and left as it is', async () => {
  const { dir, payload, t, one, two } = await twoFiles('ml-cli-seed-ro-');
  const longer = Buffer.concat([readFileSync(one), Buffer.alloc(1000, 1)]);
  writeFileSync(one, longer);
  rmSync(two);
  const r = await run(['seed', t.path, '-d', payload.saveDir, ...NET, '--state-dir', join(dir, 'state')]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/the data in .* is incomplete: \d+ of 13 pieces verified/);
  expect(readFileSync(one)).toEqual(longer);
  expect(existsSync(two)).toBe(false);
  const nowhere = await run(['seed', t.path, '-d', join(dir, 'nonexistent'), ...NET, '--state-dir', join(dir, 'state')]);
  expect(nowhere.code).toBe(1);
  expect(nowhere.stderr).toContain(`seed failed: the directory ${join(dir, 'nonexistent')} does not exist`);
  expect(existsSync(join(dir, 'nonexistent'))).toBe(false);
});

test('download of a torrent claiming 10 TB: a clear message, exit 1, nothing created; --ignore-free-space goes ahead', async () => {
  const dir = makeTempDir('ml-cli-space-');
  const huge = makeClaimTorrent('huge.img', 10 * TB);
  const file = join(dir, 'huge.torrent');
  writeFileSync(file, huge.bytes);
  const out = join(dir, 'out');
  const r = await run(['download', file, '-o', out, ...NET, '--state-dir', join(dir, 'state'), '-q']);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/download failed: not enough free space in .*out: the wanted files need 9\.1 TiB more, [\d.]+ [KMGT]iB is free; nothing was created/);
  expect(r.stderr).toContain('--ignore-free-space');
  expect(existsSync(out)).toBe(false);
  // Insisting: the file is created (sparse, nothing allocated) and the download waits for peers.
  const insisted = await run(['download', file, '-o', out, ...NET, '--state-dir', join(dir, 'state'), '-q', '--ignore-free-space'], { signalAfterMs: 2000 });
  expect(insisted.code).toBe(130);
  expect(readdirSync(out)).toEqual(['huge.img']);
  expect(statSync(join(out, 'huge.img')).blocks).toBe(0);
});

test('download into a directory holding a planted symbolic link: refused, naming it; the target is untouched', async () => {
  const dir = makeTempDir('ml-cli-link-');
  const payload = await makePayload(join(dir, 'seed'), { name: 'set', files: [{ path: 'one.bin', size: 50_000 }] });
  const t = makeTorrent(payload.path, { pieceLength: 32768 });
  const out = join(dir, 'out');
  const victim = join(dir, 'victim');
  mkdirSync(out);
  mkdirSync(victim);
  writeFileSync(join(victim, 'one.bin'), 'precious, and longer than nothing');
  symlinkSync(victim, join(out, 'set'));
  const r = await run(['download', t.path, '-o', out, ...NET, '--state-dir', join(dir, 'state'), '-q']);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`download failed: ${join(out, 'set')} (a directory of ${join(out, 'set', 'one.bin')}) is a symbolic link; refusing to follow it out of ${out}`);
  expect(readFileSync(join(victim, 'one.bin'), 'utf8')).toBe('precious, and longer than nothing');
});
