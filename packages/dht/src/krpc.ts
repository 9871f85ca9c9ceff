// KRPC (BEP 5): one bencoded dictionary per datagram. decodeKrpc() checks every field a message
// may carry (types, lengths, node-id size) and never throws: hostile datagrams are normal input.
import { BencodeDict, decodePrefix, encode, isBytes, isDict, isInteger, isList, type BencodeValue, type Encodable } from '@mainline/bencode';
import { decodeNodes, decodePeer, nodeBytes, type Family, type NodeInfo, type Peer } from './compact.js';
import { ID_BYTES } from './id.js';

/** KRPC error codes (BEP 5). */
export const ERROR_GENERIC = 201;
export const ERROR_SERVER = 202;
export const ERROR_PROTOCOL = 203;
export const ERROR_METHOD_UNKNOWN = 204;

/** Datagrams larger than this are dropped unread (real KRPC messages are well under 1.5 KB). */
export const MAX_DATAGRAM_BYTES = 4096;
/** Longest transaction id we echo; ours are 2 bytes. */
export const MAX_TRANSACTION_BYTES = 32;
/** Longest announce token we accept or store from others (libtorrent's are 4 bytes, jech's 8, bittorrent-dht's 20). */
export const MAX_TOKEN_BYTES = 64;

/** What `want` (BEP 32) asks for. */
export interface Want {
  readonly n4: boolean;
  readonly n6: boolean;
}

/** Fields every KRPC message has. */
export interface MessageBase {
  /** Transaction id. */
  readonly t: Uint8Array;
  /** Client version (`v`), when sent. */
  readonly v?: Uint8Array;
}

/** Fields every query has. */
export interface QueryBase extends MessageBase {
  readonly kind: 'query';
  /** The querier's node id. */
  readonly id: Uint8Array;
  /** BEP 43: the querier is read-only and must not be added to routing tables. */
  readonly ro: boolean;
}

export type Query =
  | (QueryBase & { readonly method: 'ping' })
  | (QueryBase & { readonly method: 'find_node'; readonly target: Uint8Array; readonly want?: Want })
  | (QueryBase & { readonly method: 'get_peers'; readonly infoHash: Uint8Array; readonly want?: Want })
  | (QueryBase & {
      readonly method: 'announce_peer';
      readonly infoHash: Uint8Array;
      /** The TCP port announced; undefined with `impliedPort` and no usable `port`. */
      readonly port?: number;
      readonly impliedPort: boolean;
      readonly token: Uint8Array;
    })
  /** A method we do not know (answered with 204); `name` is its text for logs. */
  | (QueryBase & { readonly method: 'unknown'; readonly name: string });

export interface Response extends MessageBase {
  readonly kind: 'response';
  /** The responder's node id. */
  readonly id: Uint8Array;
  /** BEP 42: our address as the responder saw it. */
  readonly ip?: Peer;
  readonly nodes?: NodeInfo[];
  readonly nodes6?: NodeInfo[];
  readonly values?: Peer[];
  readonly token?: Uint8Array;
}

export interface ErrorMessage extends MessageBase {
  readonly kind: 'error';
  readonly code: number;
  readonly message: string;
}

export type KrpcMessage = Query | Response | ErrorMessage;

/** Why a datagram was refused. */
export type KrpcErrorCode =
  | 'TOO_LARGE'
  | 'NOT_BENCODE'
  | 'NOT_A_DICT'
  | 'BAD_TRANSACTION'
  | 'BAD_TYPE'
  | 'BAD_QUERY'
  | 'BAD_RESPONSE'
  | 'BAD_ERROR';

/** A refused datagram: the reason, and whether (and with which transaction id) it deserves a 203 reply. */
export class KrpcError extends Error {
  override readonly name = 'KrpcError';
  constructor(
    readonly code: KrpcErrorCode,
    message: string,
    /** Set when the datagram was a query with a usable transaction id: answer it with error 203. */
    readonly replyTo?: Uint8Array,
  ) {
    super(message);
  }
}

export type DecodeResult = { readonly ok: true; readonly message: KrpcMessage } | { readonly ok: false; readonly error: KrpcError };

const fail = (code: KrpcErrorCode, message: string, replyTo?: Uint8Array): DecodeResult => ({ ok: false, error: new KrpcError(code, message, replyTo) });

const text = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');

function isId(v: BencodeValue | undefined): v is Uint8Array {
  return isBytes(v) && v.length === ID_BYTES;
}

/** Decodes and validates one KRPC datagram. Never throws. */
export function decodeKrpc(data: Uint8Array): DecodeResult {
  if (data.length > MAX_DATAGRAM_BYTES) return fail('TOO_LARGE', `datagram of ${data.length} bytes`);
  let root: BencodeValue;
  try {
    // Lenient about key order (some clients do not sort), strict about everything else; shallow.
    const { value, end } = decodePrefix(data, { strict: false, maxDepth: 6, maxIntegerDigits: 20 });
    if (end !== data.length) return fail('NOT_BENCODE', `${data.length - end} trailing byte(s)`);
    root = value;
  } catch (e) {
    return fail('NOT_BENCODE', (e as Error).message);
  }
  if (!isDict(root)) return fail('NOT_A_DICT', 'a KRPC message is a dictionary');
  const t = root.get('t');
  if (!isBytes(t) || t.length === 0 || t.length > MAX_TRANSACTION_BYTES) return fail('BAD_TRANSACTION', 'missing or bad transaction id');
  const y = root.get('y');
  const vRaw = root.get('v');
  const base = { t, ...(isBytes(vRaw) ? { v: vRaw } : {}) };
  if (!isBytes(y) || y.length !== 1) return fail('BAD_TYPE', 'missing or bad message type', t);
  switch (y[0]) {
    case 0x71: // q
      return decodeQuery(root, base);
    case 0x72: // r
      return decodeResponse(root, base);
    case 0x65: // e
      return decodeError(root, base);
    default:
      return fail('BAD_TYPE', `unknown message type ${JSON.stringify(text(y))}`, t);
  }
}

function decodeWant(v: BencodeValue | undefined): Want | undefined | null {
  if (v === undefined) return undefined;
  if (!isList(v) || v.length > 8) return null;
  let n4 = false;
  let n6 = false;
  for (const w of v) {
    if (!isBytes(w) || w.length > 8) return null;
    const s = text(w);
    if (s === 'n4') n4 = true;
    else if (s === 'n6') n6 = true;
  }
  return { n4, n6 };
}

function decodeQuery(root: BencodeDict, base: { t: Uint8Array; v?: Uint8Array }): DecodeResult {
  const { t } = base;
  const bad = (why: string): DecodeResult => fail('BAD_QUERY', why, t);
  const q = root.get('q');
  const a = root.get('a');
  if (!isBytes(q) || q.length === 0 || q.length > 64) return bad('missing or bad method name');
  if (!isDict(a)) return bad('missing arguments');
  const id = a.get('id');
  if (!isId(id)) return bad('missing or bad node id');
  const ro = root.get('ro');
  const head = { kind: 'query' as const, ...base, id, ro: ro === 1 };
  const name = text(q);
  switch (name) {
    case 'ping':
      return { ok: true, message: { ...head, method: 'ping' } };
    case 'find_node': {
      const target = a.get('target');
      if (!isId(target)) return bad('missing or bad target');
      const want = decodeWant(a.get('want'));
      if (want === null) return bad('bad want');
      return { ok: true, message: { ...head, method: 'find_node', target, ...(want ? { want } : {}) } };
    }
    case 'get_peers': {
      const infoHash = a.get('info_hash');
      if (!isId(infoHash)) return bad('missing or bad info_hash');
      const want = decodeWant(a.get('want'));
      if (want === null) return bad('bad want');
      return { ok: true, message: { ...head, method: 'get_peers', infoHash, ...(want ? { want } : {}) } };
    }
    case 'announce_peer': {
      const infoHash = a.get('info_hash');
      if (!isId(infoHash)) return bad('missing or bad info_hash');
      const token = a.get('token');
      if (!isBytes(token) || token.length === 0 || token.length > MAX_TOKEN_BYTES) return bad('missing or bad token');
      const implied = a.get('implied_port');
      if (implied !== undefined && implied !== 0 && implied !== 1) return bad('bad implied_port');
      const impliedPort = implied === 1;
      const port = a.get('port');
      const portOk = typeof port === 'number' && port >= 1 && port <= 65535;
      // With implied_port the UDP source port is used, so `port` may be absent or anything.
      if (!impliedPort && !portOk) return bad('missing or bad port');
      return { ok: true, message: { ...head, method: 'announce_peer', infoHash, token, impliedPort, ...(portOk ? { port } : {}) } };
    }
    default:
      return { ok: true, message: { ...head, method: 'unknown', name: name.replace(/[^\x20-\x7e]/g, '?') } };
  }
}

function decodeNodeList(v: BencodeValue | undefined, family: Family): NodeInfo[] | undefined | null {
  if (v === undefined) return undefined;
  if (!isBytes(v) || v.length % nodeBytes(family) !== 0) return null;
  return decodeNodes(v, family);
}

function decodeResponse(root: BencodeDict, base: { t: Uint8Array; v?: Uint8Array }): DecodeResult {
  const bad = (why: string): DecodeResult => fail('BAD_RESPONSE', why);
  const r = root.get('r');
  if (!isDict(r)) return bad('missing r');
  const id = r.get('id');
  if (!isId(id)) return bad('missing or bad node id');
  const nodes = decodeNodeList(r.get('nodes'), 4);
  if (nodes === null) return bad('bad nodes');
  const nodes6 = decodeNodeList(r.get('nodes6'), 6);
  if (nodes6 === null) return bad('bad nodes6');
  const token = r.get('token');
  if (token !== undefined && (!isBytes(token) || token.length === 0 || token.length > MAX_TOKEN_BYTES)) return bad('bad token');
  const rawValues = r.get('values');
  let values: Peer[] | undefined;
  if (rawValues !== undefined) {
    if (!isList(rawValues)) return bad('values is not a list');
    values = [];
    for (const v of rawValues) {
      if (!isBytes(v) || (v.length !== 6 && v.length !== 18)) return bad('bad entry in values');
      values.push(decodePeer(v));
    }
  }
  // `ip` is advisory: a malformed one is ignored, not a reason to drop the reply.
  const ipRaw = root.get('ip');
  const ip = isBytes(ipRaw) && (ipRaw.length === 6 || ipRaw.length === 18) ? decodePeer(ipRaw) : undefined;
  return {
    ok: true,
    message: {
      kind: 'response',
      ...base,
      id,
      ...(ip ? { ip } : {}),
      ...(nodes ? { nodes } : {}),
      ...(nodes6 ? { nodes6 } : {}),
      ...(values ? { values } : {}),
      ...(token ? { token } : {}),
    },
  };
}

function decodeError(root: BencodeDict, base: { t: Uint8Array; v?: Uint8Array }): DecodeResult {
  const e = root.get('e');
  if (!isList(e) || e.length < 1) return fail('BAD_ERROR', 'missing e');
  const [code, msg] = e;
  if (!isInteger(code) || typeof code !== 'number') return fail('BAD_ERROR', 'bad error code');
  const message = isBytes(msg) ? text(msg.subarray(0, 200)).replace(/[^\x20-\x7e]/g, '?') : '';
  return { ok: true, message: { kind: 'error', ...base, code, message } };
}

// ---- encoding --------------------------------------------------------------------------

/** Fields every message we send carries. */
export interface Envelope {
  readonly t: Uint8Array;
  /** Our client version, `v`. */
  readonly v?: Uint8Array;
}

/** Encodes a query: `args` gets our `id`; `ro` marks a read-only node (BEP 43). */
export function encodeQuery(env: Envelope, method: string, args: { readonly [key: string]: Encodable | undefined }, ro = false): Uint8Array {
  return encode({ t: env.t, y: 'q', q: method, a: args, ...(env.v ? { v: env.v } : {}), ...(ro ? { ro: 1 } : {}) });
}

/** Encodes a response; `ip` is the requester's compact address (BEP 42). */
export function encodeResponse(env: Envelope, body: { readonly [key: string]: Encodable | undefined }, ip?: Uint8Array): Uint8Array {
  return encode({ t: env.t, y: 'r', r: body, ...(env.v ? { v: env.v } : {}), ...(ip ? { ip } : {}) });
}

export function encodeError(env: Envelope, code: number, message: string): Uint8Array {
  return encode({ t: env.t, y: 'e', e: [code, message], ...(env.v ? { v: env.v } : {}) });
}
