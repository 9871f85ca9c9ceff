// The Done means of issue 17: every transmission-remote 3.00 option of its --help that touches
// the daemon, run against mainlined and against a real transmission-daemon 3.00 (each on its own
// 127.0.0.x with its own config dir); after each, what each reports (session-get, torrent-get,
// and for read-only options the lines printed) is compared (compare-remote.ts). The differences
// left are exactly EXPECTED below, each with its reason (also in the README): a new difference
// fails, and so does an expected one that went away (update the table and the README).
import { startTransmissionDaemon, transmissionRemote } from '@mainline/interop';
import { compareWithTransmission, EXPECTED_3, STEPS_3 } from './compare-remote.js';
import { killAll } from './test-helpers.js';

afterAll(killAll);

test('every transmission-remote 3.00 option: mainlined against transmission-daemon 3.00', async () => {
  const c = await compareWithTransmission({ title: 'transmission-remote 3.00', steps: STEPS_3, remote: transmissionRemote, startTheirs: startTransmissionDaemon, addresses: { ours: '127.0.0.3', theirs: '127.0.0.2' } });
  expect(c.unanswered).toEqual([]);
  expect(Object.keys(c.differences).sort()).toEqual(Object.keys(EXPECTED_3).sort());
  expect(c.elapsedMs).toBeLessThan(150_000);
  // -rad deleted the data on both sides.
  expect(c.dataLeft).toEqual([]);
}, 180_000);
