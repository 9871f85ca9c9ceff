// Bandwidth priority under a global limit, on real loopback: two torrents of one session, each
// from its own seed, share the session's download limit by their priorities (high 4 parts, low
// 1), whatever their peer counts.
import { join } from 'node:path';
import { makePayload, makeTempDir, makeTorrent, removeTempDir } from '@mainline/interop';
import { Session, type Torrent } from './index.js';
import { until } from './test-helpers.js';

let dir: string | undefined;
const sessions: Session[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
  if (dir) removeTempDir(dir);
});

async function loopback(options: ConstructorParameters<typeof Session>[0] = {}): Promise<Session> {
  const s = new Session({ portRange: [0, 0], bind: '127.0.0.1', ...options });
  sessions.push(s);
  await s.listen();
  return s;
}

test('under the session download limit a high-priority torrent gets clearly more than a low one', async () => {
  dir = makeTempDir('ml-bandwidth-priority-');
  const leecher = await loopback({ downloadLimit: 250_000 });
  const got: Torrent[] = [];
  for (const [name, priority] of [['high', 'high'], ['low', 'low']] as const) {
    const payload = await makePayload(join(dir, name), { name: `${name}.bin`, size: 1_500_000 });
    const made = makeTorrent(payload.path, { pieceLength: 32768 });
    const seed = await loopback();
    const seeding = await seed.add(made.bytes, { savePath: payload.saveDir, noTrackers: true });
    await until(() => seeding.state === 'seeding', 'the seed checks its data');
    got.push(await leecher.add(made.bytes, { savePath: join(dir, `${name}-dl`), noTrackers: true, bandwidthPriority: priority, peers: [{ ip: '127.0.0.1', port: seed.port }] }));
  }
  const [high, low] = got as [Torrent, Torrent];
  expect(high.bandwidthPriority).toBe('high');
  await until(() => high.state === 'seeding', 'the high-priority download completes', 30_000);
  const ratio = high.downloaded / low.downloaded;
  process.stdout.write(`bandwidth priority at 250 kB/s: high ${high.downloaded} B, low ${low.downloaded} B when high finished (ratio ${ratio.toFixed(2)}; weights 4:1)\n`);
  // Equal shares would give about 1; the weights 4.
  expect(ratio).toBeGreaterThan(2.5);
  // Alone, the low one gets the whole limit and completes.
  await until(() => low.state === 'seeding', 'the low-priority download completes', 30_000);
}, 60_000);
