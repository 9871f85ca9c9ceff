import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runExample, testReadmeShowsExamples } from '@mainline/readme-examples';

const pkg = join(__dirname, '..');

testReadmeShowsExamples(pkg);

test('examples/try-it.sh runs as pasted with the built `mainline` on PATH: create, info, verify, demo', async () => {
  const bin = await mkdtemp(join(tmpdir(), 'mainline-bin-'));
  try {
    await symlink(join(pkg, 'dist', 'cli.js'), join(bin, 'mainline')); // what npm install -g links
    const { stdout } = await runExample(pkg, 'examples/try-it.sh', { env: { PATH: `${bin}:${process.env.PATH ?? ''}` }, timeoutMs: 120_000 });
    const infoHash = /\b[0-9a-f]{40}\b/.exec(stdout)?.[0] ?? 'none';
    expect(stdout.split(infoHash).length - 1).toBeGreaterThanOrEqual(2); // printed by create, read back by info
    expect(stdout).toContain('demo complete: the download is identical to the seed');
  } finally {
    await rm(bin, { recursive: true, force: true });
  }
});
