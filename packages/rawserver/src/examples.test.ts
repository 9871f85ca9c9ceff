import { join } from 'node:path';
import { runExample, testReadmeShowsExamples } from '@mainline/readme-examples';

const pkg = join(__dirname, '..');

testReadmeShowsExamples(pkg);

test('examples/usage.mjs runs as pasted: listens on loopback, dials itself, echoes, closes everything', async () => {
  const { stdout } = await runExample(pkg, 'examples/usage.mjs');
  expect(stdout).toBe('listening on 1 address\nconnected\nechoed: hello, peer\nclosed: local here, remote-closed there\nshut down: true 0\n');
});
