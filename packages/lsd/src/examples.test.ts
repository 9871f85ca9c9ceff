import { join } from 'node:path';
import { runExample, testReadmeShowsExamples } from '@mainline/readme-examples';

const pkg = join(__dirname, '..');

testReadmeShowsExamples(pkg);

test('examples/usage.mjs runs as pasted: two clients on loopback find each other', async () => {
  const { stdout, stderr } = await runExample(pkg, 'examples/usage.mjs');
  expect(stdout).toBe("alice found { ip: '127.0.0.1', port: 6882 }\nbob found { ip: '127.0.0.1', port: 6881 }\nannounces sent: 1 1\n");
  expect(stderr).toBe('');
});
