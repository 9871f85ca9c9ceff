// End-to-end download benchmark on loopback: one python3-libtorrent seeder, and the same
// single-file torrent (1 GiB by default; BENCH_E2E_MIB=256 for a quicker run) downloaded in turn
// by our CLI, aria2c, Transmission and a libtorrent leecher. Each client's time runs from the
// moment it is started to the moment it has every piece verified (our CLI: to its exit 0), so
// process start-up counts for everyone. Peak memory is polled from /proc/<pid>/status.
// Run with `pnpm bench -- e2e` (needs the system programs of tools/install-system-deps.sh).
// BENCH_E2E_RUNS=N runs each client N times in turn (default 3) and reports the median;
// BENCH_E2E_ONLY=mainline,aria2c runs only the leechers whose names start so;
// BENCH_E2E_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof' passes flags to our CLI's node;
// BENCH_E2E_FULL_ENV=1 runs the clients in this shell's whole environment (see minimalEnvironment).
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { freePort, makePayload, makeTempDir, makeTorrent, removeTempDir, startAria2, startLibtorrent, startTransmission } from '@mainline/interop';

const require = createRequire(import.meta.url);
const MiB = 1024 * 1024;
const CLI = join(dirname(require.resolve('@mainline/cli/package.json')), 'dist', 'cli.js');

/**
 * Polls a process every 50 ms: VmHWM (peak resident set), RssAnon, and its CPU time (user +
 * system, all threads, from /proc/<pid>/stat); stop() gives the peaks in bytes and the seconds.
 */
function watchProcess(pid) {
  let hwm = 0;
  let anon = 0;
  let cpu = 0;
  const read = () => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
      hwm = Math.max(hwm, kb('VmHWM'));
      anon = Math.max(anon, kb('RssAnon'));
      // Fields after the command name: utime and stime are the 12th and 13th, in 1/100 s.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpu = Math.max(cpu, (Number(fields[11]) + Number(fields[12])) / 100);
    } catch {
      // gone
    }
  };
  read();
  const timer = setInterval(read, 50);
  return {
    stop() {
      read();
      clearInterval(timer);
      return { hwm, anon, cpu };
    },
  };
}

/** Runs our CLI as a user would: `mainline download` straight from the seeder, no tracker. */
async function runOurs(torrentPath, out, seederPort, stateDir) {
  const port = await freePort();
  const args = [CLI, 'download', torrentPath, '-o', out, '--no-trackers', '--no-dht', '--peer', `127.0.0.1:${seederPort}`];
  args.push('--bind', '127.0.0.1', '--minport', String(port), '--maxport', String(port), '--state-dir', stateDir, '-q');
  const start = performance.now();
  const nodeFlags = (process.env.BENCH_E2E_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeFlags, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  const mem = watchProcess(child.pid);
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise((resolve) => child.on('close', (c, s) => resolve(c ?? s)));
  const seconds = (performance.now() - start) / 1000;
  const peak = mem.stop();
  if (code !== 0) throw new Error(`mainline download exited with ${code}:\n${stderr}`);
  return { seconds, ...peak };
}

/** Starts a harness client, waits for it to complete, and measures it. */
async function runHarness(start, timeoutMs) {
  const t0 = performance.now();
  const handle = await start();
  const mem = handle.pid !== undefined ? watchProcess(handle.pid) : { stop: () => ({ hwm: 0, anon: 0, cpu: 0 }) };
  try {
    await handle.waitForComplete(timeoutMs);
    const seconds = (performance.now() - t0) / 1000;
    return { seconds, ...mem.stop() };
  } finally {
    mem.stop();
    await handle.stop();
  }
}

/**
 * Writes and deletes `size` bytes before each leecher, so that every client writes into page-cache
 * memory the kernel (and, in a VM, the hypervisor) has already handed out once. Without it the
 * first client pays for first-touch page faults that the later ones get for free (each client's
 * output is deleted before the next one runs).
 */
function warmPageCache(dir, size) {
  const path = join(dir, 'warm.bin');
  const chunk = Buffer.alloc(4 * MiB, 1);
  const fd = openSync(path, 'w');
  try {
    for (let pos = 0; pos < size; pos += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, size - pos), pos);
  } finally {
    closeSync(fd);
  }
  rmSync(path);
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function sameFile(a, b) {
  const sum = (p) => spawnSync('sha1sum', [p], { encoding: 'utf8' }).stdout.split(' ')[0];
  return sum(a) === sum(b);
}

/** What every client (and the seeder) keeps of the environment: where programs are, home, locale, temp dir (and the BENCH_ settings). */
const KEPT_VARIABLES = ['PATH', 'HOME', 'USER', 'LANG', 'LC_ALL', 'TMPDIR'];

/**
 * Every client runs in the same minimal environment, as on a fresh login: variables one machine
 * happens to set should not weigh on one client only. On the machine this was written on,
 * NODE_EXTRA_CA_CERTS names the whole system CA bundle, and node parses it at start-up (~70 ms)
 * for TLS that no loopback download uses. Returns the names of the variables dropped.
 */
function minimalEnvironment() {
  if (process.env.BENCH_E2E_FULL_ENV === '1') return [];
  const dropped = Object.keys(process.env).filter((k) => !KEPT_VARIABLES.includes(k) && !k.startsWith('BENCH_'));
  for (const k of dropped) delete process.env[k];
  return dropped;
}

export async function run() {
  const sizeMiB = Number(process.env.BENCH_E2E_MIB ?? 1024);
  const dropped = minimalEnvironment();
  console.log(
    dropped.length === 0
      ? 'environment: this shell\'s, whole (BENCH_E2E_FULL_ENV=1)'
      : `environment: ${KEPT_VARIABLES.filter((k) => k in process.env).join(', ')} only, for every client (${dropped.length} variables dropped${dropped.includes('NODE_EXTRA_CA_CERTS') ? ', NODE_EXTRA_CA_CERTS among them' : ''}; BENCH_E2E_FULL_ENV=1 keeps them)`,
  );
  const size = sizeMiB * MiB;
  const dir = makeTempDir('bench-e2e');
  const handles = [];
  try {
    const seedDir = join(dir, 'seed');
    const payload = await makePayload(seedDir, { name: `e2e-${sizeMiB}MiB.bin`, size });
    const torrent = makeTorrent(payload.path, { pieceLength: 256 * 1024 });

    // The same bytes through sha1sum (file in the page cache): the floor for a client that
    // must hash every piece it receives.
    spawnSync('sha1sum', [payload.path]);
    const s0 = performance.now();
    const r = spawnSync('sha1sum', [payload.path]);
    const sha1Seconds = (performance.now() - s0) / 1000;
    if (r.status !== 0) throw new Error('sha1sum failed');

    const seeder = await startLibtorrent({ mode: 'seed', torrentPath: torrent.path, savePath: seedDir, noTrackers: true, intervalMs: 50 });
    handles.push(seeder);
    await seeder.waitForComplete(120_000);
    const timeoutMs = 60_000 + (size / (4 * MiB)) * 1000; // Transmission does ~20 MiB/s here

    // Each client runs BENCH_E2E_RUNS times (default 3), the clients taking turns, and the table
    // shows the median run: on a shared machine one run can be off by 20 % either way.
    const runs = Math.max(1, Number(process.env.BENCH_E2E_RUNS ?? 3));
    const only = process.env.BENCH_E2E_ONLY?.split(',');
    const leechers = [
      ['mainline (ours)', (out) => runOurs(torrent.path, out, seeder.port, join(dir, 'state'))],
      [
        'libtorrent 2.0',
        (out) =>
          runHarness(
            () => startLibtorrent({ mode: 'leech', torrentPath: torrent.path, savePath: out, noTrackers: true, peers: [['127.0.0.1', seeder.port]], intervalMs: 50 }),
            timeoutMs,
          ),
      ],
      ['aria2c 1.36', (out) => runHarness(() => startAria2({ torrentPath: torrent.path, dir: out, seed: false, peers: [['127.0.0.1', seeder.port]] }), timeoutMs)],
      [
        'transmission 3.00',
        (out) =>
          runHarness(async () => {
            const tr = await startTransmission({ torrentPath: torrent.path, dir: out, seed: false, intervalMs: 50 });
            seeder.connectPeer('127.0.0.1', tr.port); // it drops loopback peers from trackers: dial it
            return tr;
          }, timeoutMs),
      ],
    ].filter(([name]) => !only || only.some((o) => name.startsWith(o)));
    const samples = new Map(leechers.map(([name]) => [name, []]));
    for (let run = 0; run < runs; run++) {
      for (const [name, fn] of leechers) {
        warmPageCache(dir, size);
        const out = join(dir, 'out');
        const seederCpu0 = cpuSeconds(seeder.pid);
        const res = await fn(out);
        res.seederCpu = cpuSeconds(seeder.pid) - seederCpu0;
        if (!sameFile(join(out, payload.name), payload.path)) throw new Error(`${name}: downloaded data differs`);
        rmSync(out, { recursive: true, force: true });
        samples.get(name).push(res);
        console.log(`  run ${run + 1}/${runs} ${name}: ${res.seconds.toFixed(2)} s, ${res.cpu.toFixed(2)} s CPU (seeder ${res.seederCpu.toFixed(2)} s)`);
      }
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
    const results = leechers.map(([name]) => {
      const xs = samples.get(name);
      return {
        name,
        seconds: median(xs.map((x) => x.seconds)),
        cpu: median(xs.map((x) => x.cpu)),
        seederCpu: median(xs.map((x) => x.seederCpu)),
        hwm: Math.max(...xs.map((x) => x.hwm)),
        anon: Math.max(...xs.map((x) => x.anon)),
        range: `${Math.min(...xs.map((x) => x.seconds)).toFixed(2)}–${Math.max(...xs.map((x) => x.seconds)).toFixed(2)}`,
      };
    });

    const mib = (b) => (b / MiB).toFixed(0);
    console.log(`\n${sizeMiB} MiB single file, 256 KiB pieces, one libtorrent seeder on loopback (start to complete; median of ${runs})`);
    console.log('| leecher | time (s) | all runs (s) | MiB/s | CPU (s) | seeder CPU (s) | peak RSS (MiB) | peak anon RSS (MiB) |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const x of results) {
      console.log(`| ${x.name} | ${x.seconds.toFixed(2)} | ${x.range} | ${(sizeMiB / x.seconds).toFixed(0)} | ${x.cpu.toFixed(2)} | ${x.seederCpu.toFixed(2)} | ${mib(x.hwm)} | ${mib(x.anon)} |`);
    }
    console.log(`| sha1sum (same bytes) | ${sha1Seconds.toFixed(2)} | | ${(sizeMiB / sha1Seconds).toFixed(0)} | | | | |`);
    const ours = results.find((x) => x.name.startsWith('mainline'));
    const others = results.filter((x) => x !== ours);
    if (!ours || others.length === 0) return;
    const best = others.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    console.log(`\nours/best = ${(ours.seconds / best.seconds).toFixed(2)}  (best: ${best.name})`);
    console.log(`ours/sha1-limit = ${(ours.seconds / sha1Seconds).toFixed(2)}`);
    const leanest = others.reduce((a, b) => (b.hwm < a.hwm ? b : a));
    console.log(`ours/leanest peak RSS = ${(ours.hwm / leanest.hwm).toFixed(2)}  (leanest: ${leanest.name})`);
  } finally {
    await Promise.all(handles.map((h) => h.stop()));
    removeTempDir(dir);
  }
}
