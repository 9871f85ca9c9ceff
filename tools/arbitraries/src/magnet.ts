import fc from 'fast-check';
import { applyMutations, byteMutation } from './bytes.js';

const HEX = '0123456789abcdefABCDEF';
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abcdefghijklmnopqrstuvwxyz';

const chars = (alphabet: string, min: number, max: number): fc.Arbitrary<string> =>
  fc.array(fc.constantFrom(...alphabet), { minLength: min, maxLength: max }).map((a) => a.join(''));

/** An info-hash as a link writes it: 40 hex, 32 base32, or something almost like one. */
const infoHash = fc.oneof(
  { weight: 4, arbitrary: chars(HEX, 40, 40) },
  { weight: 2, arbitrary: chars(B32, 32, 32) },
  { weight: 1, arbitrary: chars(HEX, 0, 44) },
  { weight: 1, arbitrary: chars(`${B32}0189=`, 30, 34) },
);

/** Text as it may appear in a value: plain, percent-encoded, or with broken escapes. */
const text = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 10 }).map(encodeURIComponent),
  fc.constantFrom('%', '%2', '%zz', '%E0%A4%A', '%C0%AF', '+', '%00', '&', '=', '%26', '%3D'),
);

const port = fc.oneof(fc.integer({ min: 0, max: 70_000 }).map(String), fc.constantFrom('', '-1', '08', '99999', 'x'));
const host = fc.oneof(
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.')),
  fc.constantFrom('[::1]', '[2001:db8::1]', '[::ffff:1.2.3.4]', '[zz]', 'host.example', '', '[', ':', '::1'),
);
const peer = fc.tuple(host, port).map(([h, p]) => `${h}:${p}`);
const url = fc.oneof(
  fc.tuple(fc.constantFrom('http://', 'https://', 'udp://', 'ws://', ''), host, port, fc.constantFrom('/announce', '', '/a?x=1&y=2')).map(([s, h, p, path]) => `${s}${h}:${p}${path}`),
  text,
);

/** One `key=value` part of a link: every parameter the parser knows, numbered forms, unknown and broken ones. */
const part: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: infoHash.map((h) => `xt=urn:btih:${h}`) },
  { weight: 1, arbitrary: fc.constantFrom('xt=urn:btmh:1220', 'xt=urn:sha1:x', 'XT=URN:BTIH:', 'xt') },
  { weight: 2, arbitrary: text.map((t) => `dn=${t}`) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom('tr', 'tr.1', 'tr.22', 'TR', 'tr.x'), url).map(([k, u]) => `${k}=${encodeURIComponent(u)}`) },
  { weight: 2, arbitrary: url.map((u) => `ws=${u}`) },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom('x.pe', 'x.pe.1', 'X.PE'), peer, fc.boolean()).map(([k, p, enc]) => `${k}=${enc ? encodeURIComponent(p) : p}`) },
  { weight: 1, arbitrary: fc.oneof(fc.nat().map(String), fc.constantFrom('-1', '', '1e3', '99999999999999999', '0x10')).map((n) => `xl=${n}`) },
  { weight: 1, arbitrary: fc.tuple(text, text).map(([k, v]) => `${k}=${v}`) },
  { weight: 1, arbitrary: fc.constantFrom('', '=', '==', 'tr', 'x.pe=', '&') },
);

/** A magnet link: usually the right scheme and a valid btih first, then any mix of parameters, repeated at will. */
export const magnetLink: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom('magnet:?', 'magnet:?', 'magnet:?', 'MAGNET:?', ' magnet:?', 'magnet:', 'http://x?'),
    fc.option(fc.oneof(chars(HEX, 40, 40), chars(B32, 32, 32)).map((h) => `xt=urn:btih:${h}`), { freq: 4, nil: undefined }),
    fc.array(part, { maxLength: 12 }),
  )
  .map(([scheme, xt, parts]) => scheme + (xt === undefined ? parts : [xt, ...parts]).join('&'));

const MAGNET_TOKENS = ['&', '=', '%', '%2', 'tr=', 'x.pe=', 'xt=urn:btih:', '[', ']', ':', '.1', '\u00ff', '\ud83d'];

/** A magnet link with a few byte edits (read back as UTF-8, so broken sequences become U+FFFD). */
export const mutatedMagnetLink: fc.Arbitrary<string> = fc
  .tuple(magnetLink, fc.array(byteMutation(MAGNET_TOKENS), { minLength: 1, maxLength: 4 }))
  .map(([link, muts]) => applyMutations(Buffer.from(link), muts).toString('utf8'));
