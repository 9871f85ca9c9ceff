// The state directory's torrent records: files written by earlier versions load, records are kept
// compact in memory, and what is written reads back the same.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '@mainline/interop';
import { compactRecord, prioritiesOf, StateStore, type TorrentRecord } from './state.js';

let dir: string;
beforeEach(() => {
  dir = makeTempDir('ml-daemon-state-');
});
afterEach(() => removeTempDir(dir));

const HASH_A = 'a'.repeat(40);
const HASH_B = 'b'.repeat(40);

/** A record as the daemon wrote it before records were kept compact: every field, the full priority list. */
const OLD_RECORD = {
  infoHash: HASH_A,
  name: 'album',
  downloadDir: '/data',
  paused: false,
  queuePosition: 0,
  peerLimit: 50,
  priorities: ['normal', 'normal', 'normal'],
  addedDate: 1_790_000_000,
  doneDate: 1_790_000_100,
  haveBytes: 3000,
  leftUntilDone: 0,
  secondsDownloading: 12,
  secondsSeeding: 3400,
  uploadLimit: 100,
  uploadLimited: false,
  downloadLimit: 100,
  downloadLimited: false,
};

function writeState(records: Record<string, unknown>[]): StateStore {
  const store = new StateStore(join(dir, 'state'));
  mkdirSync(store.torrentsDir, { recursive: true });
  for (const r of records) {
    writeFileSync(join(store.torrentsDir, `${r.infoHash as string}.json`), JSON.stringify(r, null, 1));
    writeFileSync(store.torrentPath(r.infoHash as string), 'd4:infod6:lengthi1eee');
  }
  return store;
}

test('a record written by an earlier version loads with the same values; all-normal priorities are not kept', async () => {
  const store = writeState([OLD_RECORD, { ...OLD_RECORD, infoHash: HASH_B, addedDate: OLD_RECORD.addedDate + 1, priorities: ['skip', 'high', 'normal'], labels: ['x'], seedRatioMode: 1, seedRatioLimit: 1.5 }]);
  const bad: string[] = [];
  const [a, b] = await store.load((f) => bad.push(f));
  expect(bad).toEqual([]);
  const { priorities: _allNormal, ...rest } = OLD_RECORD;
  expect(JSON.parse(JSON.stringify(a!.record))).toEqual(rest);
  expect(a!.record.priorities).toBeUndefined();
  expect(prioritiesOf(a!.record, 3)).toEqual(['normal', 'normal', 'normal']);
  expect(b!.record).toMatchObject({ priorities: ['skip', 'high', 'normal'], labels: ['x'], seedRatioMode: 1, seedRatioLimit: 1.5 });
  expect(prioritiesOf(b!.record, 3)).toEqual(['skip', 'high', 'normal']);
});

test('what is saved loads back the same, defaults left out of the file', async () => {
  const store = writeState([]);
  const record: TorrentRecord = compactRecord({ ...OLD_RECORD, priorities: ['normal', 'low', 'normal'], dataDir: '/incomplete', trackers: [['http://127.0.0.1:1/announce']], magnet: undefined } as TorrentRecord);
  await store.saveTorrentFile(HASH_A, Buffer.from('d4:infod6:lengthi1eee'));
  await store.saveRecord(record);
  const onDisk = JSON.parse(readFileSync(join(store.torrentsDir, `${HASH_A}.json`), 'utf8')) as Record<string, unknown>;
  expect(onDisk).not.toHaveProperty('magnet');
  expect(onDisk.priorities).toEqual(['normal', 'low', 'normal']);
  const [loaded] = await store.load(() => undefined);
  expect(loaded!.record).toEqual(record);

  // All normal again: the list goes from memory and from the file.
  await store.saveRecord(compactRecord({ ...record, priorities: ['normal', 'normal', 'normal'] }));
  expect(JSON.parse(readFileSync(join(store.torrentsDir, `${HASH_A}.json`), 'utf8'))).not.toHaveProperty('priorities');
  const [again] = await store.load(() => undefined);
  expect(again!.record.priorities).toBeUndefined();
});

test('an invalid priority list falls back to all normal', async () => {
  const store = writeState([{ ...OLD_RECORD, priorities: ['normal', 'urgent'] }]);
  const [a] = await store.load(() => undefined);
  expect(prioritiesOf(a!.record, 2)).toEqual(['normal', 'normal']);
});
