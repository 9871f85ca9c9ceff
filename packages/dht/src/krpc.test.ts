import { encode, type Encodable } from '@mainline/bencode';
import { decodeKrpc, encodeError, encodeQuery, encodeResponse, MAX_DATAGRAM_BYTES, type KrpcErrorCode } from './krpc.js';

const id = new Uint8Array(20).fill(1);
const t = Uint8Array.of(0, 1);
const q = (method: string, a: { [k: string]: Encodable }, extra: { [k: string]: Encodable } = {}): Uint8Array => encode({ t, y: 'q', q: method, a, ...extra });
const r = (body: { [k: string]: Encodable }, extra: { [k: string]: Encodable } = {}): Uint8Array => encode({ t, y: 'r', r: body, ...extra });

describe('valid messages decode to their fields', () => {
  test('the four queries, with ro, want and implied_port', () => {
    expect(decodeKrpc(q('ping', { id }, { ro: 1, v: 'LT12' }))).toMatchObject({ ok: true, message: { kind: 'query', method: 'ping', ro: true, id } });
    expect(decodeKrpc(q('find_node', { id, target: id, want: ['n4', 'n6'] }))).toMatchObject({ ok: true, message: { method: 'find_node', want: { n4: true, n6: true } } });
    expect(decodeKrpc(q('get_peers', { id, info_hash: id }))).toMatchObject({ ok: true, message: { method: 'get_peers', infoHash: id, ro: false } });
    expect(decodeKrpc(q('announce_peer', { id, info_hash: id, port: 6881, token: 'tok' }))).toMatchObject({ ok: true, message: { method: 'announce_peer', port: 6881, impliedPort: false } });
    // With implied_port the port may be missing or anything.
    expect(decodeKrpc(q('announce_peer', { id, info_hash: id, implied_port: 1, token: 'tok' }))).toMatchObject({ ok: true, message: { impliedPort: true } });
    expect(decodeKrpc(q('announce_peer', { id, info_hash: id, implied_port: 1, port: 0, token: 'tok' }))).toMatchObject({ ok: true, message: { impliedPort: true } });
    expect(decodeKrpc(q('vote', { id }))).toMatchObject({ ok: true, message: { method: 'unknown', name: 'vote' } });
  });

  test('responses: nodes, nodes6, values of both sizes, token, ip (a bad ip is ignored)', () => {
    const node = new Uint8Array(26).fill(7);
    const node6 = new Uint8Array(38).fill(8);
    const m = decodeKrpc(r({ id, nodes: node, nodes6: node6, values: [Uint8Array.of(1, 2, 3, 4, 0x1a, 0xe1), new Uint8Array(18)], token: 'xy' }, { ip: Uint8Array.of(9, 9, 9, 9, 0, 80) }));
    expect(m).toMatchObject({ ok: true, message: { kind: 'response', id, token: Buffer.from('xy'), ip: { host: '9.9.9.9', port: 80 } } });
    if (!m.ok || m.message.kind !== 'response') throw new Error('not a response');
    expect(m.message.nodes).toEqual([{ id: new Uint8Array(20).fill(7), host: '7.7.7.7', port: 0x0707 }]);
    expect(m.message.nodes6![0]!.host).toBe('808:808:808:808:808:808:808:808');
    expect(m.message.values).toEqual([
      { host: '1.2.3.4', port: 6881, family: 4 },
      { host: '::', port: 0, family: 6 },
    ]);
    expect(decodeKrpc(r({ id }, { ip: 'abc' }))).toMatchObject({ ok: true, message: { kind: 'response' } });
    expect((decodeKrpc(r({ id }, { ip: 'abc' })) as { message: object }).message).not.toHaveProperty('ip');
  });

  test('errors, and what we encode decodes back', () => {
    expect(decodeKrpc(encode({ t, y: 'e', e: [201, 'A Generic Error Ocurred'] }))).toMatchObject({ ok: true, message: { kind: 'error', code: 201, message: 'A Generic Error Ocurred' } });
    expect(decodeKrpc(encodeQuery({ t, v: Uint8Array.of(1) }, 'ping', { id }, true))).toMatchObject({ ok: true, message: { method: 'ping', ro: true, v: Uint8Array.of(1) } });
    expect(decodeKrpc(encodeResponse({ t }, { id }, Uint8Array.of(1, 2, 3, 4, 0, 1)))).toMatchObject({ ok: true, message: { ip: { host: '1.2.3.4', port: 1 } } });
    expect(decodeKrpc(encodeError({ t }, 204, 'Method Unknown'))).toMatchObject({ ok: true, message: { code: 204 } });
  });
});

// Every way a datagram can be wrong: the reason code, and whether it earns a 203 reply (a query
// whose transaction id we can echo) or is dropped.
const cases: [string, Uint8Array, KrpcErrorCode, boolean][] = [
  ['empty datagram', new Uint8Array(0), 'NOT_BENCODE', false],
  ['not bencode', Buffer.from('hello'), 'NOT_BENCODE', false],
  ['truncated dict', Buffer.from('d1:t2:aa1:y1:q'), 'NOT_BENCODE', false],
  ['trailing bytes', Buffer.concat([q('ping', { id }), Buffer.from('x')]), 'NOT_BENCODE', false],
  ['a list', encode([1, 2]), 'NOT_A_DICT', false],
  ['an integer', encode(5), 'NOT_A_DICT', false],
  ['a string', encode('d'), 'NOT_A_DICT', false],
  ['too large', new Uint8Array(MAX_DATAGRAM_BYTES + 1).fill(0x64), 'TOO_LARGE', false],
  ['too deep', Buffer.from(`d1:t2:aa1:y1:q1:a${'l'.repeat(10)}${'e'.repeat(10)}e`), 'NOT_BENCODE', false],
  ['no t', encode({ y: 'q', q: 'ping', a: { id } }), 'BAD_TRANSACTION', false],
  ['t an integer', encode({ t: 1, y: 'q', q: 'ping', a: { id } }), 'BAD_TRANSACTION', false],
  ['t empty', encode({ t: '', y: 'q', q: 'ping', a: { id } }), 'BAD_TRANSACTION', false],
  ['t too long', encode({ t: 'x'.repeat(33), y: 'q', q: 'ping', a: { id } }), 'BAD_TRANSACTION', false],
  ['no y', encode({ t, q: 'ping', a: { id } }), 'BAD_TYPE', true],
  ['y an integer', encode({ t, y: 1, q: 'ping', a: { id } }), 'BAD_TYPE', true],
  ['y unknown', encode({ t, y: 'x', q: 'ping', a: { id } }), 'BAD_TYPE', true],
  ['y too long', encode({ t, y: 'qq', q: 'ping', a: { id } }), 'BAD_TYPE', true],
  ['no q', encode({ t, y: 'q', a: { id } }), 'BAD_QUERY', true],
  ['q an integer', encode({ t, y: 'q', q: 3, a: { id } }), 'BAD_QUERY', true],
  ['q empty', encode({ t, y: 'q', q: '', a: { id } }), 'BAD_QUERY', true],
  ['no a', encode({ t, y: 'q', q: 'ping' }), 'BAD_QUERY', true],
  ['a a list', encode({ t, y: 'q', q: 'ping', a: [id] }), 'BAD_QUERY', true],
  ['no id', q('ping', {}), 'BAD_QUERY', true],
  ['id of 19 bytes', q('ping', { id: id.subarray(1) }), 'BAD_QUERY', true],
  ['id of 21 bytes', q('ping', { id: new Uint8Array(21) }), 'BAD_QUERY', true],
  ['id an integer', q('ping', { id: 7 }), 'BAD_QUERY', true],
  ['unknown method without id', q('vote', {}), 'BAD_QUERY', true],
  ['find_node without target', q('find_node', { id }), 'BAD_QUERY', true],
  ['find_node target of 10 bytes', q('find_node', { id, target: new Uint8Array(10) }), 'BAD_QUERY', true],
  ['find_node want not a list', q('find_node', { id, target: id, want: 'n4' }), 'BAD_QUERY', true],
  ['find_node want of integers', q('find_node', { id, target: id, want: [4, 6] }), 'BAD_QUERY', true],
  ['get_peers without info_hash', q('get_peers', { id }), 'BAD_QUERY', true],
  ['get_peers info_hash a list', q('get_peers', { id, info_hash: [id] }), 'BAD_QUERY', true],
  ['get_peers info_hash of 40 hex chars', q('get_peers', { id, info_hash: 'a'.repeat(40) }), 'BAD_QUERY', true],
  ['announce_peer without token', q('announce_peer', { id, info_hash: id, port: 1 }), 'BAD_QUERY', true],
  ['announce_peer empty token', q('announce_peer', { id, info_hash: id, port: 1, token: '' }), 'BAD_QUERY', true],
  ['announce_peer token of 65 bytes', q('announce_peer', { id, info_hash: id, port: 1, token: 'x'.repeat(65) }), 'BAD_QUERY', true],
  ['announce_peer without port', q('announce_peer', { id, info_hash: id, token: 'x' }), 'BAD_QUERY', true],
  ['announce_peer port 0', q('announce_peer', { id, info_hash: id, port: 0, token: 'x' }), 'BAD_QUERY', true],
  ['announce_peer port 65536', q('announce_peer', { id, info_hash: id, port: 65536, token: 'x' }), 'BAD_QUERY', true],
  ['announce_peer port negative', q('announce_peer', { id, info_hash: id, port: -1, token: 'x' }), 'BAD_QUERY', true],
  ['announce_peer port a string', q('announce_peer', { id, info_hash: id, port: '6881', token: 'x' }), 'BAD_QUERY', true],
  ['announce_peer port a bigint', q('announce_peer', { id, info_hash: id, port: 2n ** 62n, token: 'x' }), 'BAD_QUERY', true],
  ['announce_peer implied_port 2', q('announce_peer', { id, info_hash: id, port: 1, implied_port: 2, token: 'x' }), 'BAD_QUERY', true],
  ['announce_peer without info_hash', q('announce_peer', { id, port: 1, token: 'x' }), 'BAD_QUERY', true],
  ['no r', encode({ t, y: 'r' }), 'BAD_RESPONSE', false],
  ['r a string', encode({ t, y: 'r', r: 'x' }), 'BAD_RESPONSE', false],
  ['r without id', r({}), 'BAD_RESPONSE', false],
  ['r id of 8 bytes', r({ id: new Uint8Array(8) }), 'BAD_RESPONSE', false],
  ['nodes of 25 bytes', r({ id, nodes: new Uint8Array(25) }), 'BAD_RESPONSE', false],
  ['nodes of 27 bytes', r({ id, nodes: new Uint8Array(27) }), 'BAD_RESPONSE', false],
  ['nodes a list', r({ id, nodes: [new Uint8Array(26)] }), 'BAD_RESPONSE', false],
  ['nodes6 of 26 bytes', r({ id, nodes6: new Uint8Array(26) }), 'BAD_RESPONSE', false],
  ['values a string', r({ id, values: new Uint8Array(6) }), 'BAD_RESPONSE', false],
  ['values entry of 5 bytes', r({ id, values: [new Uint8Array(5)] }), 'BAD_RESPONSE', false],
  ['values entry of 7 bytes', r({ id, values: [new Uint8Array(6), new Uint8Array(7)] }), 'BAD_RESPONSE', false],
  ['values entry an integer', r({ id, values: [6] }), 'BAD_RESPONSE', false],
  ['token an integer', r({ id, token: 5 }), 'BAD_RESPONSE', false],
  ['token empty', r({ id, token: '' }), 'BAD_RESPONSE', false],
  ['no e', encode({ t, y: 'e' }), 'BAD_ERROR', false],
  ['e a string', encode({ t, y: 'e', e: 'oops' }), 'BAD_ERROR', false],
  ['e empty', encode({ t, y: 'e', e: [] }), 'BAD_ERROR', false],
  ['e code a string', encode({ t, y: 'e', e: ['201', 'x'] }), 'BAD_ERROR', false],
  ['e code a bigint', encode({ t, y: 'e', e: [2n ** 62n, 'x'] }), 'BAD_ERROR', false],
];

test.each(cases.map(([name, data, code, reply]) => ({ name, data, code, reply })))('$name is refused with $code (203 reply: $reply), not thrown', ({ data, code, reply }) => {
  const result = decodeKrpc(data);
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.error.code).toBe(code);
  expect(result.error.replyTo !== undefined).toBe(reply);
  if (reply) expect(result.error.replyTo).toEqual(t);
});
