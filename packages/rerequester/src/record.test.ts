import { keptError, TrackerRecord } from './record.js';

describe('TrackerRecord', () => {
  it('gives back clock times with fractions of a ms to the ms, however often the base moves', () => {
    const r = new TrackerRecord('http://t/announce');
    const t0 = 1_765_000_000_000.37;
    r.scraped(t0 - 5.5, t0, { seeders: 1, leechers: 2, downloaded: 3 }); // before any announce
    r.started(t0 + 10.2);
    r.succeeded(t0 + 60.9, 4, 5, 6);
    // A tracker failing every 30 s for a day: the base moves 2,880 times.
    let now = t0 + 60.9;
    for (let i = 0; i < 2880; i++) {
      now += 30_000.123;
      r.started(now);
      r.failed(now + 0.7, keptError('TIMEOUT', 'no reply'));
    }
    const s = r.status(0);
    expect(Math.abs(s.lastAnnounceAt! - (t0 + 60.9))).toBeLessThanOrEqual(1);
    expect(Math.abs(s.lastAnnounceStartAt! - now)).toBeLessThanOrEqual(0.5);
    expect(Math.abs(s.lastError!.at - (now + 0.7))).toBeLessThanOrEqual(1);
    expect(s.lastScrape!.result).toEqual({ seeders: 1, leechers: 2, downloaded: 3 });
    expect(Math.abs(s.lastScrape!.at - t0)).toBeLessThanOrEqual(1);
    expect(Math.abs(s.lastScrape!.startAt - (t0 - 5.5))).toBeLessThanOrEqual(1);
    expect(s).toMatchObject({ state: 'failed', failures: 2880, lastPeers: 4, seeders: 5, leechers: 6, lastError: { code: 'TIMEOUT', message: 'no reply' } });
  });

  it('keeps one shared copy of a failure per code and text', () => {
    const text = ['connect ', 'ECONNREFUSED', ' 127.0.0.1:', String(1)].join('');
    expect(keptError('NETWORK', text)).toBe(keptError('NETWORK', `connect ECONNREFUSED 127.0.0.1:${1}`));
    expect(keptError('NETWORK', text)).not.toBe(keptError('TIMEOUT', text));
  });
});
