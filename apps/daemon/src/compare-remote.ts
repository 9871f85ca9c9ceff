// The machinery of the transmission-remote comparisons (compare-transmission*.test.ts): run each
// option of a remote against mainlined and against a real transmission-daemon (each on its own
// 127.0.0.x with its own config dir) and compare what each reports afterwards (session-get,
// torrent-get, and for read-only options the lines printed).
import { cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { freePort, makePayload, makeTempDir, makeTorrent, poll, removeTempDir, type RemoteResult, type TransmissionDaemon, type TransmissionDaemonOptions } from '@mainline/interop';
import { rpcClient, spawnDaemon, type SpawnedDaemon } from './test-helpers.js';

/** One transmission-remote invocation; `{DIR}` is each daemon's own directory. */
export interface Step {
  args: string[];
  /** Prints only: compared by the lines' labels, not by state. */
  readOnly?: boolean;
  /** Prints the reply as JSON (4.x -j): compared by its result and the keys of each torrent. */
  json?: boolean;
  /** Not run against transmission-daemon: it would send traffic off this machine. */
  local?: string;
  /** Its name in the tables when the same option runs twice. */
  label?: string;
}

export const again = (args: string[]): Step => ({ args, readOnly: true, label: `${args.join(' ')} (after the changes)` });

export const T = ['-t', '1'];
/** Every transmission-remote 3.00 option of its --help that touches the daemon (4.x has them too). */
export const STEPS_3: Step[] = [
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

/** What still differs with 3.00, by the option as typed, and why (mirrored in apps/daemon/README.md). */
export const EXPECTED_3: Record<string, string> = {
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
  /** torrent-get fields read, and the keys compared of each entry of the `files` and `trackers` lists. */
  fields: string[];
  entryKeys: EntryKeys;
}
type Snapshot = Record<string, unknown>;

/** Succeeded: exit code 0 and no error printed. */
async function run(remote: Remote, target: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  const r = await remote(target, args);
  return { ok: r.code === 0 && !/error|not recognized/i.test(r.out), out: r.out };
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
  const torrents = (await side.rpc('torrent-get', { fields: side.fields })).arguments.torrents as Record<string, unknown>[];
  const pick = (f: keyof EntryKeys, list: Record<string, unknown>[]): Record<string, unknown>[] => list.map((o) => Object.fromEntries(side.entryKeys[f].map((k) => [k, o[k]])));
  for (const t of torrents) {
    for (const f of side.fields) out[`torrent.${String(t.id)}.${f}`] = normalize(side, f === 'files' || f === 'trackers' ? pick(f, t[f] as Record<string, unknown>[]) : t[f]);
  }
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
const INSTANCE_LABELS = /^(Daemon version|Duration|Version|RPC version|RPC minimum version|Configuration directory|Listenport|Listen port|Date (added|started|finished|created)|Latest activity|Downloading Time|Seeding Time|Created by|Creator|Started at|Uptime|Session ID|Time spent|Started|Session Count)\b/i;

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

/** One transmission-remote generation: `target` is `host:port`. */
export type Remote = (target: string, args: string[]) => Promise<RemoteResult>;

export interface CompareOptions {
  /** What the summary line starts with. */
  title: string;
  steps: Step[];
  remote: Remote;
  /** The real transmission-daemon of the same generation (startTransmissionDaemon / startTransmissionDaemon4). */
  startTheirs: (o: TransmissionDaemonOptions) => Promise<TransmissionDaemon>;
  /** Each daemon's own loopback address (peer port and RPC), apart from other comparisons'. */
  addresses: { ours: string; theirs: string };
  /** torrent-get fields this generation added, compared too. */
  newFields?: string[];
  /** What `files` and `trackers` entries carry in this generation (default: 3.00's). */
  entryKeys?: EntryKeys;
}

/** The keys of torrent-get's `files` and `trackers` entries that a generation sends. */
export interface EntryKeys {
  files: string[];
  trackers: string[];
}

export const ENTRY_KEYS_3: EntryKeys = { files: ['bytesCompleted', 'length', 'name'], trackers: ['announce', 'id', 'scrape', 'tier'] };

/** A -j reply: its result and, per torrent, the names of the fields it carries. */
function jsonShape(out: string): string[] {
  try {
    const r = JSON.parse(out) as { result?: unknown; arguments?: { torrents?: Record<string, unknown>[] } };
    return [`result: ${String(r.result)}`, ...(r.arguments?.torrents ?? []).map((t) => `torrent ${String(t.id)}: ${Object.keys(t).sort().join(' ')}`)];
  } catch {
    return [`not JSON: ${out.trim()}`];
  }
}

export interface Comparison {
  /** What differs after each option, by the option as typed (or its label). */
  differences: Record<string, string[]>;
  /** Options run on mainlined only, with why. */
  notRun: string[];
  /** Options run on mainlined only that neither worked nor named the argument refused. */
  unanswered: string[];
  /** Daemon data dirs whose payload -rad left on disk (none: it deletes it on both). */
  dataLeft: string[];
  elapsedMs: number;
}

/**
 * Runs `steps` against mainlined and transmission-daemon (each on its address) on the same two
 * torrents (T1 with its data, T2 without), both stopped and their dirs removed at the end.
 */
export async function compareWithTransmission(opts: CompareOptions): Promise<Comparison> {
  let root = '';
  let ours: SpawnedDaemon | undefined;
  let theirs: TransmissionDaemon | undefined;
  try {
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
    theirs = await opts.startTheirs({
      address: opts.addresses.theirs,
      downloadDir: join(dirs.theirs, 'dl'),
      settings: { encryption: 0, 'cache-size-mb': 0, 'peer-limit-global': 200, 'peer-limit-per-torrent': 50, 'rename-partial-files': false },
    });
    // No DHT bootstrap nodes: -o turns our DHT on, and nothing may leave the machine (not even a
    // DNS lookup of the public routers). PEX starts off, as the harness starts transmission-daemon.
    const oursConfig = join(dirs.ours, 'mainlined.json');
    writeFileSync(oursConfig, JSON.stringify({ dhtBootstrap: [], pexEnabled: false }));
    ours = await spawnDaemon({ stateDir: join(dirs.ours, 'state'), downloadDir: join(dirs.ours, 'dl'), args: ['--config', oursConfig, '--bind', opts.addresses.ours, '--rpc-bind', opts.addresses.ours] });
    const theirsRpc = theirs.rpc;
    const oursRpc = rpcClient(ours.rpcPort, undefined, opts.addresses.ours);
    const read = { fields: [...TORRENT_FIELDS, ...(opts.newFields ?? [])], entryKeys: opts.entryKeys ?? ENTRY_KEYS_3 };
    const sides: [Side, Side] = [
      { name: 'mainlined', dir: dirs.ours, target: `${opts.addresses.ours}:${ours.rpcPort}`, rpc: oursRpc, initialPort: ours.peerPort, ...read },
      { name: 'transmission-daemon', dir: dirs.theirs, target: theirs.rpcTarget, rpc: theirsRpc, initialPort: theirs.peerPort, ...read },
    ];
    const freeForP = String(await freePort());
    let before = await Promise.all(sides.map(settled));
    const differences: Record<string, string[]> = {};
    const notRun: string[] = [];
    const unanswered: string[] = [];
    for (const step of opts.steps) {
      const key = step.label ?? step.args.join(' ');
      const argsFor = (s: Side): string[] => step.args.map((a) => a.replace('{DIR}', s.dir).replace('{PORT}', freeForP).replace('{T1}', join(root, 't1.torrent')).replace('{T2}', join(root, 't2.torrent')));
      if (step.local) {
        // Ours only: it must at least answer (a refusal names the argument).
        const r = await run(opts.remote, sides[0].target, argsFor(sides[0]));
        if (!r.ok && !/"[a-z_-]+"/.test(r.out)) unanswered.push(`${key}: ${r.out.trim()}`);
        notRun.push(`${key}: ${step.local}`);
        continue;
      }
      const results = await Promise.all(sides.map((s) => run(opts.remote, s.target, argsFor(s))));
      const diff: string[] = [];
      if (results[0]!.ok !== results[1]!.ok) diff.push(`result: ${results.map((r, i) => `${sides[i]!.name} ${r.ok ? 'ok' : r.out.trim().split('\n').pop()}`).join(' / ')}`);
      if (step.readOnly) {
        const a = step.json ? jsonShape(results[0]!.out) : shape(sides[0], results[0]!.out);
        const b = step.json ? jsonShape(results[1]!.out) : shape(sides[1], results[1]!.out);
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
    const summary = opts.steps.map((s) => s.label ?? s.args.join(' ')).map((k) => `${differences[k] ? 'DIFF' : notRun.some((n) => n.startsWith(`${k}:`)) ? 'ours only' : 'same'}  ${k}${differences[k] ? `\n      ${differences[k]!.join('\n      ')}` : ''}`);
    console.log(`${opts.title}: ${opts.steps.length} options in ${((Date.now() - began) / 1000).toFixed(1)} s; ${Object.keys(differences).length} differ, ${notRun.length} run on mainlined only\n${summary.join('\n')}`);
    const dataLeft = Object.values(dirs).filter((d) => existsSync(join(d, 'dl', 'bundle')));
    return { differences, notRun, unanswered, dataLeft, elapsedMs: Date.now() - began };
  } finally {
    ours?.kill('SIGKILL');
    await theirs?.stop();
    if (root) removeTempDir(root);
  }
}
