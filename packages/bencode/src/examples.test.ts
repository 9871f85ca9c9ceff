import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { runExample, testReadmeShowsExamples } from '@mainline/readme-examples';
import { encode } from './index.js';

const pkg = join(__dirname, '..');

testReadmeShowsExamples(pkg);

test('examples/usage.mjs runs as pasted: encodes, decodes, hashes the raw info span, refuses i03e', async () => {
  const info = encode({ length: 3, name: 'hello.txt', 'piece length': 16384, pieces: new Uint8Array(20) });
  const { stdout } = await runExample(pkg, 'examples/usage.mjs');
  expect(stdout.split('\n')).toEqual([
    'd8:announce31:http://tracker.example/announce',
    'http://tracker.example/announce',
    'hello.txt 3',
    createHash('sha1').update(info).digest('hex'),
    'LEADING_ZERO 1',
    '2',
    '',
  ]);
});
