import * as nodePath from 'node:path';
import { MetainfoError } from './errors.js';
import { assertSafeName } from './names.js';

/**
 * The absolute path of a torrent file under `root`, built from its path components (as in
 * `Metainfo.files[i].path`). Each component is checked again (non-empty, not `.`/`..`, no
 * separators or NUL), and the resolved result must lie strictly inside `root` — on Windows this
 * also catches drive-relative components like `C:x`. Throws MetainfoError `UNSAFE_PATH`.
 * Symlinks already present under `root` are not followed here; storage should open files with
 * that in mind.
 */
export function safeFilePath(root: string, components: readonly string[], path: typeof nodePath = nodePath): string {
  if (components.length === 0) throw new MetainfoError('UNSAFE_PATH', '', 'empty path');
  components.forEach((c, i) => assertSafeName(c, `[${i}]`));
  const base = path.resolve(root);
  const full = path.resolve(base, ...components);
  const rel = path.relative(base, full);
  if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new MetainfoError('UNSAFE_PATH', '', `${JSON.stringify(components.join('/'))} resolves outside ${base}`);
  }
  const parts = rel.split(path.sep);
  if (parts.length !== components.length || parts.some((p, i) => p !== components[i])) {
    throw new MetainfoError('UNSAFE_PATH', '', `${JSON.stringify(components.join('/'))} does not map one-to-one onto ${rel}`);
  }
  return full;
}
