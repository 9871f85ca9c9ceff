import { MetainfoError } from './errors.js';

export interface NameRules {
  /**
   * Also apply mainline 3.x's stricter rule: reject names starting with `.` or `~`. Off by default
   * because real torrents carry `.hidden` files and `~$office` lock files, and neither can escape
   * the download directory.
   */
  mainlineNames?: boolean;
}

/** Why `name` is unsafe as one path component, or undefined when it is fine. */
export function unsafeReason(name: string, rules: NameRules = {}): string | undefined {
  if (name.length === 0) return 'empty name';
  if (name === '.' || name === '..') return `'${name}' is not a file name`;
  if (name.includes('/') || name.includes('\\')) return 'contains a path separator';
  if (name.includes('\0')) return 'contains a NUL character';
  if (rules.mainlineNames && (name.startsWith('.') || name.startsWith('~'))) return 'starts with . or ~ (mainline rule)';
  return undefined;
}

/** Throws UNSAFE_PATH unless `name` is safe as one path component. */
export function assertSafeName(name: string, path: string, rules: NameRules = {}): void {
  const reason = unsafeReason(name, rules);
  if (reason !== undefined) throw new MetainfoError('UNSAFE_PATH', path, `unsafe name ${JSON.stringify(name)}: ${reason}`);
}
