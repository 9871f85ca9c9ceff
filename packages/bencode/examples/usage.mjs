import { createHash } from 'node:crypto';
import { BencodeError, decode, encode, isDict, toText } from '@mainline/bencode';

// Encode: plain objects, strings (UTF-8), integers and bytes; keys are sorted by their raw bytes.
const bytes = encode({
  announce: 'http://tracker.example/announce',
  info: { length: 3, name: 'hello.txt', 'piece length': 16384, pieces: new Uint8Array(20) },
});
console.log(Buffer.from(bytes.subarray(0, 45)).toString());

// Decode: dicts are BencodeDicts (look up by text or bytes), byte strings are Uint8Array views.
const torrent = decode(bytes); // throws BencodeError on bad input
if (!isDict(torrent)) throw new Error('not a torrent');
console.log(toText(torrent.get('announce')));
const info = torrent.get('info');
if (!isDict(info)) throw new Error('no info dict');
console.log(toText(info.get('name')), info.get('length'));

// The info-hash: SHA-1 of the original bytes of `info`, never of a re-encoding.
console.log(createHash('sha1').update(torrent.raw('info')).digest('hex'));

// Strict by default: mainline's rules, with a code and the byte offset.
try {
  decode(new TextEncoder().encode('i03e'));
} catch (e) {
  if (!(e instanceof BencodeError)) throw e;
  console.log(e.code, e.offset);
}
console.log(decode(new TextEncoder().encode('d1:bi1e1:ai2ee'), { strict: false }).get('a')); // sloppy files
