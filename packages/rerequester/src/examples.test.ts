import { join } from 'node:path';
import { runExample, testReadmeShowsExamples } from '@mainline/readme-examples';

const pkg = join(__dirname, '..');

testReadmeShowsExamples(pkg);

test('examples/usage.mjs runs as pasted: started, peers handed over, tracker status, completed, stopped', async () => {
  const { stdout, stderr } = await runExample(pkg, 'examples/usage.mjs');
  expect(stdout).toBe("peers: [ { ip: '192.0.2.7', port: 51413 } ]\nworking 1 no error\nthe tracker heard: started, completed, stopped\n");
  expect(stderr).toBe('');
});
