// The web-home directory server: what it serves, and that nothing outside the directory is reachable.
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '@mainline/interop';
import { StaticDir, contentType } from './static-files.js';

test('index.html for directories, a redirect without the slash, content types by extension', async () => {
  const root = join(makeTempDir('static'), 'web');
  mkdirSync(join(root, 'js'), { recursive: true });
  writeFileSync(join(root, 'index.html'), '<h1>ui</h1>');
  writeFileSync(join(root, 'js', 'index.html'), 'js index');
  writeFileSync(join(root, 'js', 'app.js'), 'x()');
  writeFileSync(join(root, 'a b.css'), 'p{}');
  const dir = new StaticDir(root);
  expect(await dir.lookup('')).toMatchObject({ kind: 'file', type: 'text/html; charset=utf-8' });
  expect(await dir.lookup('js')).toEqual({ kind: 'redirect' });
  expect(await dir.lookup('js/')).toMatchObject({ kind: 'file' });
  expect(await dir.lookup('js/app.js')).toMatchObject({ kind: 'file', type: 'text/javascript; charset=utf-8' });
  expect(await dir.lookup('a%20b.css')).toMatchObject({ kind: 'file', type: 'text/css; charset=utf-8' });
  expect(await dir.lookup('missing.png')).toEqual({ kind: 'missing' });
  expect(contentType('x.PNG')).toBe('image/png');
  expect(contentType('x.ico')).toBe('image/x-icon');
  expect(contentType('x.woff2')).toBe('font/woff2');
  expect(contentType('x.unknown')).toBe('application/octet-stream');
});

test('no way out: .., encoded slashes, NUL, hidden files, links leading out (links inside are fine)', async () => {
  const base = makeTempDir('static-escape');
  const root = join(base, 'web');
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(base, 'secret.txt'), 'secret');
  writeFileSync(join(root, '.htpasswd'), 'hidden');
  writeFileSync(join(root, 'sub', 'ok.txt'), 'ok');
  symlinkSync(join(base, 'secret.txt'), join(root, 'out.txt'));
  symlinkSync(base, join(root, 'outdir'));
  symlinkSync(join(root, 'sub', 'ok.txt'), join(root, 'in.txt'));
  const dir = new StaticDir(root);
  for (const p of ['../secret.txt', '%2e%2e/secret.txt', 'sub/..%2f..%2fsecret.txt', 'sub%2f..%2f..%2fsecret.txt', '..%5csecret.txt', 'ok.txt%00', '.htpasswd', 'sub/%2ehtpasswd', 'out.txt', 'outdir/secret.txt', '%E0%A4%A']) {
    expect([p, (await dir.lookup(p)).kind]).toEqual([p, 'missing']);
  }
  const inside = await dir.lookup('in.txt');
  expect(inside.kind === 'file' && inside.body.toString()).toBe('ok');
});
