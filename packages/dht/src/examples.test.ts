import { join } from 'node:path';
import { runExample, testReadmeShowsExamples } from '@mainline/readme-examples';

const pkg = join(__dirname, '..');

testReadmeShowsExamples(pkg);

test('examples/usage.mjs runs as pasted: three nodes on loopback, an announce found by another node', async () => {
  const { stdout, stderr } = await runExample(pkg, 'examples/usage.mjs');
  expect(stdout).toMatch(/^announced to [12] node\(s\)\npeer: 127\.0\.0\.1:51413\nlookup ended: converged ; nodes known to the first node: 2\nsaved state: \d+ bytes\n$/);
  expect(stderr).toBe('');
});
