// The README example until the CLI lands: read a .torrent with @mainline/bencode and print
// what it holds and its info-hash (SHA-1 of the original `info` bytes).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decode, isBytes, isDict, isList, toText } from '@mainline/bencode';

const file = process.argv[2] ?? fileURLToPath(new URL('./sample.torrent', import.meta.url));
const torrent = decode(readFileSync(file));
if (!isDict(torrent) || !isDict(torrent.get('info'))) throw new Error(`${file} is not a torrent`);
const info = torrent.get('info');
const text = (v) => (isBytes(v) ? toText(v) : String(v));
const files = isList(info.get('files'))
  ? info.get('files').map((f) => ({ path: f.get('path').map(text).join('/'), length: f.get('length') }))
  : [{ path: text(info.get('name')), length: info.get('length') }];
const pieces = info.get('pieces').length / 20;

console.log(`torrent:    ${file}`);
console.log(`name:       ${text(info.get('name'))}`);
console.log(`announce:   ${text(torrent.get('announce'))}`);
console.log(`pieces:     ${pieces} × ${info.get('piece length')} bytes`);
for (const f of files) console.log(`file:       ${f.path} (${f.length} bytes)`);
console.log(`info-hash:  ${createHash('sha1').update(torrent.raw('info')).digest('hex')}`);
