import { Emitter } from './emitter.js';
import { nextMicrotaskError } from './microtask.testutil.js';

interface Events {
  a: (n: number) => void;
  b: (s: string) => void;
}

class Source extends Emitter<Events> {
  fire<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    this.emit(event, ...args);
  }
}

describe('Emitter (the compact listener list)', () => {
  it('calls the listeners of an event in the order added, each once however often it was added', () => {
    const s = new Source();
    const log: string[] = [];
    const one = (n: number): void => void log.push(`one ${n}`);
    s.on('a', one);
    s.on('b', (t) => log.push(`b ${t}`));
    s.on('a', (n) => log.push(`two ${n}`));
    s.on('a', one);
    s.fire('a', 1);
    s.fire('b', 'x');
    expect(log).toEqual(['one 1', 'two 1', 'b x']);
  });

  it('off() and the function on() returns remove one listener; the others stay', () => {
    const s = new Source();
    const log: number[] = [];
    const off1 = s.on('a', (n) => log.push(n));
    const second = (n: number): void => void log.push(n * 10);
    s.on('a', second);
    off1();
    s.fire('a', 1);
    s.off('a', second);
    s.fire('a', 2);
    off1(); // twice: nothing
    expect(log).toEqual([10]);
  });

  it('an emit reaches the listeners there when it began: one removed or added by a listener meanwhile is not skipped or called', () => {
    const s = new Source();
    const log: string[] = [];
    const late = (): void => void log.push('late');
    let offSecond = (): void => undefined;
    s.on('a', () => {
      log.push('first');
      offSecond();
      s.on('a', late);
    });
    offSecond = s.on('a', () => log.push('second'));
    s.fire('a', 0);
    expect(log).toEqual(['first', 'second']);
    s.fire('a', 0);
    expect(log).toEqual(['first', 'second', 'first', 'late']);
  });

  it('a throwing listener does not stop the others; its error surfaces outside the emit', async () => {
    const s = new Source();
    const log: number[] = [];
    const thrown = nextMicrotaskError();
    s.on('a', () => {
      throw new Error('listener bug');
    });
    s.on('a', (n) => log.push(n));
    s.fire('a', 5);
    expect(log).toEqual([5]);
    expect(await thrown).toEqual(new Error('listener bug'));
    jest.restoreAllMocks();
  });
});
