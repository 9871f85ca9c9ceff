import { join } from 'node:path';
import { runExample, testReadmeShowsExamples } from '@mainline/readme-examples';

const pkg = join(__dirname, '..');

testReadmeShowsExamples(pkg);

test('examples/library.mjs runs as pasted: starts the daemon on free ports, adds a torrent, asks the RPC', async () => {
  const { stdout } = await runExample(pkg, 'examples/library.mjs');
  expect(stdout).toBe("http://127.0.0.1:PORT/transmission/rpc\n1 notes.txt\n[ { id: 1, name: 'notes.txt', totalSize: 21 } ]\n");
});
