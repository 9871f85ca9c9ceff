// The first minutes of a new user: a closed pipe, a typo on the command line, a wrong file name.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent } from '@mainline/interop';
import { run } from './test-cli.js';

describe('a closed output ends the command quietly', () => {
  test('`mainline info x.torrent | head -1`: no EPIPE stack trace, exit 0', async () => {
    const dir = makeTempDir('ml-cli-pipe-');
    const payload = await makePayload(join(dir, 'seed'), { name: 'p.bin', size: 50_000 });
    const t = makeTorrent(payload.path, { pieceLength: 32768 });
    for (const args of [['info', t.path], ['--help'], ['download', '--help'], ['create', payload.path, '-o', join(dir, 'c.torrent')]]) {
      const r = await run(args, { closeStdout: true });
      expect({ args, code: r.code, stderr: r.stderr.replace(/^\[.*%\].*\n|^hashing.*\n/gm, '') }).toEqual({ args, code: 0, stderr: '' });
    }
  });

  test('a download whose output is gone stops as on Ctrl-C (resume data saved) and exits 141, without a trace', async () => {
    const dir = makeTempDir('ml-cli-pipe-dl-');
    const payload = await makePayload(join(dir, 'seed'), { name: 'p.bin', size: 50_000 });
    const t = makeTorrent(payload.path, { pieceLength: 32768 });
    const r = await run(['download', t.path, '-o', join(dir, 'out'), '--no-trackers', '--minport', '0', '--maxport', '0', '--state-dir', join(dir, 'state')], { closeStderr: true, timeoutMs: 20_000 });
    expect(r.code).toBe(141);
    expect(r.stdout).toBe('');
    expect(existsSync(join(dir, 'state', `${t.infoHash}.resume`))).toBe(true);
  });
});

describe('usage errors: the one error and where the help is', () => {
  test.each([
    [['download'], "mainline: missing required argument 'torrent'", "(see 'mainline download --help')"],
    [['bogus'], "mainline: unknown command 'bogus'", "(see 'mainline --help')"],
    [['download', 'x.torrent', '--minport', 'abc'], "mainline: option '--minport <port>' argument 'abc' is invalid. abc is not a non-negative number", "(see 'mainline download --help')"],
    [['seed', 'x.torrent'], "mainline: required option '-d, --data <dir>' not specified", "(see 'mainline seed --help')"],
  ])('%j', async (args, error, pointer) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${error}\n${pointer}\n`);
  });

  test('seed --help lists only what seeding uses; download --help has the download-only options', async () => {
    const seed = (await run(['seed', '--help'])).stdout;
    expect(seed).not.toContain('--max-download-rate');
    expect(seed).not.toContain('--sequential');
    expect(seed).toContain('--max-upload-rate');
    expect(seed).toMatch(/--select <list> +seed only these files/);
    const download = (await run(['download', '--help'])).stdout;
    expect(download).toContain('--max-download-rate');
    expect(download).toContain('--sequential');
  });
});

describe('errors name the file', () => {
  test('info and create say which file and what is wrong with it', async () => {
    const dir = makeTempDir('ml-cli-names-');
    const bad = join(dir, 'truncated.torrent');
    writeFileSync(bad, 'd4:info');
    mkdirSync(join(dir, 'empty'));
    const cases: [string[], string][] = [
      [['info', join(dir, 'nope.torrent')], `mainline: cannot read ${join(dir, 'nope.torrent')}: no such file or directory\n`],
      [['info', bad], `mainline: ${bad} is not a valid torrent: dictionary key has no value (at byte 7)\n`],
      [['create', join(dir, 'nope'), '-o', join(dir, 'x.torrent')], `mainline: cannot read ${join(dir, 'nope')}: no such file or directory\n`],
      [['create', join(dir, 'empty'), '-o', join(dir, 'x.torrent')], `mainline: cannot create a torrent of ${join(dir, 'empty')}: no files under ${join(dir, 'empty')}\n`],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      expect({ args, code: r.code, last: r.stderr.split(/(?<=\n)/).at(-1) }).toEqual({ args, code: 1, last: message });
    }
    const payload = await makePayload(join(dir, 'seed'), { name: 'f.bin', size: 1000 });
    const out = join(dir, 'no-such-dir', 'f.torrent');
    const r = await run(['create', payload.path, '-o', out]);
    expect(r.stderr.split(/(?<=\n)/).at(-1)).toBe(`mainline: cannot write ${out}: no such file or directory\n`);
  });

  test('create picks 256 KiB pieces for 22 MB (mktorrent and libtorrent pick far more than 16 KiB)', async () => {
    const dir = makeTempDir('ml-cli-piece-');
    const payload = await makePayload(join(dir, 'seed'), { name: 'big.bin', size: 22_000_000 });
    const r = await run(['create', payload.path, '-o', join(dir, 'big.torrent')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('84 pieces of 256KiB');
  });
});
