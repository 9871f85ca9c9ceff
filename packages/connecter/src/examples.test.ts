import { join } from 'node:path';
import { runExample, testReadmeShowsExamples } from '@mainline/readme-examples';

const pkg = join(__dirname, '..');

testReadmeShowsExamples(pkg);

test('examples/usage.mjs runs as pasted: two hubs on loopback trade a block; a stranger is dropped', async () => {
  const { stdout } = await runExample(pkg, 'examples/usage.mjs');
  expect(stdout.split('\n')).toEqual([
    'handshake done, fast extension: true',
    'got have-all',
    'got extended-handshake',
    'got unchoke',
    'got piece',
    'block matches: true',
    'closed: local',
    'dropped a peer: BAD_HANDSHAKE',
    '',
  ]);
});
