// Many idle torrents: our mainlined beside a real transmission-daemon 3.00 on the same 1,000
// small torrents (BENCH_SCALE_N), nine in ten seeding, one in ten stopped. Each daemon gets its
// own 127.0.0.x, config dir and ports; both announce to one opentracker on 127.0.0.1 (HTTP), so
// the announcer's work (a first announce per running torrent, a re-announce timer each) is part
// of what is measured, as it is for a user with real trackers; the tracker answers interval 1800 s,
// so no re-announce falls inside the idle window and the window stays idle. Ours listens on
// 127.0.0.1, Transmission on 127.0.0.3: our tracker requests leave from the default source address
// (127.0.0.1) whatever --bind says, so on another address the tracker would hand our daemon its
// own announce back as a peer at a dead address, and the idle window would measure redials.
//
// For each daemon: a first run adds the torrents over RPC and waits until the seeding ones are
// verified and seeding, then stops it (resume data saved). The measured run starts it again on
// that state, as after a reboot:
//   start:   spawn until `transmission-remote -l` lists every torrent and the RPC reports all the
//            running ones seeding (nothing still loading or verifying);
//   -l:      median wall time of BENCH_SCALE_LIST_RUNS `transmission-remote -l` (process start included);
//   idle:    CPU % of one core over BENCH_SCALE_IDLE_S seconds (default 60), after a settle of
//            BENCH_SCALE_SETTLE_S (default 5), from utime + stime in /proc/<pid>/stat (all threads);
//   memory:  VmRSS at the end of the idle window and VmHWM (peak), from /proc/<pid>/status.
// Run with `pnpm bench -- daemon-scale` (needs transmission-daemon/-remote and opentracker, see
// tools/install-system-deps.sh and `pnpm build` first). BENCH_SCALE_ONLY=mainline|transmission
// runs one daemon only; BENCH_SCALE_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof' passes flags
// to our daemon's node in the measured run.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode } from '@mainline/bencode';
import { freePort, makeTempDir, poll, removeTempDir, sleep, startOpentracker, transmissionDaemonSettings } from '@mainline/interop';

const here = dirname(fileURLToPath(import.meta.url));
const MAINLINED = join(here, '..', 'apps', 'daemon', 'dist', 'mainlined.js');
const PIECE = 16 * 1024;
const MiB = 1024 * 1024;

/** N single-file torrents of 8–64 KiB (16 KiB pieces) with their data in `dataDir`. */
function makeTorrents(n, dataDir, torrentDir, announce) {
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(torrentDir, { recursive: true });
  const torrents = [];
  for (let i = 0; i < n; i++) {
    const name = `scale-${String(i).padStart(4, '0')}.bin`;
    const size = 8 * 1024 + ((i * 7919) % (56 * 1024));
    const data = randomBytes(size);
    writeFileSync(join(dataDir, name), data);
    const hashes = [];
    for (let at = 0; at < size; at += PIECE) hashes.push(createHash('sha1').update(data.subarray(at, at + PIECE)).digest());
    const info = { length: size, name, 'piece length': PIECE, pieces: Buffer.concat(hashes) };
    const bytes = Buffer.from(encode({ announce, info }));
    const infoHash = createHash('sha1').update(encode(info)).digest('hex');
    const path = join(torrentDir, `${name}.torrent`);
    writeFileSync(path, bytes);
    torrents.push({ name, path, bytes, infoHash, stopped: i % 10 === 9 });
  }
  return torrents;
}

function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile'), threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0) };
}

function remote(host, port, ...args) {
  return new Promise((resolve) => {
    execFile('transmission-remote', [`${host}:${port}`, ...args], { timeout: 30_000, maxBuffer: 16 * MiB }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: stdout + stderr }),
    );
  });
}

const listRows = (out) => out.split('\n').filter((l) => /^\s*\d+\*?\s/.test(l)).length;

function rpcClient(host, port) {
  let sessionId = '';
  return async (method, args = {}) => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const res = await fetch(`http://${host}:${port}/transmission/rpc`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'X-Transmission-Session-Id': sessionId },
        body: JSON.stringify({ method, arguments: args }),
      });
      if (res.status === 409) {
        sessionId = res.headers.get('X-Transmission-Session-Id') ?? '';
        await res.arrayBuffer();
        continue;
      }
      if (!res.ok) throw new Error(`RPC ${method}: HTTP ${res.status}`);
      const reply = await res.json();
      if (reply.result !== 'success') throw new Error(`RPC ${method}: ${reply.result}`);
      return reply.arguments ?? {};
    }
    throw new Error(`RPC ${method}: no session id`);
  };
}

/** Counts torrents by RPC status (0 stopped ... 6 seeding). */
async function statusCounts(rpc) {
  const { torrents } = await rpc('torrent-get', { fields: ['id', 'status'] });
  const counts = new Map();
  for (const t of torrents) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
  return { total: torrents.length, seeding: counts.get(6) ?? 0, stopped: counts.get(0) ?? 0 };
}

function spawnLogged(command, args, env) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  const keep = (d) => {
    out += d;
    if (out.length > 64 * 1024) out = out.slice(-32 * 1024);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  let dead = false;
  void exited.then(() => (dead = true));
  return { child, exited, output: () => out, dead: () => (dead ? `exited:\n${out}` : undefined) };
}

async function stopProcess(p) {
  if (p.dead()) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
  await p.exited;
  clearTimeout(timer);
}

/** Our daemon, on its own address, ports and state dir. */
function mainlineDaemon(dir, host) {
  const stateDir = join(dir, 'mainlined-state');
  return {
    name: 'mainlined (ours)',
    host,
    async ports() {
      this.peerPort = await freePort(host);
      this.rpcPort = await freePort(host);
    },
    spawn(nodeFlags = []) {
      const args = [...nodeFlags, MAINLINED, '--state-dir', stateDir, '--download-dir', join(dir, 'data'), '--bind', host, '--peer-port', String(this.peerPort)];
      args.push('--rpc-bind', host, '--rpc-port', String(this.rpcPort));
      return spawnLogged(process.execPath, args, process.env);
    },
  };
}

/** transmission-daemon 3.00 with the settings of tools/interop's harness (no DHT, LPD, PEX, uTP, port mapping). */
function transmissionDaemon(dir, host) {
  const config = join(dir, 'transmission-config');
  return {
    name: 'transmission-daemon 3.00',
    host,
    async ports() {
      this.peerPort = await freePort(host);
      this.rpcPort = await freePort(host);
      mkdirSync(config, { recursive: true });
      const settings = transmissionDaemonSettings({
        address: host,
        downloadDir: join(dir, 'data'),
        peerPort: this.peerPort,
        rpcPort: this.rpcPort,
        settings: {
          // Queues would hold most of the 1,000 back: our daemon does not queue seeds either.
          'download-queue-enabled': false,
          'seed-queue-enabled': false,
          'queue-stalled-enabled': false,
          'message-level': 1,
        },
      });
      writeFileSync(join(config, 'settings.json'), JSON.stringify(settings, null, 2));
    },
    spawn() {
      return spawnLogged('transmission-daemon', ['-f', '-g', config], process.env);
    },
  };
}

/** First run: every torrent added over RPC (the stopped ones paused), seeding ones verified; then a clean stop. */
async function populate(d, torrents) {
  const p = d.spawn();
  try {
    const rpc = rpcClient(d.host, d.rpcPort);
    await poll(() => rpc('session-get').then(() => true, () => false), 30_000, () => `${d.name} RPC`, 100, p.dead);
    for (const t of torrents) {
      await rpc('torrent-add', { metainfo: t.bytes.toString('base64'), paused: t.stopped });
    }
    const seeding = torrents.filter((t) => !t.stopped).length;
    await poll(async () => (await statusCounts(rpc)).seeding >= seeding || undefined, 300_000, () => `${d.name}: ${seeding} torrents seeding`, 500, p.dead);
  } finally {
    await stopProcess(p);
  }
}

/** The measured run: start on the saved state, list, idle. */
async function measure(d, torrents, idleSeconds, settleSeconds, listRuns, nodeFlags) {
  const seeding = torrents.filter((t) => !t.stopped).length;
  const t0 = performance.now();
  const p = d.spawn(nodeFlags);
  try {
    const rpc = rpcClient(d.host, d.rpcPort);
    let rows = 0;
    await poll(
      async () => {
        const r = await remote(d.host, d.rpcPort, '-l');
        rows = r.code === 0 ? listRows(r.out) : 0;
        if (rows < torrents.length) return undefined;
        const c = await statusCounts(rpc).catch(() => undefined);
        return c && c.seeding >= seeding ? true : undefined;
      },
      120_000,
      () => `${d.name}: -l with ${torrents.length} rows, ${seeding} seeding (last -l: ${rows} rows)\n${p.output()}`,
      100,
      p.dead,
    );
    const startSeconds = (performance.now() - t0) / 1000;
    const counts = await statusCounts(rpc);
    const lists = [];
    for (let i = 0; i < listRuns; i++) {
      const s = performance.now();
      const r = await remote(d.host, d.rpcPort, '-l');
      lists.push(performance.now() - s);
      if (r.code !== 0 || listRows(r.out) !== torrents.length) throw new Error(`${d.name}: -l failed:\n${r.out.slice(0, 2000)}`);
    }
    lists.sort((a, b) => a - b);
    await sleep(settleSeconds * 1000);
    const pid = p.child.pid;
    const cpu0 = cpuSeconds(pid);
    const w0 = performance.now();
    let peakRss = 0;
    while (performance.now() - w0 < idleSeconds * 1000) {
      await sleep(Math.min(1000, idleSeconds * 1000 - (performance.now() - w0)));
      peakRss = Math.max(peakRss, memory(pid).rss);
    }
    const cpu = cpuSeconds(pid) - cpu0;
    const wall = (performance.now() - w0) / 1000;
    const mem = memory(pid);
    return {
      name: d.name,
      startSeconds,
      listMs: lists[Math.floor((lists.length - 1) / 2)],
      listRange: `${lists[0].toFixed(0)}–${lists[lists.length - 1].toFixed(0)}`,
      idleCpuPercent: (100 * cpu) / wall,
      idleCpuSeconds: cpu,
      rss: mem.rss,
      anon: mem.anon,
      file: mem.file,
      idlePeakRss: peakRss,
      hwm: mem.hwm,
      threads: mem.threads,
      counts,
    };
  } finally {
    await stopProcess(p);
  }
}

export async function run() {
  const n = Number(process.env.BENCH_SCALE_N ?? 1000);
  const idleSeconds = Number(process.env.BENCH_SCALE_IDLE_S ?? 60);
  const settleSeconds = Number(process.env.BENCH_SCALE_SETTLE_S ?? 5);
  const listRuns = Math.max(1, Number(process.env.BENCH_SCALE_LIST_RUNS ?? 7));
  const only = process.env.BENCH_SCALE_ONLY;
  const nodeFlags = (process.env.BENCH_SCALE_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const dir = makeTempDir('bench-scale');
  let tracker;
  try {
    // The whitelist needs the info-hashes, the torrents need the tracker's URL: a free port first.
    const trackerPort = await freePort();
    const announce = `http://127.0.0.1:${trackerPort}/announce`;
    const torrents = makeTorrents(n, join(dir, 'data'), join(dir, 'torrents'), announce);
    tracker = await startOpentracker({ infoHashes: torrents.map((t) => t.infoHash), port: trackerPort });
    const bytes = torrents.reduce((s, t) => s + readFileSync(join(dir, 'data', t.name)).length, 0);
    console.log(
      `${n} torrents (${torrents.filter((t) => !t.stopped).length} seeding, ${torrents.filter((t) => t.stopped).length} stopped), 8–64 KiB each, ${(bytes / MiB).toFixed(0)} MiB; opentracker on 127.0.0.1 (HTTP); idle window ${idleSeconds} s after ${settleSeconds} s`,
    );
    const daemons = [mainlineDaemon(dir, '127.0.0.1'), transmissionDaemon(dir, '127.0.0.3')].filter((d) => !only || d.name.startsWith(only));
    const results = [];
    const mib = (b) => (b / MiB).toFixed(1);
    for (const d of daemons) {
      await d.ports();
      const p0 = performance.now();
      await populate(d, torrents);
      console.log(`  ${d.name}: ${n} added and verified in ${((performance.now() - p0) / 1000).toFixed(1)} s (first run); measuring a restart`);
      const r = await measure(d, torrents, idleSeconds, settleSeconds, listRuns, d.name.startsWith('mainlined') ? nodeFlags : []);
      console.log(`  ${d.name}: start ${r.startSeconds.toFixed(2)} s, -l ${r.listMs.toFixed(0)} ms, idle ${r.idleCpuPercent.toFixed(2)} % (${r.idleCpuSeconds.toFixed(2)} s CPU), RSS ${mib(r.rss)} MiB, ${JSON.stringify(r.counts)}`);
      results.push(r);
    }
    console.log(`\n${n} torrents, restart on saved state, idle ${idleSeconds} s`);
    // RssFile is mostly the executable's pages (for node, ~39 MiB of /usr/bin/node, shared with every
    // other node process); RssAnon is the memory the daemon itself allocated.
    console.log('| daemon | start to full -l (s) | -l median (ms) | -l all (ms) | idle CPU (% of one core) | RSS end (MiB) | RssAnon (MiB) | RssFile (MiB) | VmHWM (MiB) | threads |');
    console.log('|---|---|---|---|---|---|---|---|---|---|');
    for (const r of results) {
      console.log(
        `| ${r.name} | ${r.startSeconds.toFixed(2)} | ${r.listMs.toFixed(0)} | ${r.listRange} | ${r.idleCpuPercent.toFixed(2)} | ${mib(r.rss)} | ${mib(r.anon)} | ${mib(r.file)} | ${mib(r.hwm)} | ${r.threads} |`,
      );
    }
    const ours = results.find((r) => r.name.startsWith('mainlined'));
    const tr = results.find((r) => r.name.startsWith('transmission'));
    if (ours && tr) {
      const ratio = (a, b) => (b > 0 ? (a / b).toFixed(2) : 'n/a');
      console.log(`\nours/transmission start = ${ratio(ours.startSeconds, tr.startSeconds)}`);
      console.log(`ours/transmission -l = ${ratio(ours.listMs, tr.listMs)}`);
      console.log(`ours/transmission idle CPU = ${ratio(ours.idleCpuPercent, tr.idleCpuPercent)}`);
      console.log(`ours/transmission RSS = ${ratio(ours.rss, tr.rss)}`);
      console.log(`ours/transmission RssAnon = ${ratio(ours.anon, tr.anon)}`);
      console.log(`ours/transmission VmHWM = ${ratio(ours.hwm, tr.hwm)}`);
    }
    if (ours) {
      const target = (ok) => (ok ? 'ok' : 'MISSED');
      console.log(
        `targets (issue 17): start < 10 s ${target(ours.startSeconds < 10)}, -l < 1 s ${target(ours.listMs < 1000)}, idle < 1 % ${target(ours.idleCpuPercent < 1)}, RSS < 64 MiB ${target(ours.rss < 64 * MiB)}`,
      );
    }
  } finally {
    await tracker?.stop();
    removeTempDir(dir);
  }
}
