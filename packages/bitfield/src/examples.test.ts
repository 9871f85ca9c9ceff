import { join } from 'node:path';
import { runExample, testReadmeShowsExamples } from '@mainline/readme-examples';

const pkg = join(__dirname, '..');

testReadmeShowsExamples(pkg);

test('examples/usage.mjs runs as pasted: counts, set algebra on a peer bitfield, refuses spare bits', async () => {
  const { stdout } = await runExample(pkg, 'examples/usage.mjs');
  // Theirs: pieces 0-3 (0b1111_0000) and 15 (last bit of byte 1); ours: 0 and 3 → 0b1001_0000 = 0x90.
  expect(stdout).toBe('2 false true\ntrue\n[ 1, 2, 15 ]\nSPARE_BITS\n900000\n');
});
