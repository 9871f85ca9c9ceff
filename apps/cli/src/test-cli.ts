// Test helpers: run the built `mainline` executable as users do (the test target builds it first).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Session } from '@mainline/session';

export const CLI = join(__dirname, '..', 'dist', 'cli.js');

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `mainline <args>`; `signalAfterMs` sends Ctrl-C (SIGINT) after that long. */
export function run(args: string[], options: { timeoutMs?: number; signalAfterMs?: number } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`mainline ${args.join(' ')} timed out\n${stdout}\n${stderr}`));
    }, options.timeoutMs ?? 60_000);
    if (options.signalAfterMs !== undefined) setTimeout(() => child.kill('SIGINT'), options.signalAfterMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

export const sha1 = async (p: string): Promise<string> => createHash('sha1').update(await readFile(p)).digest('hex');

/** A Session on loopback seeding `torrent` from `saveDir`; returns it and its port. */
export async function seedingSession(torrent: { bytes: Uint8Array }, saveDir: string): Promise<{ seeder: Session; port: number }> {
  const seeder = new Session({ portRange: [0, 0], bind: '127.0.0.1' });
  try {
    const port = await seeder.listen();
    await seeder.add(torrent.bytes, { savePath: saveDir });
    return { seeder, port };
  } catch (err) {
    await seeder.close();
    throw err;
  }
}
