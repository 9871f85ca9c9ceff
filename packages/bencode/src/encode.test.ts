import { BencodeDict, BencodeError, Preencoded, decode, encode } from './index.js';

const s = (v: Uint8Array): string => Buffer.from(v).toString('utf8');

describe('encode', () => {
  test('scalars', () => {
    expect(s(encode(3))).toBe('i3e');
    expect(s(encode(-3))).toBe('i-3e');
    expect(s(encode(0))).toBe('i0e');
    expect(s(encode(-0))).toBe('i0e');
    expect(s(encode(2n ** 70n))).toBe(`i${2n ** 70n}e`);
    expect(s(encode(true))).toBe('i1e');
    expect(s(encode(false))).toBe('i0e');
    expect(s(encode('spam'))).toBe('4:spam');
    expect(s(encode('é'))).toBe('2:é');
    expect(s(encode(new Uint8Array([0x61, 0x62])))).toBe('2:ab');
  });

  test('lists and dicts, keys sorted by raw bytes', () => {
    expect(s(encode(['spam', 'eggs']))).toBe('l4:spam4:eggse');
    expect(s(encode({ spam: 'eggs', cow: 'moo' }))).toBe('d3:cow3:moo4:spam4:eggse');
    expect(s(encode(new Map([['b', 1], ['a', 2]])))).toBe('d1:ai2e1:bi1ee');
    // UTF-16 order would put U+FFFD after U+10000; raw UTF-8 order puts it first.
    expect(Buffer.from(encode({ '\u{10000}': 2, '\uFFFD': 1 })).toString('hex')).toBe(
      Buffer.from('d3:\uFFFDi1e4:\u{10000}i2ee').toString('hex'),
    );
  });

  test('undefined properties are left out; null, floats and class instances are refused', () => {
    expect(s(encode({ a: 1, b: undefined }))).toBe('d1:ai1ee');
    for (const bad of [null, 1.5, NaN, Infinity, Symbol('x'), () => 1, new Date(), undefined]) {
      expect(() => encode(bad as never)).toThrow(BencodeError);
    }
    expect(() => encode(new Map<unknown, number>([[1, 1]]) as never)).toThrow(/dictionary key/);
  });

  test('a map with the same key as text and bytes is refused', () => {
    const m = new Map<string | Uint8Array, number>([['a', 1], [Buffer.from('a'), 2]]);
    expect(() => encode(m)).toThrow(/duplicate key/);
  });

  test('cyclic structures fail cleanly', () => {
    const a: unknown[] = [];
    a.push(a);
    expect(() => encode(a as never)).toThrow(BencodeError);
  });

  test('Preencoded is emitted verbatim', () => {
    expect(s(encode({ info: new Preencoded(Buffer.from('d1:xi03ee')) }))).toBe('d4:infod1:xi03eee');
  });

  test('BencodeDict built by hand encodes sorted', () => {
    const d = new BencodeDict([['z', 1], ['a', [1, Buffer.from('x')]]]);
    expect(s(encode(d))).toBe('d1:ali1e1:xe1:zi1ee');
  });

  test('large output grows the buffer correctly', () => {
    const big = new Uint8Array(3_000_000).fill(7);
    const out = encode([big, big]);
    const back = decode(out) as Uint8Array[];
    expect(back[1]!.length).toBe(3_000_000);
    expect(back[1]![2_999_999]).toBe(7);
  });
});
