import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { HashPool, hashPieces } from './hashpool.js';

const L = 64 * 1024;

function job(pool: HashPool, seed: Buffer): Promise<boolean> {
  const data = Buffer.from(seed); // its own ArrayBuffer, moved to the thread
  const want = createHash('sha1').update(seed).digest();
  return pool.hash(data.buffer, L, L).then((r) => Buffer.from(r.digests).equals(want) && r.buffer.byteLength === L);
}

describe('HashPool', () => {
  const seeds = Array.from({ length: 12 }, () => randomBytes(L));

  it('starts another thread only when every running one has growAtBytes waiting, up to its size', async () => {
    const pool = new HashPool(2, { growAtBytes: 3 * L });
    try {
      expect(pool.threads).toBe(0); // nothing started before the first job
      // Work queued while the first thread boots and warms up (32 jobs) does not count as load.
      for (let round = 0; round < 3; round++) {
        const warmUp = seeds.map((s) => job(pool, s));
        expect(pool.threads).toBe(1);
        expect(await Promise.all(warmUp)).toEqual(seeds.map(() => true));
      }
      const results = [job(pool, seeds[0]!), job(pool, seeds[1]!), job(pool, seeds[2]!)];
      expect(pool.threads).toBe(1); // 1, then 2 and 3 jobs waiting on the one thread: below 3·L
      results.push(job(pool, seeds[3]!));
      expect(pool.threads).toBe(2); // it had 3·L waiting
      for (const s of seeds.slice(4)) results.push(job(pool, s));
      expect(pool.threads).toBe(2); // never more than the size
      expect(await Promise.all(results)).toEqual(seeds.map(() => true));
      // Once idle, new work goes to a running thread.
      expect(await job(pool, seeds[0]!)).toBe(true);
      expect(pool.threads).toBe(2);
    } finally {
      await pool.close();
    }
  });

  it('by default a thread starts whenever all running ones are busy', async () => {
    const pool = new HashPool(3);
    try {
      const results = [job(pool, seeds[0]!), job(pool, seeds[1]!)];
      expect(pool.threads).toBe(2);
      expect(await Promise.all(results)).toEqual([true, true]);
      expect(await job(pool, seeds[2]!)).toBe(true);
      expect(pool.threads).toBe(2);
    } finally {
      await pool.close();
    }
  });

  it('size 0 hashes on the calling thread; a closed pool refuses work', async () => {
    const inline = new HashPool(0);
    expect(await job(inline, seeds[0]!)).toBe(true);
    expect(inline.threads).toBe(0);
    const pool = new HashPool(1);
    expect(await job(pool, seeds[1]!)).toBe(true);
    await pool.close();
    await expect(job(pool, seeds[2]!)).rejects.toThrow('closed');
  });

  it('prestart() starts the first thread before any work, once', async () => {
    const pool = new HashPool(2, { growAtBytes: 3 * L });
    try {
      pool.prestart();
      expect(pool.threads).toBe(1);
      pool.prestart();
      expect(pool.threads).toBe(1); // never a second one: growing is the load's business
      expect(await job(pool, seeds[0]!)).toBe(true);
      expect(pool.threads).toBe(1); // the job went to the prestarted thread
    } finally {
      await pool.close();
    }
    pool.prestart();
    expect(pool.threads).toBe(0); // closed: nothing starts
    const inline = new HashPool(0);
    inline.prestart();
    expect(inline.threads).toBe(0);
  });

  it('an idle thread does not keep the process alive, after a job or started with none', () => {
    // A user's script, started with --input-type=module (the thread's own source then runs as an
    // ES module) and a V8 flag (which a thread must not be handed explicitly): the job must
    // finish, and then the idle thread must not hold the process open (the spawn would time out).
    // A thread started ahead (prestart) and never given a job must not hold it open either.
    const run = (lines: string[]) => {
      const script = ["import { HashPool } from '@mainline/storage';", 'const pool = new HashPool(1);', 'pool.prestart();', ...lines].join('\n');
      const packageDir = dirname(__dirname); // the package's own name resolves to its built entry
      return spawnSync(process.execPath, ['--max-old-space-size=256', '--input-type=module', '-e', script], { cwd: packageDir, encoding: 'utf8', timeout: 20_000 });
    };
    const hashed = run([
      'const data = new Uint8Array(65536);',
      'const r = await pool.hash(data.buffer, data.length, data.length);',
      'console.log(`hashed ${r.digests.length}`);', // a string: FORCE_COLOR (set by nx) would colour a number
    ]);
    expect(hashed.stderr).toBe('');
    expect(hashed.stdout).toBe('hashed 20\n');
    expect(hashed.status).toBe(0);
    const idle = run(['console.log(`threads ${pool.threads}`);']);
    expect(idle.stderr).toBe('');
    expect(idle.stdout).toBe('threads 1\n');
    expect(idle.status).toBe(0); // null if the spawn timed out
  });

  it('hashPieces hashes each piece of a buffer, the last one short', () => {
    const data = randomBytes(2 * L + 100);
    const d = hashPieces(data, data.length, L);
    expect(d).toHaveLength(60);
    expect(Buffer.from(d.subarray(40)).equals(createHash('sha1').update(data.subarray(2 * L)).digest())).toBe(true);
  });
});
