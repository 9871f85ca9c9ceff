import { join } from 'node:path';
import { runExample, testReadmeShowsExamples } from '@mainline/readme-examples';

const pkg = join(__dirname, '..');

testReadmeShowsExamples(pkg);

test('examples/usage.mjs runs as pasted: one session seeds, another downloads over loopback, files identical', async () => {
  const { stdout } = await runExample(pkg, 'examples/usage.mjs');
  expect(stdout).toBe('seeder: seeding\nleecher: seeding 1 0 true\nidentical: true\n');
});
