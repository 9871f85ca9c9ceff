import { BufferPool } from './buffer-pool.js';

describe('BufferPool', () => {
  it('hands back a given buffer instead of allocating', () => {
    const pool = new BufferPool(1024, 2);
    const a = pool.take();
    expect(a.length).toBe(1024);
    pool.give(a);
    expect(pool.idle).toBe(1);
    expect(pool.take()).toBe(a);
    expect(pool.idle).toBe(0);
  });

  it('keeps at most maxFree idle buffers and ignores buffers of another size', () => {
    const pool = new BufferPool(16, 2);
    const bufs = [pool.take(), pool.take(), pool.take()];
    for (const b of bufs) pool.give(b);
    pool.give(Buffer.alloc(8));
    expect(pool.idle).toBe(2);
    pool.clear();
    expect(pool.idle).toBe(0);
    expect(bufs).not.toContain(pool.take());
  });
});
