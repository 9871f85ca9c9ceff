import * as path from 'node:path';
import { MetainfoError, safeFilePath } from './index.js';

function rejects(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof MetainfoError) return e.code;
    throw e;
  }
  return 'accepted';
}

describe('safeFilePath', () => {
  it('joins components under the root', () => {
    expect(safeFilePath('/dl', ['top', 'a', 'b.txt'])).toBe('/dl/top/a/b.txt');
    expect(safeFilePath('/dl/', ['..x', 'a..b', '.hidden'])).toBe('/dl/..x/a..b/.hidden');
    expect(safeFilePath('relative/dir', ['f'])).toBe(path.resolve('relative/dir', 'f'));
  });

  it.each([
    [['..']],
    [['a', '..', '..', 'etc']],
    [['.']],
    [['/etc/passwd']],
    [['a/../../b']],
    [['a\\..\\..\\b']],
    [['']],
    [[]],
    [['a\0b']],
  ])('refuses %j', (components) => {
    expect(rejects(() => safeFilePath('/dl', components))).toBe('UNSAFE_PATH');
  });

  it('uses win32 rules when given path.win32: drive-relative and drive-absolute components cannot escape', () => {
    expect(safeFilePath('C:\\dl', ['top', 'f.txt'], path.win32)).toBe('C:\\dl\\top\\f.txt');
    expect(rejects(() => safeFilePath('C:\\dl', ['C:x'], path.win32))).toBe('UNSAFE_PATH');
    expect(rejects(() => safeFilePath('C:\\dl', ['D:'], path.win32))).toBe('UNSAFE_PATH');
    expect(rejects(() => safeFilePath('C:\\dl', ['a', 'D:evil'], path.win32))).toBe('UNSAFE_PATH');
  });
});
