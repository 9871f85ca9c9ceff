// URL escaping of raw bytes for tracker query strings (BEP 3): every byte outside the RFC 3986
// "unreserved" set becomes %XX. Bytes never pass through a text decoding, so 0x80-0xff stay one byte.

const TABLE: string[] = [];
for (let b = 0; b < 256; b++) {
  const c = String.fromCharCode(b);
  TABLE.push(/[A-Za-z0-9\-._~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`);
}

/** Percent-encodes raw bytes: unreserved bytes as themselves, everything else as `%XX`. */
export function percentEncodeBytes(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += TABLE[bytes[i]!];
  return out;
}

/** Percent-encodes text as UTF-8 bytes. */
export function percentEncodeText(text: string): string {
  return percentEncodeBytes(Buffer.from(text, 'utf8'));
}
