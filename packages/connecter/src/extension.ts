import { BencodeDict, BencodeError, decode, encode, isBytes, isDict, toTextStrict, type Encodable } from '@mainline/bencode';
import { ProtocolError } from './errors.js';

/** The BEP 10 extension handshake (extended message id 0). */
export interface ExtensionHandshake {
  /** Extension name → the id the sender wants to receive it under (0 = disabled). */
  m: ReadonlyMap<string, number>;
  /** Client name and version. */
  v?: string;
  /** The sender's listen port. */
  p?: number;
  /** How many outstanding requests the sender accepts. */
  reqq?: number;
  /** Our address as the sender sees it (4 or 16 bytes). */
  yourip?: Uint8Array;
  /** BEP 9 metadata size. */
  metadataSize?: number;
  /** The whole decoded dictionary (received handshakes only), for keys not listed above. */
  dict?: BencodeDict;
}

function smallInt(v: unknown, min: number, max: number): number | undefined {
  const n = typeof v === 'bigint' ? Number(v) : v;
  return typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max ? n : undefined;
}

/** Bencodes an extension handshake (unset fields are left out). */
export function encodeExtensionHandshake(hs: ExtensionHandshake): Buffer {
  const m = new Map<string, Encodable>();
  for (const [name, id] of hs.m) m.set(name, id);
  const d: { [k: string]: Encodable | undefined } = {
    m,
    v: hs.v,
    p: hs.p,
    reqq: hs.reqq,
    yourip: hs.yourip,
    metadata_size: hs.metadataSize,
  };
  return encode(d);
}

/**
 * Parses an extension handshake. Only a payload that is not a bencoded dict, or an `m` that is not
 * a dict, is an error; odd values in known keys are ignored (they are hints), as other clients do.
 * Decoding is lenient about key order and duplicates, which real clients get wrong.
 */
export function decodeExtensionHandshake(payload: Uint8Array): ExtensionHandshake {
  let value;
  try {
    value = decode(payload, { strict: false, maxDepth: 32 });
  } catch (err) {
    if (err instanceof BencodeError) {
      throw new ProtocolError('BAD_EXTENSION_HANDSHAKE', `extension handshake is not bencode: ${err.message}`);
    }
    throw err;
  }
  if (!isDict(value)) throw new ProtocolError('BAD_EXTENSION_HANDSHAKE', 'extension handshake is not a dictionary');
  const m = new Map<string, number>();
  const rawM = value.get('m');
  if (rawM !== undefined) {
    if (!isDict(rawM)) throw new ProtocolError('BAD_EXTENSION_HANDSHAKE', "extension handshake 'm' is not a dictionary");
    for (const [key, id] of rawM) {
      const name = toTextStrict(key);
      const n = smallInt(id, 0, 255);
      if (name !== undefined && n !== undefined) m.set(name, n);
    }
  }
  const hs: ExtensionHandshake = { m, dict: value };
  const v = value.get('v');
  if (isBytes(v)) {
    const text = toTextStrict(v);
    if (text !== undefined) hs.v = text;
  }
  const p = smallInt(value.get('p'), 1, 65535);
  if (p !== undefined) hs.p = p;
  const reqq = smallInt(value.get('reqq'), 1, 2 ** 31 - 1);
  if (reqq !== undefined) hs.reqq = reqq;
  const yourip = value.get('yourip');
  if (isBytes(yourip) && (yourip.length === 4 || yourip.length === 16)) hs.yourip = yourip;
  const ms = smallInt(value.get('metadata_size'), 0, Number.MAX_SAFE_INTEGER);
  if (ms !== undefined) hs.metadataSize = ms;
  return hs;
}
