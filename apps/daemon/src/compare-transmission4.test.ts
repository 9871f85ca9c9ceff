// Issue 17, the 4.x generation: transmission-remote 4.x (Debian trixie's, unpacked by
// tools/interop/scripts/fetch-transmission4.sh) runs every 3.00 option and the options 4.x added
// against mainlined and against a real transmission-daemon 4.x, each on its own 127.0.0.x and
// config dir, compared as compare-transmission.test.ts compares 3.00 (compare-remote.ts). 4.x's
// remote starts in the 3.x dialect and switches to JSON-RPC 2.0 only when a 409 answer carries
// X-Transmission-Rpc-Version; mainlined never sends it, so every request here is the 3.x dialect
// (rpc.test.ts checks the header stays absent). The differences left are EXPECTED_4, each with its
// reason (also in the README).
import { startTransmissionDaemon4, transmissionRemote4, transmission4Version } from '@mainline/interop';
import { again, compareWithTransmission, ENTRY_KEYS_3, EXPECTED_3, STEPS_3, T, type Step } from './compare-remote.js';
import { killAll } from './test-helpers.js';

/** What 4.x's --help adds that touches the daemon. */
const NEW_IN_4: Step[] = [
  { args: ['-lg'], readOnly: true },
  { args: ['-ids'], readOnly: true },
  { args: ['-F', 'n:bundle', '-ids'], readOnly: true, label: '-F n:bundle' },
  { args: ['-j', '-l'], readOnly: true, json: true },
  { args: [...T, '-bwg', 'slow'] },
  { args: [...T, '-nwg'] },
  { args: [...T, '-isl', '5'] },
  { args: [...T, '-isld'] },
  { args: [...T, '-ISL'] },
  { args: ['-gisl', '7'] },
  { args: ['-GISL'] },
  { args: [...T, '-seq'] },
  { args: [...T, '-SEQ'] },
  { args: ['--torrent-done-seeding-script', '/bin/true'] },
  { args: ['--no-torrent-done-seeding-script'] },
  { args: [...T, '--path', 'bundle/d.txt', '--rename', 'e.txt'] },
];

const firstAgain = STEPS_3.findIndex((s) => s.label !== undefined);
const STEPS_4: Step[] = [...STEPS_3.slice(0, firstAgain), ...NEW_IN_4, again([...T, '-f']), ...STEPS_3.slice(firstAgain)];

/** What still differs with 4.x, and why (mirrored in apps/daemon/README.md). */
const EXPECTED_4: Record<string, string> = {
  ...EXPECTED_3,
  '-a {T2}': "uploadRatio of a torrent with nothing downloaded nor uploaded: -1 (3.00's uploaded / downloaded-or-have) where 4.x divides by sizeWhenDone and says 0",
  '-l': 'the Ratio column of that torrent: None (-1) against 0.00, as -a {T2}',
  '-l (after the changes)': 'as -l',
  '-si': "4.1.0-beta.2's daemon sends its speed limits as doubles (100.0), which its own remote does not read as integers: it prints no LIMITS block; mainlined sends integers and gets one",
  '-si (after the changes)': 'the LIMITS block as -si, and the cache size the refused -e 8 left apart',
  '-t 1 -i': '"Date finished": 4.x sets doneDate when a torrent added with its data is verified complete; mainlined (as 3.00) only when it finishes downloading',
  '-t 1 -i (after the changes)': 'as -t 1 -i',
  '-t 1 -bwg slow': 'bandwidth groups are not supported: group-get lists none, group-set and a torrent\'s "group" other than "" are refused',
};

afterAll(killAll);

test('every transmission-remote 4.x option: mainlined against transmission-daemon 4.x', async () => {
  expect(transmission4Version()).toMatch(/^4\./);
  const c = await compareWithTransmission({
    title: `transmission-remote ${transmission4Version()}`,
    steps: STEPS_4,
    remote: transmissionRemote4,
    startTheirs: startTransmissionDaemon4,
    addresses: { ours: '127.0.0.6', theirs: '127.0.0.5' },
    newFields: ['group', 'sequential_download'],
    // 4.0 added trackers' sitename, 4.1 the pieces each file spans.
    entryKeys: { files: [...ENTRY_KEYS_3.files, 'begin_piece', 'end_piece'], trackers: [...ENTRY_KEYS_3.trackers, 'sitename'] },
  });
  expect(c.unanswered).toEqual([]);
  expect(Object.keys(c.differences).sort()).toEqual(Object.keys(EXPECTED_4).sort());
  expect(c.elapsedMs).toBeLessThan(150_000);
  expect(c.dataLeft).toEqual([]);
}, 180_000);
