import { join } from 'node:path';
import { runExample, testReadmeShowsExamples } from '@mainline/readme-examples';
import { BLOCK_SIZE } from './index.js';

const pkg = join(__dirname, '..');

testReadmeShowsExamples(pkg);

test('examples/usage.mjs runs as pasted: verifies a piece, fails a corrupt one, resumes without a recheck', async () => {
  const { stdout } = await runExample(pkg, 'examples/usage.mjs');
  const left = 80_000 - 2 * BLOCK_SIZE; // everything but the verified first piece
  expect(stdout).toBe(`written\nverified\nhashfail\ntrue ${left}\ntrue true false\n`);
});
