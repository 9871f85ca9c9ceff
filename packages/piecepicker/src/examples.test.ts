import { join } from 'node:path';
import { runExample, testReadmeShowsExamples } from '@mainline/readme-examples';

const pkg = join(__dirname, '..');

testReadmeShowsExamples(pkg);

test('examples/usage.mjs runs as pasted: rarest first, endgame duplicates and their cancels, choke returns requests', async () => {
  const { stdout } = await runExample(pkg, 'examples/usage.mjs');
  const last = 32_768 - 1000 - 16_384; // second block of the short last piece
  const lines = stdout.split('\n');
  // Endgame duplicates come in random order (the picker's injectable random).
  lines[3] = `seed  -> ${lines[3]!.slice('seed  -> '.length).split(' ').sort().join(' ')}`;
  expect(lines).toEqual([
    '2 1 true',
    `seed  -> 5:0+16384 5:16384+${last}`,
    'peerA -> 4:0+16384 4:16384+16384',
    'seed  -> 4:0+16384 4:16384+16384',
    'cancel 4:0+16384 to seed',
    'cancel 4:16384+16384 to seed',
    `5:0+16384 5:16384+${last} 5 false`,
    '',
  ]);
});
