import { BencodeDict, BencodeError, decode, decodePrefix, encode, toText, type BencodeErrorCode } from './index.js';

const b = (s: string): Uint8Array => Buffer.from(s, 'utf8');

function expectError(input: string | Uint8Array, code: BencodeErrorCode, offset?: number, strict = true): void {
  const bytes = typeof input === 'string' ? b(input) : input;
  let thrown: unknown;
  try {
    decode(bytes, { strict });
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(BencodeError);
  const err = thrown as BencodeError;
  expect(err.code).toBe(code);
  if (offset !== undefined) expect(err.offset).toBe(offset);
  expect(err.message).toMatch(/at byte \d+/);
}

describe('decode: the BEP 3 examples', () => {
  test('strings', () => {
    expect(toText(decode(b('4:spam')) as Uint8Array)).toBe('spam');
    expect(decode(b('0:'))).toEqual(new Uint8Array(0));
  });
  test('integers', () => {
    expect(decode(b('i3e'))).toBe(3);
    expect(decode(b('i-3e'))).toBe(-3);
    expect(decode(b('i0e'))).toBe(0);
    expect(Object.is(decode(b('i0e')), 0)).toBe(true);
  });
  test('lists', () => {
    const v = decode(b('l4:spam4:eggse')) as Uint8Array[];
    expect(v.map(toText)).toEqual(['spam', 'eggs']);
    expect(decode(b('le'))).toEqual([]);
  });
  test('dictionaries', () => {
    const d = decode(b('d3:cow3:moo4:spam4:eggse')) as BencodeDict;
    expect(d).toBeInstanceOf(BencodeDict);
    expect(toText(d.get('cow') as Uint8Array)).toBe('moo');
    expect(toText(d.get('spam') as Uint8Array)).toBe('eggs');
    const d2 = decode(b('d4:spaml1:a1:bee')) as BencodeDict;
    expect((d2.get('spam') as Uint8Array[]).map(toText)).toEqual(['a', 'b']);
    expect((decode(b('de')) as BencodeDict).size).toBe(0);
  });
  test('the empty key is allowed', () => {
    const d = decode(b('d0:i1ee')) as BencodeDict;
    expect(d.get('')).toBe(1);
  });
});

describe('decode: integers beyond 2^53 become bigint', () => {
  test('safe range stays number', () => {
    expect(decode(b(`i${Number.MAX_SAFE_INTEGER}e`))).toBe(Number.MAX_SAFE_INTEGER);
    expect(decode(b(`i${Number.MIN_SAFE_INTEGER}e`))).toBe(Number.MIN_SAFE_INTEGER);
    expect(decode(b('i1234567890123456e'))).toBe(1234567890123456);
  });
  test('beyond is bigint, exactly', () => {
    expect(decode(b('i9007199254740992e'))).toBe(9007199254740992n);
    expect(decode(b('i-123456789012345678901234567890e'))).toBe(-123456789012345678901234567890n);
  });
  test('a length limit guards against huge literals', () => {
    expectError(`i${'1'.repeat(2000)}e`, 'INTEGER_TOO_LONG', 1);
    expect(decode(b(`i${'1'.repeat(2000)}e`), { maxIntegerDigits: 3000 })).toBe(BigInt('1'.repeat(2000)));
  });
});

describe('decode: strict rejections, each with its offset', () => {
  test.each<[string, BencodeErrorCode, number]>([
    ['', 'EMPTY', 0],
    ['i03e', 'LEADING_ZERO', 1],
    ['i-03e', 'LEADING_ZERO', 2],
    ['i00e', 'LEADING_ZERO', 1],
    ['i-0e', 'NEGATIVE_ZERO', 0],
    ['ie', 'BAD_INTEGER', 0],
    ['i-e', 'BAD_INTEGER', 0],
    ['i+3e', 'BAD_INTEGER', 1],
    ['i 3e', 'BAD_INTEGER', 1],
    ['i3.5e', 'BAD_INTEGER', 2],
    ['i3', 'TRUNCATED', 2],
    ['i', 'TRUNCATED', 1],
    ['03:abc', 'LEADING_ZERO', 0],
    ['00:', 'LEADING_ZERO', 0],
    ['5:ab', 'TRUNCATED', 0],
    ['3abc', 'BAD_LENGTH', 1],
    ['3', 'TRUNCATED', 1],
    ['99999999999999999999:a', 'TRUNCATED', 0],
    ['-3:abc', 'UNEXPECTED_BYTE', 0],
    ['x', 'UNEXPECTED_BYTE', 0],
    ['e', 'UNEXPECTED_BYTE', 0],
    ['l', 'TRUNCATED', 1],
    ['li1e', 'TRUNCATED', 4],
    ['d', 'TRUNCATED', 1],
    ['d1:a', 'TRUNCATED', 4],
    ['d1:ae', 'UNEXPECTED_BYTE', 4],
    ['d1:bi1e1:ai2ee', 'UNSORTED_KEYS', 7],
    ['d1:ai1e1:ai2ee', 'DUPLICATE_KEY', 7],
    ['d2:abi1e1:ai2ee', 'UNSORTED_KEYS', 8],
    ['di1ei2ee', 'NON_STRING_KEY', 1],
    ['dli1eei2ee', 'NON_STRING_KEY', 1],
    ['i1ei2e', 'TRAILING_BYTES', 3],
    ['4:spamx', 'TRAILING_BYTES', 6],
    ['lee', 'TRAILING_BYTES', 2],
  ])('%j → %s at %i', (input, code, offset) => {
    expectError(input, code, offset);
  });

  test('keys compare as raw bytes, not UTF-16', () => {
    // U+FFFD (EF BF BD) sorts after U+10000 (F0 90 80 80) in UTF-16 but before it in bytes.
    const ok = Buffer.concat([b('d3:'), Buffer.from([0xef, 0xbf, 0xbd]), b('i1e4:'), Buffer.from([0xf0, 0x90, 0x80, 0x80]), b('i2ee')]);
    expect((decode(ok) as BencodeDict).size).toBe(2);
    const bad = Buffer.concat([b('d4:'), Buffer.from([0xf0, 0x90, 0x80, 0x80]), b('i2e3:'), Buffer.from([0xef, 0xbf, 0xbd]), b('i1ee')]);
    expectError(bad, 'UNSORTED_KEYS');
  });

  test('nesting beyond the depth limit is refused without a stack overflow', () => {
    expectError('l'.repeat(257) + 'e'.repeat(257), 'DEPTH_EXCEEDED', 256);
    expect(() => decode(b('l'.repeat(256) + 'e'.repeat(256)))).not.toThrow();
    expectError('l'.repeat(100_000), 'DEPTH_EXCEEDED');
    expectError('d1:a'.repeat(300) + 'e', 'DEPTH_EXCEEDED');
    expect(() => decode(b('l'.repeat(10) + 'e'.repeat(10)), { maxDepth: 9 })).toThrow(BencodeError);
  });

  test('non-Uint8Array input is a TypeError', () => {
    expect(() => decode('i1e' as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('decode: lenient mode reads sloppy files', () => {
  test('accepts leading zeros, -0, unsorted and duplicate keys (last wins), trailing bytes', () => {
    expect(decode(b('i03e'), { strict: false })).toBe(3);
    expect(Object.is(decode(b('i-0e'), { strict: false }), 0)).toBe(true);
    expect(toText(decode(b('03:abc'), { strict: false }) as Uint8Array)).toBe('abc');
    const d = decode(b('d1:bi1e1:ai2e1:bi3ee'), { strict: false }) as BencodeDict;
    expect(d.get('b')).toBe(3);
    expect(d.get('a')).toBe(2);
    expect(decode(b('i1eXYZ'), { strict: false })).toBe(1);
  });
  test('still rejects truncation and bad syntax', () => {
    expectError('5:ab', 'TRUNCATED', 0, false);
    expectError('ie', 'BAD_INTEGER', 0, false);
    expectError('i+1e', 'BAD_INTEGER', 1, false);
  });
});

describe('byte exactness', () => {
  test('byte strings are views into the input, not copies', () => {
    const input = b('l3:abce');
    const [s] = decode(input) as Uint8Array[];
    expect(s!.buffer).toBe(input.buffer);
  });

  test('keys that are not UTF-8 round-trip and can be looked up by bytes', () => {
    const key = Buffer.from([0xff, 0xfe, 0x00]);
    const input = Buffer.concat([b('d1:ai1e3:'), key, b('i2ee')]);
    const d = decode(input) as BencodeDict;
    expect(d.get(key)).toBe(2);
    expect(d.get('a')).toBe(1);
    expect([...d.keys()].map((k) => Buffer.from(k).toString('hex'))).toEqual(['61', 'fffe00']);
    expect(Buffer.from(encode(d)).equals(input)).toBe(true);
  });

  test('a key that looks like our internal marker cannot collide', () => {
    // "\uD800ff" cannot come from valid UTF-8, so the text key 'ÿ'-like lookups never alias.
    const input = Buffer.concat([b('d1:'), Buffer.from([0xff]), b('i1ee')]);
    const d = decode(input) as BencodeDict;
    expect(d.get('\uFFFD')).toBeUndefined();
    expect(d.get(Buffer.from([0xff]))).toBe(1);
  });

  test('raw() and span() give the exact bytes of a value (info-hash source)', () => {
    // Even in lenient mode, where re-encoding would change the bytes, raw() returns the original.
    const input = b('d8:announce3:url4:infod6:lengthi03e4:name1:xee');
    const d = decode(input, { strict: false }) as BencodeDict;
    const raw = d.raw('info')!;
    expect(Buffer.from(raw).toString()).toBe('d6:lengthi03e4:name1:xe');
    expect(d.span('info')).toEqual({ start: 22, end: input.length - 1 });
    expect(Buffer.from(encode(d.get('info') as BencodeDict)).toString()).toBe('d6:lengthi3e4:name1:xe');
    expect(d.raw('missing')).toBeUndefined();
    d.set('info', 1);
    expect(d.raw('info')).toBeUndefined();
  });

  test('decodePrefix leaves trailing bytes to the caller', () => {
    const { value, end } = decodePrefix(b('d1:ai1eeREST'));
    expect((value as BencodeDict).get('a')).toBe(1);
    expect(end).toBe(8);
  });
});
