// A README's usage examples are copies of runnable files under the package's examples/, between
// markers:
//
//   <!-- example examples/usage.mjs -->
//   ```js
//   ...the file, verbatim...
//   ```
//   <!-- /example -->
//
// `readme-examples` rewrites the copies from the files; each package's tests fail when a copy is
// stale (`staleExamples`) and run the files themselves (`runExample`).
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';

const BLOCK = /<!-- example (\S+) -->\n```[a-z]*\n([\s\S]*?)```\n<!-- \/example -->/g;

const LANGUAGES: Record<string, string> = { '.mjs': 'js', '.cjs': 'js', '.js': 'js', '.ts': 'ts', '.sh': 'sh' };

export interface ReadmeExample {
  /** Path relative to the package, e.g. `examples/usage.mjs`. */
  file: string;
  /** The code as the README shows it. */
  code: string;
}

/** The example blocks of a README, in order. */
export function readmeExamples(readme: string): ReadmeExample[] {
  return [...readme.matchAll(BLOCK)].map((m) => ({ file: m[1]!, code: m[2]! }));
}

function block(file: string, code: string): string {
  const body = code.endsWith('\n') ? code : `${code}\n`;
  return `<!-- example ${file} -->\n\`\`\`${LANGUAGES[extname(file)] ?? ''}\n${body}\`\`\`\n<!-- /example -->`;
}

/** The README with every block refreshed from its file. */
export function syncReadme(packageDir: string, readme: string): string {
  return readme.replace(BLOCK, (_, file: string) => block(file, readFileSync(join(packageDir, file), 'utf8')));
}

/** The files under `examples/` (relative to the package), sorted. */
export function exampleFiles(packageDir: string): string[] {
  const dir = join(packageDir, 'examples');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => LANGUAGES[extname(f)] !== undefined)
    .sort()
    .map((f) => `examples/${f}`);
}

/**
 * What is wrong between a package's README and its examples/: a block whose code differs from its
 * file (or names no file), and an example file the README does not show. Empty when in sync.
 */
export function staleExamples(packageDir: string): string[] {
  const readme = readFileSync(join(packageDir, 'README.md'), 'utf8');
  const shown = readmeExamples(readme);
  const problems: string[] = [];
  for (const { file, code } of shown) {
    const path = join(packageDir, file);
    if (!existsSync(path)) problems.push(`${file}: shown in README.md but missing`);
    else if (block(file, readFileSync(path, 'utf8')) !== block(file, code)) problems.push(`${file}: README.md shows an old copy (run pnpm readme-examples)`);
  }
  for (const file of exampleFiles(packageDir)) {
    if (!shown.some((s) => s.file === file)) problems.push(`${file}: not shown in README.md (add <!-- example ${file} --><!-- /example -->)`);
  }
  if (shown.length === 0) problems.push('README.md shows no example from examples/');
  return problems;
}

export interface ExampleRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunExampleOptions {
  /** Arguments after the file. */
  args?: string[];
  /** Extra environment (PATH additions for shell examples, ...). */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/**
 * Runs an example as a user would, in an empty temporary directory: `node file` for JavaScript,
 * `bash file` for shell. Rejects with both output streams when it fails.
 */
export async function runExample(packageDir: string, file: string, options: RunExampleOptions = {}): Promise<ExampleRun> {
  const cwd = await mkdtemp(join(tmpdir(), 'mainline-example-'));
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...options.env };
  delete env.FORCE_COLOR; // nx sets it; examples print plain text
  const [cmd, first] = extname(file) === '.sh' ? ['bash', []] : [process.execPath, []];
  try {
    return await new Promise<ExampleRun>((resolve, reject) => {
      execFile(cmd, [...first, join(packageDir, file), ...(options.args ?? [])], { cwd, env, timeout: options.timeoutMs ?? 60_000, maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`${file} failed: ${error.message}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
        else resolve({ code: 0, stdout, stderr });
      });
    });
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}

/** Registers, in the calling jest file, the test that fails while README.md's copies differ from examples/. */
export function testReadmeShowsExamples(packageDir: string): void {
  test('the README shows the files under examples/ as they are (pnpm readme-examples)', () => {
    expect(staleExamples(packageDir)).toEqual([]);
  });
}
