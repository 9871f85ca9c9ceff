import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, startHangUpPeer } from '@mainline/interop';
import { Session } from '@mainline/session';
import { run, seedingSession, sha1 } from './test-cli.js';

describe('mainline CLI', () => {
  test('--help lists the commands and the mainline defaults', async () => {
    const top = await run(['--help']);
    expect(top.code).toBe(0);
    for (const c of ['download', 'seed', 'create', 'info', 'verify', 'demo']) expect(top.stdout).toContain(c);
    const dl = await run(['download', '--help']);
    expect(dl.stdout).toMatch(/--max-uploads <n>.*\(default: 7\)/);
    expect(dl.stdout).toMatch(/--minport <port>.*\(default: 6881\)/);
    expect(dl.stdout).toMatch(/--timeout <s>[^\n]*\n?[^-]*\(default: 300\)/);
    expect(dl.stdout).toMatch(/--no-lsd +do not look for peers on the local network/);
  });

  test('create makes a torrent that mktorrent-compatible tools read; info shows it', async () => {
    const dir = makeTempDir('ml-cli-create-');
    const payload = await makePayload(dir, { name: 'docs', files: [{ path: 'a.txt', size: 100_000 }, { path: 'b/c.bin', size: 300_000 }] });
    const out = join(dir, 'docs.torrent');
    const created = await run(['create', payload.path, '-o', out, '-t', 'http://127.0.0.1:1/announce', '--piece-length', '32768', '--private', '--comment', 'hello']);
    expect(created.code).toBe(0);
    const hash = /Info-hash: ([0-9a-f]{40})/.exec(created.stdout)?.[1];
    expect(hash).toBeDefined();
    expect(execFileSync('transmission-show', [out]).toString()).toContain(`Hash: ${hash}`);
    const shown = await run(['info', out]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`Info-hash:   ${hash}`);
    expect(shown.stdout).toContain('Private:     yes');
    expect(shown.stdout).toContain('docs/b/c.bin');
    expect(shown.stdout).toContain('Comment:     hello');
  });

  test('bad input gets a clear message and a non-zero exit', async () => {
    const dir = makeTempDir('ml-cli-bad-');
    const bad = join(dir, 'bad.torrent');
    await writeFile(bad, 'd4:infod6:lengthi-5eee');
    const r = await run(['info', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/mainline: /);
    const missing = await run(['download', join(dir, 'nope.torrent')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('cannot read');
    const usage = await run(['download']);
    expect(usage.code).not.toBe(0);
    expect(usage.stderr).toContain("missing required argument 'torrent'");
  });

  test('verify passes good data and names the damaged file', async () => {
    const dir = makeTempDir('ml-cli-verify-');
    const payload = await makePayload(dir, { name: 'set', files: [{ path: 'one.bin', size: 200_000 }, { path: 'two.bin', size: 200_000 }] });
    const t = makeTorrent(payload.path, { pieceLength: 32768 });
    const good = await run(['verify', t.path, '-d', payload.saveDir]);
    expect(good.code).toBe(0);
    expect(good.stdout).toContain(`${t.metainfo.pieceCount} of ${t.metainfo.pieceCount} pieces verified`);
    const fh = await open(join(payload.path, 'two.bin'), 'r+');
    // Byte 150000 of two.bin lies in a piece that holds only two.bin's bytes.
    await fh.write(Buffer.from([0xff ^ (await readFile(join(payload.path, 'two.bin')))[150_000]!]), 0, 1, 150_000);
    await fh.close();
    const bad = await run(['verify', t.path, '-d', payload.saveDir]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('  damaged: set/two.bin');
    expect(bad.stdout).not.toContain('damaged: set/one.bin');
  });

  test('download from a seeding session exits 0 with identical data; a second run resumes without downloading', async () => {
    const dir = makeTempDir('ml-cli-dl-');
    const payload = await makePayload(join(dir, 'seed'), { name: 'movie.bin', size: 6 * 1024 * 1024 + 5 });
    const t = makeTorrent(payload.path, { pieceLength: 65536 });
    const { seeder, port } = await seedingSession(t, payload.saveDir);
    try {
      const out = join(dir, 'out');
      const args = ['download', t.path, '-o', out, '--no-trackers', '--peer', `127.0.0.1:${port}`, '--minport', '0', '--maxport', '0', '--state-dir', join(dir, 'state')];
      const first = await run(args);
      expect(first.stderr).toContain('done:');
      expect(first.code).toBe(0);
      expect(first.stderr).not.toContain('local peer discovery'); // --no-lsd (see noMulticast)
      // The end-of-run summary: time, average rate, and what came from whom.
      expect(first.stderr).toMatch(/\nsummary: 6\.00MiB downloaded in \d+s \([\d.]+[KM]iB\/s on average\), 0B uploaded, from 1 peer:\n/);
      expect(first.stderr).toMatch(new RegExp(`\n  127\\.0\\.0\\.1:${port} {2}mainline-ts 0\\.1\\.0\\.0 {2}down 6\\.00MiB \\(100\\.0%\\) {2}up 0B\n`));
      expect(await sha1(join(out, 'movie.bin'))).toBe(await sha1(payload.path));
      const uploadedBefore = seeder.torrents[0]!.uploaded;
      // LSD on (the default), bound to loopback: it has no interface and says so (the netns tests run it for real).
      const second = await run([...args, '--bind', '127.0.0.1']);
      expect(second.stderr).toContain('local peer discovery not running: no network interface');
      expect(second.code).toBe(0);
      expect(seeder.torrents[0]!.uploaded).toBe(uploadedBefore);
    } finally {
      await seeder.close();
    }
  });

  test('download --select exits 0 once the selected files are verified; the others are not created', async () => {
    const dir = makeTempDir('ml-cli-select-');
    const payload = await makePayload(join(dir, 'seed'), {
      name: 'album',
      files: [
        { path: 'a.bin', size: 400_000 },
        { path: 'b.bin', size: 900_000 },
        { path: 'c.bin', size: 300_000 },
      ],
    });
    const t = makeTorrent(payload.path, { pieceLength: 32768 });
    const { seeder, port } = await seedingSession(t, payload.saveDir);
    try {
      // `mainline info` numbers files from 1 in metainfo order; select all but b.bin.
      const names = t.metainfo.files.map((f) => f.path.at(-1));
      const select = names.flatMap((n, i) => (n === 'b.bin' ? [] : [String(i + 1)])).join(',');
      const out = join(dir, 'out');
      const args = ['download', t.path, '-o', out, '--select', select, '--no-trackers', '--peer', `127.0.0.1:${port}`, '--minport', '0', '--maxport', '0', '--state-dir', join(dir, 'state')];
      const first = await run(args, { timeoutMs: 30_000 });
      expect(first.stderr).toContain('done:');
      expect(first.stderr).toContain('2 of 3 files');
      expect(first.code).toBe(0);
      for (const name of ['a.bin', 'c.bin']) expect(await sha1(join(out, 'album', name))).toBe(await sha1(join(payload.path, name)));
      expect(existsSync(join(out, 'album', 'b.bin'))).toBe(false);
      // Less than the whole torrent came over the wire.
      expect(seeder.torrents[0]!.uploaded).toBeLessThan(payload.totalSize);
      // Run again: the resume record says the selection is complete; nothing is downloaded.
      const uploadedBefore = seeder.torrents[0]!.uploaded;
      const second = await run(args, { timeoutMs: 30_000 });
      expect(second.code).toBe(0);
      expect(seeder.torrents[0]!.uploaded).toBe(uploadedBefore);
    } finally {
      await seeder.close();
    }
  });

  test('Ctrl-C during a download saves resume data and exits 130', async () => {
    const dir = makeTempDir('ml-cli-int-');
    const payload = await makePayload(join(dir, 'seed'), { name: 'big.bin', size: 8 * 1024 * 1024 });
    const t = makeTorrent(payload.path, { pieceLength: 65536 });
    const seeder = new Session({ portRange: [0, 0], bind: '127.0.0.1', uploadLimit: 1024 * 1024 });
    try {
      const port = await seeder.listen();
      await seeder.add(t.bytes, { savePath: payload.saveDir });
      const stateDir = join(dir, 'state');
      const args = ['download', t.path, '-o', join(dir, 'out'), '--no-trackers', '--peer', `127.0.0.1:${port}`, '--minport', '0', '--maxport', '0', '--state-dir', stateDir];
      const r = await run(args, { signalAfterMs: 2500 });
      expect(r.code).toBe(130);
      expect(r.stderr).toContain('resume data saved');
      const resume = await readFile(join(stateDir, `${t.infoHash}.resume`));
      expect(resume.length).toBeGreaterThan(0);
    } finally {
      await seeder.close();
    }
  });

  test('Ctrl-C while seeding exits 130 too (it was 0), with the summary', async () => {
    const dir = makeTempDir('ml-cli-seed-int-');
    const payload = await makePayload(join(dir, 'seed'), { name: 's.bin', size: 200_000 });
    const t = makeTorrent(payload.path, { pieceLength: 32768 });
    const r = await run(['seed', t.path, '-d', payload.saveDir, '--no-trackers', '--minport', '0', '--maxport', '0', '--state-dir', join(dir, 'state')], { signalAfterMs: 1500 });
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('interrupted (SIGINT): resume data saved; run the same command again to continue');
    expect(r.stderr).toMatch(/\nsummary: seeded for \d+s, 0B uploaded/);
  });

  test('a state directory that cannot be written: one warning, the download still completes', async () => {
    const dir = makeTempDir('ml-cli-state-');
    const payload = await makePayload(join(dir, 'seed'), { name: 'w.bin', size: 2 * 1024 * 1024 });
    const t = makeTorrent(payload.path, { pieceLength: 32768 });
    const { seeder, port } = await seedingSession(t, payload.saveDir);
    try {
      const notADir = join(dir, 'file');
      await writeFile(notADir, 'not a directory');
      const stateDir = join(notADir, 'state');
      const r = await run(['download', t.path, '-o', join(dir, 'out'), '--no-trackers', '--peer', `127.0.0.1:${port}`, '--minport', '0', '--maxport', '0', '--state-dir', stateDir]);
      expect(r.code).toBe(0);
      const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning:'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(new RegExp(`^warning: cannot save resume data in ${stateDir}: .*; the next run will check the data again$`));
      expect(r.stderr).toContain('done:');
    } finally {
      await seeder.close();
    }
  });

  test('a peer that hangs up after our handshake: said each time it is dialled, and dialling goes on', async () => {
    const dir = makeTempDir('ml-cli-rude-');
    const payload = await makePayload(join(dir, 'seed'), { name: 'r.bin', size: 100_000 });
    const t = makeTorrent(payload.path, { pieceLength: 32768 });
    const rude = await startHangUpPeer();
    const port = rude.port;
    try {
      // The named peer is dialled again every 15 s: two dials within 17 s.
      const r = await run(['download', t.path, '-o', join(dir, 'out'), '--no-trackers', '--peer', `127.0.0.1:${port}`, '--minport', '0', '--maxport', '0', '--state-dir', join(dir, 'state')], { signalAfterMs: 17_000 });
      const said = r.stderr.split('\n').filter((l) => l === `peer 127.0.0.1:${port} closed the connection after the handshake: it may require encryption`);
      expect(said).toHaveLength(2);
      expect(rude.handshakes()).toBe(2);
      expect(r.code).toBe(130);
    } finally {
      await rude.close();
    }
  }, 40_000);

  test('demo runs the whole client and verifies the result', async () => {
    const r = await run(['demo', '--size', '8']);
    expect(r.stdout).toContain('demo complete: the download is identical to the seed');
    expect(r.code).toBe(0);
  });
});
