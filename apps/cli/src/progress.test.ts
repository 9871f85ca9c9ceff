import { Writable } from 'node:stream';
import { Progress } from './progress.js';

/** A stream that keeps what is written to it; `isTTY` as asked. */
function capture(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(stream, { isTTY, columns: 100 });
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
