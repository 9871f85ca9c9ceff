import { join } from 'node:path';
import { runExample, testReadmeShowsExamples } from '@mainline/readme-examples';

const pkg = join(__dirname, '..');

testReadmeShowsExamples(pkg);

test('examples/usage.mjs runs as pasted: the fastest maxUploads − 1 plus one optimistic unchoke, rechoked on time and on interest', async () => {
  const { stdout } = await runExample(pkg, 'examples/usage.mjs');
  const rounds = stdout.trimEnd().split('\n').map((line) => {
    const [, unchoked, preferred] = /^unchoked: (.*) \| by rate: (.*)$/.exec(line)!;
    return { unchoked: unchoked!.split(' '), preferred: preferred!.split(' ') };
  });
  // By rate: the two fastest interested peers (maxUploads 3 − 1); c 90k, e 70k; then b 200k; then c leaves.
  expect(rounds.map((r) => r.preferred)).toEqual([['c', 'e'], ['b', 'c'], ['b', 'e']]);
  for (const r of rounds) {
    expect(r.unchoked).toHaveLength(3); // plus one optimistic unchoke
    expect(r.unchoked).toEqual(expect.arrayContaining(r.preferred));
  }
  expect(rounds[2]!.unchoked).not.toContain('c');
});
