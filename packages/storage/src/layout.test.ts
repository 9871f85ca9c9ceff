import fc from 'fast-check';
import { StorageError } from './errors.js';
import { FileLayout, resolveUnder } from './layout.js';

const files = (lengths: number[]) => lengths.map((length, i) => ({ path: ['d', `f${i}`], length }));

describe('FileLayout', () => {
  it('splits a range across files, skipping zero-length files', () => {
    const l = new FileLayout('/r', files([0, 5, 0, 0, 3, 10, 0]), 4);
    expect(l.totalLength).toBe(18);
    expect(l.pieceCount).toBe(5);
    expect(l.pieceSize(4)).toBe(2);
    expect(l.fileAt(0)).toBe(1);
    expect(l.fileAt(5)).toBe(4);
    expect(l.fileAt(8)).toBe(5);
    expect(l.spans(3, 7)).toEqual([
      { file: 1, fileOffset: 3, position: 3, length: 2, bufferOffset: 0 },
      { file: 4, fileOffset: 0, position: 5, length: 3, bufferOffset: 2 },
      { file: 5, fileOffset: 0, position: 8, length: 2, bufferOffset: 5 },
    ]);
    expect(l.spans(18, 0)).toEqual([]);
    expect(l.piecesOfFile(5)).toEqual([2, 4]);
    expect(l.piecesOfFile(0)).toBeNull();
  });

  it('matches a linear scan on random layouts (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(40), { minLength: 1, maxLength: 12 }), fc.nat(1000), fc.nat(1000), (lengths, a, b) => {
        const l = new FileLayout('/r', files(lengths), 7);
        if (l.totalLength === 0) return;
        const pos = a % l.totalLength;
        const len = b % (l.totalLength - pos + 1);
        const owner: number[] = [];
        lengths.forEach((n, i) => {
          for (let k = 0; k < n; k++) owner.push(i);
        });
        const spans = l.spans(pos, len);
        const flat: number[] = [];
        for (const s of spans) {
          expect(s.length).toBeGreaterThan(0);
          for (let k = 0; k < s.length; k++) flat.push(s.file);
          expect(s.position - (l.starts[s.file] as number)).toBe(s.fileOffset);
        }
        expect(flat).toEqual(owner.slice(pos, pos + len));
      }),
    );
  });

  it('rejects ranges and pieces outside the torrent', () => {
    const l = new FileLayout('/r', files([10]), 4);
    expect(() => l.spans(8, 3)).toThrow(expect.objectContaining({ code: 'OUT_OF_RANGE' }));
    expect(() => l.spans(-1, 1)).toThrow(StorageError);
    expect(() => l.pieceSize(3)).toThrow(expect.objectContaining({ code: 'OUT_OF_RANGE' }));
  });

  it('refuses paths that escape the root', () => {
    for (const bad of [['..', 'x'], ['a', '..', '..', 'x'], ['/etc/passwd'], ['a/b'], ['a\\b'], [''], ['.'], [], ['x\0y']]) {
      expect(() => resolveUnder('/r', bad)).toThrow(expect.objectContaining({ code: 'PATH_ESCAPE' }));
    }
    expect(resolveUnder('/r', ['a', 'b'])).toBe('/r/a/b');
    expect(() => new FileLayout('/r', [{ path: ['..', 'evil'], length: 1 }], 4)).toThrow(expect.objectContaining({ code: 'PATH_ESCAPE' }));
  });

  it('rejects bad inputs with BAD_INPUT', () => {
    expect(() => new FileLayout('/r', files([1]), 0)).toThrow(expect.objectContaining({ code: 'BAD_INPUT' }));
    expect(() => new FileLayout('/r', [{ path: ['a'], length: -1 }], 4)).toThrow(expect.objectContaining({ code: 'BAD_INPUT' }));
    expect(() => new FileLayout('/r', [{ path: ['a'], length: 1 }, { path: ['a'], length: 2 }], 4)).toThrow(/repeats/);
    expect(() => new FileLayout('/r', [{ path: ['a'], length: 1 }, { path: ['a', 'b'], length: 2 }], 4)).toThrow(/both a file and a directory/);
  });
});
