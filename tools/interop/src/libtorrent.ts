import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InteropError } from './errors.js';
import { freePort } from './net.js';
import { requireProgram, spawnTracked } from './proc.js';
import { StatusBox, type ClientHandle, type ClientStatus } from './status.js';

export interface LibtorrentOptions {
  readonly mode: 'seed' | 'leech';
  /** The .torrent file; or leave it out and give `magnet` (the metadata then comes from peers, BEP 9). */
  readonly torrentPath?: string;
  readonly magnet?: string;
  /** Where the payload is (seed) or goes (leech): the directory that holds the torrent's name. */
  readonly savePath: string;
  /** Listen port; default a free one. */
  readonly port?: number;
  /** Listen address (default 127.0.0.1). */
  readonly host?: string;
  /** Run inside this network namespace (`ip netns exec`), e.g. one of makeVethPair's. */
  readonly netns?: string;
  /** Local service discovery (BEP 14) on (default off). */
  readonly lsd?: boolean;
  /**
   * The DHT on (default off), with loopback settings (relaxed per-IP limits, no public routers):
   * `nodes` are added to its table (pinged first), `routers` are bootstrap nodes (never in the
   * table), `announceIntervalS` the torrent's re-announce period (default 5 s).
   */
  readonly dht?: { readonly nodes?: readonly string[]; readonly routers?: readonly string[]; readonly announceIntervalS?: number };
  /** Peers to dial with connect_peer(), retried each second until connected (no tracker needed). */
  readonly peers?: readonly (readonly [string, number])[];
  /** Ignore the torrent's trackers (default false: it announces to them). */
  readonly noTrackers?: boolean;
  /** Bytes/s, 0 = unlimited (default). */
  readonly uploadLimit?: number;
  readonly downloadLimit?: number;
  /**
   * 'plaintext' (default): dials plain BitTorrent, accepts plain or MSE. 'enabled': libtorrent's
   * default (tries MSE first). 'forced': MSE only.
   */
  readonly encryption?: 'plaintext' | 'enabled' | 'forced';
  /** Seed without hashing the data first (libtorrent seed_mode). */
  readonly skipCheck?: boolean;
  /** Status report period; default 200 ms. */
  readonly intervalMs?: number;
  /** Time allowed for the listen socket; default 15000 ms. */
  readonly startTimeoutMs?: number;
  /**
   * More libtorrent settings_pack entries (e.g. `{ unchoke_slots_limit: 0 }`), applied after the
   * loopback ones; the script fails if libtorrent does not keep a value as given.
   */
  readonly settings?: Readonly<Record<string, number | boolean | string>>;
}

export interface LibtorrentStatus extends ClientStatus {
  readonly totalDone: number;
  readonly totalWanted: number;
  readonly totalDownload: number;
  readonly totalUpload: number;
  readonly numSeeds: number;
  /** Pieces it has (verified). */
  readonly numPieces: number;
  /** Its connected peers as it sees them (libtorrent's peer_info). */
  readonly peers: readonly LibtorrentPeer[];
  readonly isSeeding: boolean;
  readonly isFinished: boolean;
  /** Nodes in its DHT table (0 without `dht`). */
  readonly dhtNodes: number;
  /** libtorrent's peer_info.source bits of every peer seen connected so far (1 tracker, 2 DHT, 4 PEX, 8 LSD, 16 resume, 32 incoming). */
  readonly peerSources: readonly number[];
}

/** One connected peer as libtorrent sees it. */
export interface LibtorrentPeer {
  /** `ip:port` of the peer. */
  readonly address: string;
  readonly numPieces: number;
  /** It has every piece (a bitfield or BEP 6 have-all said so). */
  readonly seed: boolean;
  /** libtorrent chokes it / it chokes libtorrent. */
  readonly choked: boolean;
  readonly remoteChoked: boolean;
  /** libtorrent is interested in it / it is interested in libtorrent. */
  readonly interesting: boolean;
  readonly remoteInterested: boolean;
  /** Payload bytes from it / to it. */
  readonly totalDownload: number;
  readonly totalUpload: number;
}

/** A libtorrent alert the script passed on (peer_connect, peer_disconnected, peer_error, hash_failed, tracker_*, ...). */
export interface LibtorrentEvent {
  readonly name: string;
  readonly message: string;
  readonly peer?: string;
}

export interface LibtorrentHandle extends ClientHandle<LibtorrentStatus> {
  readonly events: readonly LibtorrentEvent[];
  /** Dials another peer (kept on the list, redialled until connected). */
  connectPeer(host: string, port: number): void;
  /** Applies settings_pack entries to the running session (the `settings_applied` event follows). */
  applySettings(settings: Record<string, number | boolean | string>): void;
  /** Resolves with the first event (past or future) that satisfies `predicate`. */
  waitForEvent(predicate: (e: LibtorrentEvent) => boolean, timeoutMs?: number): Promise<LibtorrentEvent>;
}

export const PYTHON = '/usr/bin/python3';

/** Where lt_peer.py is: tools/interop/python, one level above both src/ and dist/. */
export function ltPeerScript(): string {
  const override = process.env.MAINLINE_LT_PEER;
  if (override) return override;
  for (const p of [join(__dirname, '..', 'python', 'lt_peer.py'), join(__dirname, 'python', 'lt_peer.py')]) {
    if (existsSync(p)) return p;
  }
  throw new InteropError('MISSING_PROGRAM', `lt_peer.py not found next to ${__dirname}`);
}

interface Line {
  type: string;
  port?: number;
  message?: string;
  name?: string;
  peer?: string;
  [k: string]: unknown;
}

/** Runs one libtorrent 2.0 peer (python3-libtorrent) with the loopback settings from interop-gotchas.md. */
export async function startLibtorrent(opts: LibtorrentOptions): Promise<LibtorrentHandle> {
  requireProgram(PYTHON, 'apt-get install python3-libtorrent');
  const port = opts.port ?? (await freePort());
  const args = [
    ltPeerScript(),
    '--mode',
    opts.mode,
    '--save',
    resolve(opts.savePath),
    '--port',
    String(port),
    '--interval',
    String((opts.intervalMs ?? 200) / 1000),
    '--encryption',
    opts.encryption ?? 'plaintext',
    '--watch-stdin',
  ];
  if (opts.torrentPath !== undefined) args.push('--torrent', resolve(opts.torrentPath));
  if (opts.magnet !== undefined) args.push('--magnet', opts.magnet);
  for (const [h, p] of opts.peers ?? []) args.push('--peer', `${h}:${p}`);
  if (opts.noTrackers) args.push('--no-trackers');
  if (opts.host !== undefined) args.push('--host', opts.host);
  if (opts.lsd) args.push('--lsd');
  if (opts.dht) {
    args.push('--dht');
    for (const n of opts.dht.nodes ?? []) args.push('--dht-node', n);
    for (const r of opts.dht.routers ?? []) args.push('--dht-router', r);
    if (opts.dht.announceIntervalS !== undefined) args.push('--dht-announce-interval', String(opts.dht.announceIntervalS));
  }
  if (opts.skipCheck) args.push('--skip-check');
  if (opts.uploadLimit) args.push('--upload-limit', String(opts.uploadLimit));
  if (opts.downloadLimit) args.push('--download-limit', String(opts.downloadLimit));
  for (const [name, value] of Object.entries(opts.settings ?? {})) args.push('--set', `${name}=${JSON.stringify(value)}`);

  const events: LibtorrentEvent[] = [];
  const eventWaiters = new Set<() => void>();
  let listening: number | undefined;
  let fatal: string | undefined;
  const box = new StatusBox<LibtorrentStatus>(() => `libtorrent ${opts.mode} on port ${port}:\n${proc.recentOutput()}`);
  const proc = spawnTracked(opts.netns !== undefined ? 'ip' : PYTHON, opts.netns !== undefined ? ['netns', 'exec', opts.netns, PYTHON, ...args] : args, {
    stdin: true,
    keepLines: 30,
    onLine: (text) => {
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        return; // stray output; kept in recentOutput
      }
      if (line.type === 'status') {
        const s = line as unknown as Omit<LibtorrentStatus, 'complete'>;
        box.update({ ...s, complete: s.isFinished && s.state !== 'checking_files' && s.state !== 'checking_resume_data' });
      } else if (line.type === 'listening') {
        listening = line.port;
        box.wakeUp();
      } else if (line.type === 'event') {
        events.push({ name: line.name ?? '', message: line.message ?? '', ...(line.peer !== undefined ? { peer: line.peer } : {}) });
        for (const w of [...eventWaiters]) w();
      } else if (line.type === 'error') {
        fatal = line.message ?? 'unknown error';
        box.fail(new InteropError('PROGRAM_FAILED', `libtorrent: ${fatal}`));
      }
    },
  });
  void proc.exited.then((code) => {
    box.fail(new InteropError('PROGRAM_FAILED', `libtorrent exited (${code}):\n${proc.recentOutput()}`));
    for (const w of [...eventWaiters]) w();
  });
  const stop = (): Promise<void> => proc.stop(2000);
  try {
    await box.until(() => listening !== undefined, opts.startTimeoutMs ?? 15000, 'libtorrent to listen');
  } catch (err) {
    await stop();
    throw err;
  }
  const send = (obj: object): void => {
    if (!proc.hasExited()) proc.child.stdin?.write(`${JSON.stringify(obj)}\n`);
  };
  return {
    pid: proc.child.pid,
    port: listening ?? port,
    get status() {
      return box.status;
    },
    events,
    waitFor: (predicate, timeoutMs = 30000) => box.waitFor(predicate, timeoutMs),
    waitForComplete: (timeoutMs = 30000) => box.waitFor((s) => s.complete, timeoutMs, 'libtorrent to complete'),
    connectPeer(host, p) {
      send({ cmd: 'connect', host, port: p });
    },
    applySettings(settings) {
      send({ cmd: 'set', settings });
    },
    waitForEvent(predicate, timeoutMs = 30000) {
      return new Promise((resolveEvent, reject) => {
        let seen = 0;
        const check = (): void => {
          for (; seen < events.length; seen++) {
            const e = events[seen];
            if (e !== undefined && predicate(e)) {
              finish();
              resolveEvent(e);
              return;
            }
          }
          if (proc.hasExited()) {
            finish();
            reject(new InteropError('PROGRAM_FAILED', `libtorrent exited while waiting for an event:\n${proc.recentOutput()}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new InteropError('TIMEOUT', `timed out after ${timeoutMs} ms waiting for a libtorrent event:\n${proc.recentOutput()}`));
        }, timeoutMs);
        const finish = (): void => {
          clearTimeout(timer);
          eventWaiters.delete(check);
        };
        eventWaiters.add(check);
        check();
      });
    },
    output: () => proc.recentOutput(),
    stop,
  };
}
