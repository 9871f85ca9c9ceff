// The Done means of issue 17: every transmission-remote 3.00 option of its --help that touches
// the daemon, run against mainlined and against a real transmission-daemon 3.00 (each on its own
// 127.0.0.x with its own config dir); after each, what each reports (session-get, torrent-get,
// and for read-only options the lines printed) is compared. The differences left are exactly
// EXPECTED below, each with its reason (also in the README): a new difference fails, and so does
// an expected one that went away (update the table and the README).
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { freePort, makePayload, makeTempDir, makeTorrent, poll, removeTempDir, startTransmissionDaemon, type TransmissionDaemon } from '@mainline/interop';
import { killAll, rpcClient, spawnDaemon, type SpawnedDaemon } from './test-helpers.js';

/** One transmission-remote invocation; `{DIR}` is each daemon's own directory. */
interface Step {
  args: string[];
  /** Prints only: compared by the lines' labels, not by state. */
  readOnly?: boolean;
  /** Not run against transmission-daemon: it would send traffic off this machine. */
  local?: string;
  /** Its name in the tables when the same option runs twice. */
  label?: string;
}

const again = (args: string[]): Step => ({ args, readOnly: true, label: `${args.join(' ')} (after the changes)` });

const T = ['-t', '1'];
const STEPS: Step[] = [
  { args: ['-a', '{T1}'] },
  { args: ['-a', '{T2}'] },
  { args: ['-l'], readOnly: true },
  { args: ['-si'], readOnly: true },
  { args: ['-st'], readOnly: true },
  { args: [...T, '-i'], readOnly: true },
  { args: [...T, '-f'], readOnly: true },
  { args: [...T, '-if'], readOnly: true },
  { args: [...T, '-ip'], readOnly: true },
  { args: [...T, '-pi'], readOnly: true },
  { args: [...T, '-ic'], readOnly: true },
  { args: [...T, '-it'], readOnly: true },
  { args: ['-pt'], local: 'port-test asks portcheck.transmissionbt.com' },
  { args: ['-as'] },
  { args: ['-AS'] },
  { args: ['-asd', '123'] },
  { args: ['-asu', '124'] },
  { args: ['-asc'] },
  { args: ['-ASC'] },
  { args: ['--alt-speed-time-begin', '0830'] },
  { args: ['--alt-speed-time-end', '1745'] },
  { args: ['--alt-speed-days', '1-5'] },
  { args: ['--blocklist-update'] },
  { args: ['-c', '{DIR}/incomplete'] },
  { args: ['-C'] },
  { args: ['-d', '300'] },
  { args: ['-D'] },
  { args: ['-u', '200'] },
  { args: ['-U'] },
  { args: ['-e', '8'] },
  { args: ['-er'] },
  { args: ['-ep'] },
  { args: ['-et'] },
  { args: ['-m'], local: 'port forwarding would send UPnP / NAT-PMP to the network' },
  { args: ['-M'] },
  { args: ['-o'], local: "Transmission's DHT would bootstrap from the Internet (ours has no bootstrap nodes here)" },
  { args: ['-O'] },
  { args: ['-p', '{PORT}'] },
  { args: ['-P'] },
  { args: ['-pr', '40'] },
  { args: ['-gsr', '1.5'] },
  { args: ['-GSR'] },
  { args: ['--torrent-done-script', '/bin/true'] },
  { args: ['--no-torrent-done-script'] },
  { args: ['--start-paused'] },
  { args: ['--no-start-paused'] },
  { args: ['--trash-torrent'] },
  { args: ['--no-trash-torrent'] },
  { args: ['--utp'] },
  { args: ['--no-utp'] },
  { args: ['-w', '{DIR}/other'] },
  { args: ['-w', '{DIR}/dl'] },
  { args: ['-x'] },
  { args: ['-X'] },
  { args: ['-y'], local: 'local peer discovery would multicast on the network' },
  { args: ['-Y'] },
  { args: [...T, '-L', 'linux,iso'] },
  { args: [...T, '-G', '1'] },
  { args: [...T, '-g', '1'] },
  { args: [...T, '-ph', '0'] },
  { args: [...T, '-pl', '0'] },
  { args: [...T, '-pn', '0'] },
  { args: [...T, '-Bh'] },
  { args: [...T, '-Bl'] },
  { args: [...T, '-Bn'] },
  { args: [...T, '-pr', '20'] },
  { args: [...T, '-sr', '1.5'] },
  { args: [...T, '-srd'] },
  { args: [...T, '-SR'] },
  { args: [...T, '-HL'] },
  { args: [...T, '-hl'] },
  { args: [...T, '-d', '50'] },
  { args: [...T, '-D'] },
  { args: [...T, '-u', '60'] },
  { args: [...T, '-U'] },
  { args: [...T, '-td', 'http://127.0.0.1:1/announce'] },
  { args: [...T, '-tr', '0'] },
  { args: [...T, '--reannounce'] },
  { args: [...T, '-S'] },
  { args: [...T, '-s'] },
  { args: [...T, '-v'] },
  { args: [...T, '--move', '{DIR}/moved'] },
  { args: [...T, '--find', '{DIR}/moved'] },
  again(['-l']),
  again(['-si']),
  again(['-st']),
  again([...T, '-i']),
  again([...T, '-f']),
  again([...T, '-it']),
  { args: ['-t', '2', '-r'] },
  { args: [...T, '-rad'] },
];

/** What still differs, by the option as typed, and why (mirrored in apps/daemon/README.md). */
const EXPECTED: Record<string, string> = {
  '-si (after the changes)': 'prints the value the refused -e 8 left apart (see it)',
  '-e 8': 'no memory cache: blocks are written as they arrive; cache-size-mb is 0 and other values are refused',
  '-er': 'no MSE encryption yet: only "tolerated" (plaintext) is accepted',
  '-ep': 'no MSE encryption yet: only "tolerated" (plaintext) is accepted',
  '--utp': 'no uTP yet: utp-enabled true is refused',
};

const TORRENT_FIELDS = [
  'id', 'name', 'hashString', 'status', 'totalSize', 'sizeWhenDone', 'leftUntilDone', 'percentDone', 'haveValid', 'isFinished', 'isPrivate',
  'error', 'errorString', 'downloadDir', 'files', 'fileStats', 'priorities', 'wanted', 'pieceCount', 'pieceSize', 'comment', 'labels',
  'bandwidthPriority', 'peer-limit', 'seedRatioLimit', 'seedRatioMode', 'seedIdleLimit', 'seedIdleMode', 'honorsSessionLimits',
  'downloadLimit', 'downloadLimited', 'uploadLimit', 'uploadLimited', 'queuePosition', 'trackers', 'webseeds', 'metadataPercentComplete',
  'recheckProgress', 'uploadRatio', 'peersConnected', 'magnetLink',
];
/** session-get keys that name the program or its instance, not a setting. */
const VOLATILE = new Set(['version', 'session-id', 'rpc-version', 'rpc-version-minimum', 'rpc-version-semver', 'config-dir', 'blocklist-size', 'download-dir-free-space', 'units']);

interface Side {
  name: string;
  dir: string;
  target: string;
  rpc: (method: string, args?: Record<string, unknown>) => Promise<{ result: string; arguments: Record<string, unknown> }>;
  initialPort: number;
}
type Snapshot = Record<string, unknown>;

function run(target: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  return new Promise((resolve) => {
    execFile('transmission-remote', [target, ...args], { timeout: 30_000 }, (err, stdout, stderr) => resolve({ ok: !err && !/error|not recognized/i.test(stdout + stderr), out: stdout + stderr }));
  });
}

/** Each side's paths and ports written alike, so values compare. */
function normalize(side: Side, v: unknown): unknown {
  return JSON.parse(JSON.stringify(v).split(side.dir).join('{DIR}'));
}

async function snapshot(side: Side): Promise<Snapshot> {
  const out: Snapshot = {};
  const s = (await side.rpc('session-get')).arguments;
  for (const [k, v] of Object.entries(s)) {
    if (VOLATILE.has(k)) continue;
    out[`session.${k}`] = k === 'peer-port' && v === side.initialPort ? 'initial' : normalize(side, v);
  }
  const st = (await side.rpc('session-stats')).arguments;
  for (const k of ['activeTorrentCount', 'pausedTorrentCount', 'torrentCount']) out[`stats.${k}`] = st[k];
  const torrents = (await side.rpc('torrent-get', { fields: TORRENT_FIELDS })).arguments.torrents as Record<string, unknown>[];
  for (const t of torrents) for (const f of TORRENT_FIELDS) out[`torrent.${String(t.id)}.${f}`] = normalize(side, t[f]);
  return out;
}

/**
 * Waits until no torrent checks and `times` snapshots in a row agree. transmission-daemon
 * applies a stop or a start on its own loop, up to a second later: steps that change a torrent's
 * state wait longer.
 */
async function settled(side: Side, times = 2): Promise<Snapshot> {
  let last = await snapshot(side);
  let same = 1;
  return poll(
    async () => {
      await new Promise((r) => setTimeout(r, times > 2 ? 350 : 150));
      const next = await snapshot(side);
      const busy = Object.entries(next).some(([k, v]) => k.endsWith('.status') && (v === 1 || v === 2));
      same = isDeepStrictEqual(next, last) ? same + 1 : 1;
      last = next;
      return same >= times && !busy ? next : undefined;
    },
    15_000,
    () => `${side.name} to settle`,
  );
}

/** Options that start, stop, check, add or remove a torrent. */
const STATE_CHANGES = /^(-a|-s|-S|-v|-r|-rad)$/;

/** Lines whose value names the program, the instance or the moment, not the torrent or a setting. */
const INSTANCE_LABELS = /^(Daemon version|Duration|Version|RPC version|RPC minimum version|Configuration directory|Listenport|Date (added|started|finished|created)|Latest activity|Downloading Time|Seeding Time|Created by|Creator|Started at|Uptime|Session ID|Time spent|Started|Session Count)\b/i;

/**
 * What a read-only option prints, line by line with each side's directory written alike: a
 * line "Label: value" compares by both, except for INSTANCE_LABELS (by the label); other lines
 * (tables) compare with numbers blanked.
 */
function shape(side: Side, out: string): string[] {
  return out
    .split(side.dir)
    .join('{DIR}')
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter((l) => l !== '')
    .map((l) => {
      if (!l.includes(':') || /^\d/.test(l)) return l.replace(/\d+(\.\d+)?/g, 'N');
      return INSTANCE_LABELS.test(l) ? l.slice(0, l.indexOf(':')) : l;
    })
    .filter((l, i, all) => all.indexOf(l) === i);
}

let root: string;
let ours: SpawnedDaemon | undefined;
let theirs: TransmissionDaemon | undefined;
afterAll(async () => {
  killAll();
  await theirs?.stop();
  if (root) removeTempDir(root);
});

test('every transmission-remote 3.00 option: mainlined against transmission-daemon 3.00', async () => {
  const began = Date.now();
  root = makeTempDir('compare-tr');
  const payload = await makePayload(join(root, 'src'), { name: 'bundle', files: [{ path: 'a.bin', size: 200_000 }, { path: 'b/c.bin', size: 90_000 }, { path: 'd.txt', size: 1000 }] });
  makeTorrent(payload.path, { pieceLength: 32 * 1024, outPath: join(root, 't1.torrent'), comment: 'compared' });
  const lone = await makePayload(join(root, 'src'), { name: 'lonely.bin', size: 300_000 });
  makeTorrent(lone.path, { pieceLength: 32 * 1024, outPath: join(root, 't2.torrent') });
  const dirs = { ours: join(root, 'ours'), theirs: join(root, 'theirs') };
  for (const d of Object.values(dirs)) {
    mkdirSync(join(d, 'dl'), { recursive: true });
    cpSync(payload.path, join(d, 'dl', 'bundle'), { recursive: true }); // T1 seeds, T2 has no data
  }
  theirs = await startTransmissionDaemon({
    address: '127.0.0.2',
    downloadDir: join(dirs.theirs, 'dl'),
    settings: { encryption: 0, 'cache-size-mb': 0, 'peer-limit-global': 200, 'peer-limit-per-torrent': 50, 'rename-partial-files': false },
  });
  // No DHT bootstrap nodes: -o turns our DHT on, and nothing may leave the machine (not even a
  // DNS lookup of the public routers). PEX starts off, as the harness starts transmission-daemon.
  const oursConfig = join(dirs.ours, 'mainlined.json');
  writeFileSync(oursConfig, JSON.stringify({ dhtBootstrap: [], pexEnabled: false }));
  ours = await spawnDaemon({ stateDir: join(dirs.ours, 'state'), downloadDir: join(dirs.ours, 'dl'), args: ['--config', oursConfig, '--bind', '127.0.0.3', '--rpc-bind', '127.0.0.3'] });
  const theirsRpc = theirs.rpc;
  const oursRpc = rpcClient(ours.rpcPort, undefined, '127.0.0.3');
  const sides: [Side, Side] = [
    { name: 'mainlined', dir: dirs.ours, target: `127.0.0.3:${ours.rpcPort}`, rpc: oursRpc, initialPort: ours.peerPort },
    { name: 'transmission-daemon', dir: dirs.theirs, target: theirs.rpcTarget, rpc: theirsRpc, initialPort: theirs.peerPort },
  ];
  const freeForP = String(await freePort());
  let before = await Promise.all(sides.map(settled));
  const differences: Record<string, string[]> = {};
  const notRun: string[] = [];
  for (const step of STEPS) {
    const key = step.label ?? step.args.join(' ');
    const argsFor = (s: Side): string[] => step.args.map((a) => a.replace('{DIR}', s.dir).replace('{PORT}', freeForP).replace('{T1}', join(root, 't1.torrent')).replace('{T2}', join(root, 't2.torrent')));
    if (step.local) {
      // Ours only: it must at least answer (a refusal names the argument).
      const r = await run(sides[0].target, argsFor(sides[0]));
      expect([key, r.ok || /"[a-z-]+"/.test(r.out)]).toEqual([key, true]);
      notRun.push(`${key}: ${step.local}`);
      continue;
    }
    const results = await Promise.all(sides.map((s) => run(s.target, argsFor(s))));
    const diff: string[] = [];
    if (results[0]!.ok !== results[1]!.ok) diff.push(`result: ${results.map((r, i) => `${sides[i]!.name} ${r.ok ? 'ok' : r.out.trim().split('\n').pop()}`).join(' / ')}`);
    if (step.readOnly) {
      const a = shape(sides[0], results[0]!.out);
      const b = shape(sides[1], results[1]!.out);
      const onlyA = a.filter((l) => !b.includes(l));
      const onlyB = b.filter((l) => !a.includes(l));
      for (const l of onlyA) diff.push(`only mainlined: ${l}`);
      for (const l of onlyB) diff.push(`only transmission: ${l}`);
    } else {
      const after = await Promise.all(sides.map((s) => settled(s, step.args.some((a) => STATE_CHANGES.test(a)) ? 4 : 2)));
      const changed = new Set<string>();
      after.forEach((snap, i) => {
        for (const k of new Set([...Object.keys(snap), ...Object.keys(before[i]!)])) if (!isDeepStrictEqual(snap[k], before[i]![k])) changed.add(k);
      });
      for (const k of changed) if (!isDeepStrictEqual(after[0]![k], after[1]![k])) diff.push(`${k}: mainlined ${JSON.stringify(after[0]![k])} / transmission ${JSON.stringify(after[1]![k])}`);
      before = after;
    }
    if (diff.length > 0) differences[key] = diff;
  }
  const summary = STEPS.map((s) => s.label ?? s.args.join(' ')).map((k) => `${differences[k] ? 'DIFF' : notRun.some((n) => n.startsWith(`${k}:`)) ? 'ours only' : 'same'}  ${k}${differences[k] ? `\n      ${differences[k]!.join('\n      ')}` : ''}`);
  console.log(`${STEPS.length} options in ${((Date.now() - began) / 1000).toFixed(1)} s; ${Object.keys(differences).length} differ, ${notRun.length} run on mainlined only\n${summary.join('\n')}`);
  expect(Object.keys(differences).sort()).toEqual(Object.keys(EXPECTED).sort());
  expect(Date.now() - began).toBeLessThan(150_000);
  // -rad deleted the data on both sides.
  for (const d of Object.values(dirs)) expect([d, existsSync(join(d, 'dl', 'bundle'))]).toEqual([d, false]);
}, 180_000);
