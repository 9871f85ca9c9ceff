import { join } from 'node:path';
import { runExample, testReadmeShowsExamples } from '@mainline/readme-examples';

const pkg = join(__dirname, '..');

testReadmeShowsExamples(pkg);

test('examples/usage.mjs runs as pasted: creates, parses, checks a tracker reply, refuses an escaping path', async () => {
  const { stdout } = await runExample(pkg, 'examples/usage.mjs');
  const last = 105_000 - 3 * 32_768; // 4 pieces of 32 KiB for 105,000 bytes
  expect(stdout.split('\n')).toEqual([
    `album 105000 4 ${last}`,
    '/downloads/album/01.flac 100000 0',
    '/downloads/album/cover.jpg 5000 100000',
    'true',
    "1800 [ { ip: '127.0.0.1', port: 6881 } ]",
    'UNSAFE_PATH',
    '',
  ]);
});
