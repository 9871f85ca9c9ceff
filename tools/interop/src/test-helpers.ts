import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Payload } from './payload.js';

/** Whether every payload file was reproduced byte for byte under `dir`. */
export function sameFiles(payload: Payload, dir: string): boolean {
  return payload.files.every((f) => {
    const copy = payload.multiFile ? join(dir, payload.name, ...f.relativePath.split('/')) : join(dir, payload.name);
    return readFileSync(copy).equals(readFileSync(f.path));
  });
}

export function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
