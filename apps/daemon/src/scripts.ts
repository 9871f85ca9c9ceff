import { spawn } from 'node:child_process';

/** What a torrent script is told about its torrent (Transmission's TR_* environment). */
export interface ScriptTorrent {
  id: number;
  name: string;
  infoHash: string;
  /** Where the torrent's data is now. */
  dir: string;
  labels: readonly string[];
  trackers: readonly string[];
  downloaded: number;
}

/** Transmission's environment for torrent scripts (libtransmission torrentCallScript). */
export function scriptEnv(t: ScriptTorrent, appVersion: string, now: Date): Record<string, string> {
  return {
    TR_APP_VERSION: appVersion,
    // ctime(3) without its newline, as Transmission's tr_strlcpy of ctime_r.
    TR_TIME_LOCALTIME: ctime(now),
    TR_TORRENT_BYTES_DOWNLOADED: String(t.downloaded),
    TR_TORRENT_DIR: t.dir,
    TR_TORRENT_HASH: t.infoHash,
    TR_TORRENT_ID: String(t.id),
    TR_TORRENT_LABELS: t.labels.join(','),
    TR_TORRENT_NAME: t.name,
    TR_TORRENT_TRACKERS: t.trackers.join(','),
  };
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `Sun Dec  6 20:56:05 2026`, in local time. */
export function ctime(d: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`;
}

/**
 * Runs a torrent script detached, with the daemon's environment plus the TR_* variables and no
 * arguments (as Transmission does); what it prints is not read. A script that cannot be started
 * or fails is logged.
 */
export function runScript(file: string, env: Record<string, string>, log: (line: string) => void): void {
  let child;
  try {
    child = spawn(file, [], { env: { ...process.env, ...env }, stdio: 'ignore', detached: true });
  } catch (err) {
    log(`script ${file}: ${(err as Error).message}`);
    return;
  }
  child.on('error', (err) => log(`script ${file}: ${err.message}`));
  child.on('exit', (code, signal) => {
    if (code !== 0) log(`script ${file} for ${env.TR_TORRENT_NAME ?? '?'} exited ${code ?? signal}`);
  });
  child.unref();
}
