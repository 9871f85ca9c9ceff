import { Writable } from 'node:stream';
import { Progress, wrap } from './progress.js';

/** A stream that keeps what is written to it; `isTTY` as asked. */
function capture(isTTY: boolean, columns = 100): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(stream, { isTTY, columns, rows: 24 });
  return { stream, text: () => chunks.join('') };
}

describe('Progress', () => {
  it('writes plain percent lines off a terminal, at most one per interval, and a final line', async () => {
    const out = capture(false);
    const progress = await Progress.open({ stream: out.stream, plainInterval: 3600 });
    progress.update(0.25, 'first');
    progress.update(0.5, 'second'); // within the interval: not written
    progress.done('finished');
    expect(out.text()).toBe('[ 25.0%] first\nfinished\n');
  });

  it('draws a redrawn bar on a terminal', async () => {
    const out = capture(true);
    const progress = await Progress.open({ stream: out.stream });
    progress.update(0.5, 'halfway');
    progress.done('finished');
    const text = out.text();
    expect(text).toContain('50% halfway');
    expect(text).toContain('============------------ 50% halfway'); // the bar itself, not a plain line
    expect(text).not.toContain('[ 50.0%]');
    expect(text.endsWith('finished\n')).toBe(true);
  });

  it('tty: false forces plain lines even on a terminal', async () => {
    const out = capture(true);
    const progress = await Progress.open({ stream: out.stream, tty: false });
    progress.update(1, 'all');
    progress.done();
    expect(out.text()).toBe('[100.0%] all\nall\n');
  });
});

describe('Progress on a terminal: notes under the bar, wrapped, never cut off', () => {
  it('wraps at spaces one column short of the edge; a word longer than a row is cut where it must', () => {
    expect(wrap('tracker http://127.0.0.1:1/announce: connection refused; retrying in 26s', 40)).toEqual([
      'tracker http://127.0.0.1:1/announce:',
      'connection refused; retrying in 26s',
    ]);
    expect(wrap('x'.repeat(25), 10)).toEqual(['xxxxxxxxxx', 'xxxxxxxxxx', 'xxxxx']);
  });

  it('redraws bar and notes in place: back to the first row, clear, draw again', async () => {
    const out = capture(true, 41);
    const progress = await Progress.open({ stream: out.stream });
    progress.update(0, 'peers 0', ['tracker http://127.0.0.1:1/announce: connection refused; retrying in 26s']);
    progress.update(0, 'peers 0', ['tracker http://127.0.0.1:1/announce: connection refused; retrying in 25s']);
    const frames = out.text().split('\r\x1b[2A\x1b[J');
    expect(frames).toHaveLength(2);
    expect(frames[1]).toBe('------------------------ 0% peers 0\ntracker http://127.0.0.1:1/announce:\nconnection refused; retrying in 25s');
  });

  it('log() prints above the live display; done() replaces it with one final line', async () => {
    const out = capture(true);
    const progress = await Progress.open({ stream: out.stream });
    progress.update(1, 'seeding 57.2MiB peers 0', ['a note']);
    progress.log('metadata: movie.bin');
    progress.done('done: movie.bin');
    expect(out.text()).toBe(
      [
        '======================== 100% seeding 57.2MiB peers 0\na note',
        '\r\x1b[1A\x1b[Jmetadata: movie.bin\n',
        '======================== 100% seeding 57.2MiB peers 0\na note',
        '\r\x1b[1A\x1b[Jdone: movie.bin\n',
      ].join(''),
    );
  });
});
