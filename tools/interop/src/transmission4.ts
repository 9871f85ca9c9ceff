// Transmission 4.x (Debian trixie's transmission-remote and transmission-daemon), unpacked with
// its own libc into a private root by scripts/fetch-transmission4.sh and run through that root's
// dynamic loader: nothing of it is installed on the machine.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InteropError } from './errors.js';
import { runRemote, startBareDaemon, type RemoteResult, type TransmissionDaemon, type TransmissionDaemonOptions } from './transmission.js';

const FETCH = 'tools/interop/scripts/fetch-transmission4.sh';

/** The unpacked root: $MAINLINE_TRANSMISSION4_ROOT, else tools/interop/.cache/transmission4. */
export function transmission4Root(): string {
  // __dirname is src/ or dist/, both one level below tools/interop.
  return resolve(process.env.MAINLINE_TRANSMISSION4_ROOT ?? join(__dirname, '..', '.cache', 'transmission4'));
}

/** The Debian version unpacked (e.g. "4.1.0~beta2+dfsg-3+deb13u2"), or undefined when there is none. */
export function transmission4Version(): string | undefined {
  const stamp = join(transmission4Root(), '.complete');
  return existsSync(stamp) ? readFileSync(stamp, 'utf8').trim() : undefined;
}

/** How to run a 4.x program: its root's loader, the root's libraries, the program. */
export function transmission4Command(program: 'transmission-remote' | 'transmission-daemon'): string[] {
  const root = transmission4Root();
  if (transmission4Version() === undefined) throw new InteropError('MISSING_PROGRAM', `Transmission 4 is not unpacked in ${root} (run ${FETCH})`);
  const libs = join(root, 'usr', 'lib', 'x86_64-linux-gnu');
  return [join(libs, 'ld-linux-x86-64.so.2'), '--library-path', libs, join(root, 'usr', 'bin', program)];
}

/** transmission-remote 4.x against `target` (`host:port`). */
export function transmissionRemote4(target: string, args: readonly string[], timeoutMs?: number): Promise<RemoteResult> {
  return runRemote(transmission4Command('transmission-remote'), target, args, timeoutMs);
}

/** A bare transmission-daemon 4.x, set up as startTransmissionDaemon sets up 3.00 (nothing leaves loopback). */
export function startTransmissionDaemon4(opts: TransmissionDaemonOptions): Promise<TransmissionDaemon> {
  return startBareDaemon(opts, transmission4Command('transmission-daemon'));
}
