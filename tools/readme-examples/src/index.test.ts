import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readmeExamples, runExample, staleExamples, syncReadme } from './index.js';

let pkg: string;
beforeEach(async () => {
  pkg = await mkdtemp(join(tmpdir(), 'readme-examples-'));
  await mkdir(join(pkg, 'examples'));
});
afterEach(async () => rm(pkg, { recursive: true, force: true }));

const marker = (file: string, lang: string, code: string) => `<!-- example ${file} -->\n\`\`\`${lang}\n${code}\`\`\`\n<!-- /example -->`;

test('syncReadme fills each block from its file; staleExamples is then empty', async () => {
  await writeFile(join(pkg, 'examples', 'a.mjs'), "console.log('a');\n");
  await writeFile(join(pkg, 'examples', 'b.sh'), 'echo b\n');
  const readme = `# x\n\n${marker('examples/a.mjs', 'js', 'old\n')}\n\ntext\n\n${marker('examples/b.sh', 'sh', '')}\n`;
  await writeFile(join(pkg, 'README.md'), readme);
  expect(staleExamples(pkg)).toEqual([
    'examples/a.mjs: README.md shows an old copy (run pnpm readme-examples)',
    'examples/b.sh: README.md shows an old copy (run pnpm readme-examples)',
  ]);
  const synced = syncReadme(pkg, readme);
  expect(synced).toBe(`# x\n\n${marker('examples/a.mjs', 'js', "console.log('a');\n")}\n\ntext\n\n${marker('examples/b.sh', 'sh', 'echo b\n')}\n`);
  expect(readmeExamples(synced)).toEqual([
    { file: 'examples/a.mjs', code: "console.log('a');\n" },
    { file: 'examples/b.sh', code: 'echo b\n' },
  ]);
  await writeFile(join(pkg, 'README.md'), synced);
  expect(staleExamples(pkg)).toEqual([]);
  expect(syncReadme(pkg, synced)).toBe(synced);
});

test('staleExamples names example files the README does not show, blocks without a file, and a README without examples', async () => {
  await writeFile(join(pkg, 'examples', 'shown.mjs'), '1;\n');
  await writeFile(join(pkg, 'examples', 'hidden.mjs'), '2;\n');
  await writeFile(join(pkg, 'README.md'), `${marker('examples/shown.mjs', 'js', '1;\n')}\n${marker('examples/gone.mjs', 'js', '3;\n')}\n`);
  expect(staleExamples(pkg)).toEqual([
    'examples/gone.mjs: shown in README.md but missing',
    'examples/hidden.mjs: not shown in README.md (add <!-- example examples/hidden.mjs --><!-- /example -->)',
  ]);
  await writeFile(join(pkg, 'README.md'), '# nothing\n');
  await rm(join(pkg, 'examples'), { recursive: true });
  expect(staleExamples(pkg)).toEqual(['README.md shows no example from examples/']);
});

test('runExample runs node or bash in an empty directory, without FORCE_COLOR, and reports failures with their output', async () => {
  await writeFile(join(pkg, 'examples', 'where.mjs'), "import { readdirSync } from 'node:fs';\nconsole.log(readdirSync('.').length, process.env.FORCE_COLOR ?? 'plain');\n");
  await writeFile(join(pkg, 'examples', 'fail.sh'), 'echo before\nexit 3\n');
  process.env.FORCE_COLOR = '1';
  try {
    expect((await runExample(pkg, 'examples/where.mjs')).stdout).toBe('0 plain\n');
  } finally {
    delete process.env.FORCE_COLOR;
  }
  await expect(runExample(pkg, 'examples/fail.sh')).rejects.toThrow(/examples\/fail\.sh failed: [\s\S]*--- stdout\nbefore\n/);
  expect(await readFile(join(pkg, 'examples', 'fail.sh'), 'utf8')).toContain('exit 3');
});
