// Attacks on a seeder of ours (the built CLI, `mainline seed`, a real process on loopback), each for
// a bounded time, with one honest leecher (our CLI, `mainline download`) started 2 s after the
// attack began. Prints the seeder's peak RSS (VmHWM) over the attack's whole time and the honest
// leecher's completion time under each attack, next to a run with no attack (which ends with the
// leecher). Every scenario gets a fresh seeder process.
// Run with `pnpm bench -- attacks` (needs mktorrent). Settings:
// BENCH_ATTACK_SECONDS=N  how long each attack runs at most (default 60, at most 60)
// BENCH_ATTACK_ONLY=reject,idle  run only the scenarios whose names start so
// BENCH_ATTACK_MIB=N      payload size (default 64 MiB)
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { connect as tcpConnect } from 'node:net';
import { dirname, join } from 'node:path';
import { WireReader, encodeHandshake, encodeMessage, makeReserved } from '@mainline/connecter';
import { freePort, makePayload, makeTempDir, makeTorrent, removeTempDir, sleep } from '@mainline/interop';

const require = createRequire(import.meta.url);
const CLI = join(dirname(require.resolve('@mainline/cli/package.json')), 'dist', 'cli.js');
const MiB = 1024 * 1024;
const BLOCK = 16384;
const HONEST_DELAY_MS = 2000;
const FAST = makeReserved({ fast: true });
const NONE = new Uint8Array(8);

/** Peak resident set (VmHWM) and current RSS of a process, in bytes (0 once it is gone). */
function memory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
  } catch {
    return { hwm: 0, rss: 0 };
  }
}

/** A child process of our CLI; `output` collects stdout and stderr. */
function cli(args) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = { child, output: '', exited: false, code: undefined };
  const onData = (d) => {
    proc.output += d.toString();
    if (proc.output.length > 1e6) proc.output = proc.output.slice(-5e5);
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  proc.done = new Promise((resolve) =>
    child.on('close', (code, signal) => {
      proc.exited = true;
      proc.code = code ?? signal;
      resolve(proc.code);
    }),
  );
  proc.stop = async () => {
    if (!proc.exited) child.kill('SIGKILL');
    await proc.done;
  };
  return proc;
}

async function startSeeder(torrentPath, dataDir, stateDir) {
  const port = await freePort();
  const seeder = cli(['seed', torrentPath, '-d', dataDir, '--no-trackers', '--no-dht', '--bind', '127.0.0.1', '--minport', String(port), '--maxport', String(port), '--state-dir', stateDir]);
  const deadline = Date.now() + 60_000;
  while (!/seeding .* on port \d+/.test(seeder.output)) {
    if (seeder.exited || Date.now() > deadline) throw new Error(`the seeder did not start:\n${seeder.output}`);
    await sleep(50);
  }
  seeder.port = port;
  return seeder;
}

/**
 * A scripted peer on a raw socket. It sends its handshake (or a trickle of it), reads the seeder's
 * messages while `reading`, and tracks whether the seeder chokes it.
 */
class RawPeer {
  constructor(port, meta, { reserved = NONE, sendHandshake = true } = {}) {
    this.choked = true;
    this.handshaken = false;
    this.closed = false;
    this.messages = 0;
    this.meta = meta;
    this.reserved = reserved;
    this.socket = tcpConnect({ host: '127.0.0.1', port });
    this.socket.setNoDelay(true);
    this.socket.on('error', () => undefined);
    this.whenClosed = new Promise((resolve) =>
      this.socket.on('close', () => {
        this.closed = true;
        resolve();
      }),
    );
    this.reader = new WireReader(
      {
        onPeerId: () => (this.handshaken = true),
        onMessage: (m) => {
          this.messages++;
          if (m.type === 'choke') this.choked = true;
          else if (m.type === 'unchoke') this.choked = false;
          this.onMessage?.(m);
        },
      },
      { limits: { numPieces: meta.pieceCount, pieceLength: meta.pieceLength, totalLength: meta.totalLength }, localReserved: reserved },
    );
    this.socket.on('data', (chunk) => {
      try {
        this.reader.push(chunk);
      } catch {
        this.socket.destroy();
      }
    });
    this.peerId = Buffer.from(`-XX0001-${Math.random().toString(36).slice(2, 14)}`.padEnd(20, 'x').slice(0, 20));
    this.handshake = encodeHandshake(meta.infoHashBytes, this.peerId, reserved);
    if (sendHandshake) this.socket.write(this.handshake);
  }
  send(...messages) {
    if (this.closed) return true;
    const chunks = [];
    for (const m of messages) chunks.push(...encodeMessage(m));
    return this.socket.write(Buffer.concat(chunks));
  }
  destroy() {
    this.socket.destroy();
  }
}

/** Keeps `count` connections made by `open()` alive until stopped: a closed one is replaced. */
function persistent(count, open) {
  let stopped = false;
  const live = new Set();
  let opened = 0;
  const spawnOne = () => {
    if (stopped) return;
    opened++;
    const peer = open();
    live.add(peer);
    peer.whenClosed.then(() => {
      live.delete(peer);
      peer.cleanup?.();
      if (!stopped) setTimeout(spawnOne, 50);
    });
  };
  // One at a time, 10 ms apart: a burst would overflow the listen backlog, and a silent socket the
  // kernel dropped from a full accept queue never reaches the seeder at all.
  for (let i = 0; i < count; i++) setTimeout(spawnOne, i * 10);
  return {
    get opened() {
      return opened;
    },
    stop() {
      stopped = true;
      for (const p of live) {
        p.cleanup?.();
        p.destroy();
      }
    },
  };
}

/** A flood of requests for random blocks, written as fast as the socket takes it. */
function requestFlood(peer) {
  const blocksPerPiece = peer.meta.pieceLength / BLOCK;
  const one = () => ({
    type: 'request',
    index: Math.floor(Math.random() * (peer.meta.pieceCount - 1)),
    begin: Math.floor(Math.random() * blocksPerPiece) * BLOCK,
    length: BLOCK,
  });
  const batch = Buffer.concat(Array.from({ length: 4096 }, () => Buffer.concat(encodeMessage(one()))));
  const pump = () => {
    while (!peer.closed && peer.socket.write(batch));
  };
  peer.socket.on('drain', pump);
  pump();
}

const scenarios = [
  { name: 'no attack', baseline: true, start: () => ({ stop() {}, note: () => '' }) },
  {
    // Issue 13 §1. 12 fast-extension connections say they are interested; the seeder unchokes 7 of
    // them, which download one block a second (slow leechers). Every connection that is choked
    // floods requests and never reads again, so the seeder's rejects pile up.
    name: 'reject flood (12 fast peers; the choked ones flood requests, never reading)',
    start(port, meta) {
      let flooding = 0;
      const a = persistent(12, () => {
        const p = new RawPeer(port, meta, { reserved: FAST });
        p.send({ type: 'have-none' }, { type: 'interested' });
        let flood = false;
        const timer = setInterval(() => {
          if (!p.handshaken || flood) return;
          if (p.choked) {
            flood = true;
            flooding++;
            p.socket.pause(); // never read again: what the seeder sends piles up
            requestFlood(p);
          } else p.send({ type: 'request', index: 0, begin: 0, length: BLOCK });
        }, 500);
        p.cleanup = () => clearInterval(timer);
        return p;
      });
      return { stop: () => a.stop(), note: () => `${a.opened} connections opened, ${flooding} flooded` };
    },
  },
  {
    // Issue 13 §2: 60 sockets that connect and send nothing (max_allow_in is 55).
    name: 'silent sockets (60 connections that send nothing)',
    start(port, meta) {
      const a = persistent(60, () => new RawPeer(port, meta, { sendHandshake: false }));
      return { stop: () => a.stop(), note: () => `${a.opened} connections opened` };
    },
  },
  {
    // Issue 13 §2: 60 sockets each sending one byte of the handshake every 5 s (the issue: 20 s;
    // any trickle keeps a socket "active" for the 300 s inactivity sweep).
    name: 'slow handshake (60 connections, one handshake byte every 5 s)',
    start(port, meta) {
      const a = persistent(60, () => {
        const p = new RawPeer(port, meta, { sendHandshake: false });
        let i = 0;
        const tick = () => {
          if (!p.closed && i < p.handshake.length) p.socket.write(p.handshake.subarray(i, ++i));
        };
        tick();
        const timer = setInterval(tick, 5000);
        p.cleanup = () => clearInterval(timer);
        return p;
      });
      return { stop: () => a.stop(), note: () => `${a.opened} connections opened` };
    },
  },
  {
    // Issue 13 §3: 45 peers that say they are interested, read everything, and never request.
    name: 'idle interested (45 peers interested, never requesting)',
    start(port, meta) {
      const a = persistent(45, () => {
        const p = new RawPeer(port, meta, { reserved: FAST });
        p.send({ type: 'have-none' }, { type: 'interested' });
        return p;
      });
      return { stop: () => a.stop(), note: () => `${a.opened} connections opened` };
    },
  },
];

export async function run() {
  const seconds = Math.min(60, Number(process.env.BENCH_ATTACK_SECONDS ?? 60));
  const sizeMiB = Number(process.env.BENCH_ATTACK_MIB ?? 64);
  const only = process.env.BENCH_ATTACK_ONLY?.split(',');
  const dir = makeTempDir('bench-attacks');
  const rows = [];
  try {
    const payload = await makePayload(join(dir, 'seed'), { name: `attacks-${sizeMiB}MiB.bin`, size: sizeMiB * MiB });
    const torrent = makeTorrent(payload.path, { pieceLength: 256 * 1024 });
    const meta = torrent.metainfo;
    console.log(`  ${sizeMiB} MiB torrent, ${meta.pieceCount} pieces; each attack runs at most ${seconds} s; the honest leecher starts ${HONEST_DELAY_MS / 1000} s into it`);
    for (const [i, sc] of scenarios.entries()) {
      if (only && !only.some((o) => sc.name.startsWith(o))) continue;
      const seeder = await startSeeder(torrent.path, payload.saveDir, join(dir, `state-seed-${i}`));
      const base = memory(seeder.child.pid);
      let peakRss = base.rss;
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, memory(seeder.child.pid).rss)), 100);
      const t0 = performance.now();
      const attack = sc.start(seeder.port, meta);
      await sleep(HONEST_DELAY_MS);
      const out = join(dir, `out-${i}`);
      const leechPort = await freePort();
      const t1 = performance.now();
      const leecher = cli(['download', torrent.path, '-o', out, '--no-trackers', '--no-dht', '--peer', `127.0.0.1:${seeder.port}`, '--bind', '127.0.0.1', '--minport', String(leechPort), '--maxport', String(leechPort), '--state-dir', join(dir, `state-leech-${i}`), '-q']);
      // The attack runs its whole time (the seeder's memory under it is half the point); the
      // leecher's time is taken when it exits. With no attack, the run ends with the leecher.
      let leechSeconds;
      leecher.done.then((code) => {
        if (code === 0) leechSeconds = (performance.now() - t1) / 1000;
      });
      const end0 = t0 + seconds * 1000;
      while (performance.now() < end0 && !(sc.baseline && leecher.exited)) await sleep(100);
      const finished = leechSeconds !== undefined;
      if (!finished) leechSeconds = (performance.now() - t1) / 1000;
      attack.stop();
      clearInterval(sampler);
      const end = memory(seeder.child.pid);
      const seederAlive = !seeder.exited;
      rows.push({
        name: sc.name,
        hwm: Math.max(end.hwm, peakRss),
        base: base.rss,
        leech: finished ? `${leechSeconds.toFixed(1)} s` : `not done after ${leechSeconds.toFixed(0)} s`,
        note: `${attack.note()}${seederAlive ? '' : `; the seeder died (${seeder.code})`}`,
      });
      const r = rows.at(-1);
      console.log(`  ${r.name}: seeder peak RSS ${(r.hwm / MiB).toFixed(0)} MiB (${(r.base / MiB).toFixed(0)} MiB before), honest leecher ${r.leech}${r.note ? ` (${r.note})` : ''}`);
      await leecher.stop();
      await seeder.stop();
    }
    console.log('\n  | scenario | seeder peak RSS | honest leecher (64 MiB) |'.replace('64', String(sizeMiB)));
    console.log('  |---|---|---|');
    for (const r of rows) console.log(`  | ${r.name} | ${(r.hwm / MiB).toFixed(0)} MiB | ${r.leech} |`);
  } finally {
    removeTempDir(dir);
  }
}
