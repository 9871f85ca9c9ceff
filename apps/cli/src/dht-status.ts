// `mainline dht-status`: the node table saved in the state directory, then a live join of the DHT
// from it (and the bootstrap nodes) to show the table's size, saving the table again at the end.
import { readFile, stat } from 'node:fs/promises';
import { parseState } from '@mainline/dht';
import type { DhtStatus, SessionOptions } from '@mainline/session';
import type { ClientFlags } from './client-options.js';
import { withSession } from './run-torrent.js';

export interface DhtStatusFlags extends Pick<ClientFlags, 'minport' | 'maxport' | 'bind' | 'stateDir' | 'dhtBootstrap'> {
  /** Seconds to wait for the join (default 30). */
  wait: number;
}

const plural = (n: number, one: string): string => `${n} ${one}${n === 1 ? '' : 's'}`;

/** What the saved table holds, in one line (or why there is none). */
export async function savedTableLine(file: string): Promise<string> {
  let bytes: Buffer;
  let saved: Date;
  try {
    bytes = await readFile(file);
    saved = (await stat(file)).mtime;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return `no saved node table at ${file} (one is written when a download or seed with the DHT ends)`;
    return `cannot read ${file}: ${(err as Error).message}`;
  }
  try {
    const state = parseState(bytes);
    const six = state.nodes6.length > 0 ? `, ${plural(state.nodes6.length, 'IPv6 node')}` : '';
    return `saved node table ${file}: ${plural(state.nodes.length, 'node')}${six}, id ${Buffer.from(state.id).toString('hex')}, saved ${saved.toISOString()}`;
  } catch (err) {
    return `${file} is not a node table (${(err as Error).message}); it is replaced at the next save`;
  }
}

/** The live table in one line. */
export function liveTableLine(s: DhtStatus, seconds: number): string {
  const t = s.stats?.tables ?? [];
  const good = t.reduce((n, x) => n + x.good, 0);
  const questionable = t.reduce((n, x) => n + x.questionable, 0);
  const ext = s.stats?.externalAddress ? `; external address ${s.stats.externalAddress}` : '';
  const joined = s.stats?.ready ? `joined in ${seconds.toFixed(1)} s` : `still joining after ${seconds.toFixed(1)} s`;
  return `DHT: ${plural(s.nodes, 'node')} (${good} good, ${questionable} questionable), ${joined}; id ${s.stats?.id ?? '?'}${ext}`;
}

/** Prints the saved table, joins the DHT, prints the live table; exit 0 when some node answered. */
export async function dhtStatus(flags: DhtStatusFlags, out: (line: string) => void): Promise<number> {
  const options: SessionOptions = {
    portRange: [flags.minport, flags.maxport],
    ...(flags.bind ? { bind: flags.bind } : {}),
    stateDir: flags.stateDir,
    dht: flags.dhtBootstrap ? { bootstrap: flags.dhtBootstrap } : true,
  };
  return withSession(options, async ({ session, port, interrupted }) => {
    const status = session.dhtStatus();
    if (status.stateFile) out(await savedTableLine(status.stateFile));
    if (!status.running) {
      out(`DHT not running: ${status.error ?? 'unknown'}`);
      return 1;
    }
    out(`joining the DHT on UDP port ${port}${flags.dhtBootstrap ? ` through ${flags.dhtBootstrap.join(', ')}` : ''}...`);
    const started = Date.now();
    let stop = false;
    void interrupted.then(() => (stop = true));
    while (!stop && !session.dhtStatus().stats?.ready && Date.now() - started < flags.wait * 1000) await new Promise((r) => setTimeout(r, 100));
    const live = session.dhtStatus();
    out(liveTableLine(live, (Date.now() - started) / 1000));
    return live.nodes > 0 ? 0 : 1;
  });
}
