import { EtaEstimator, ManualClock, RateMeasure, RecentRate, TokenBucket, UPLOAD_RATE_FUDGE_MS } from '@mainline/rate';

// Every time-based part takes a Clock; a ManualClock makes the numbers exact (omit it: systemClock).
const clock = new ManualClock();

// mainline's rate measure: bytes/s over a sliding window, decaying while idle.
const up = new RateMeasure({ clock, fudgeMs: UPLOAD_RATE_FUDGE_MS });
up.update(16_384); // bytes just sent
clock.advance(1000);
console.log(up.rate().toFixed(1), up.total);

// What a progress line shows: the last 2 s only, read from a running counter on each redraw.
const shown = new RecentRate({ clock });
shown.observe(0);
clock.advance(1000);
shown.observe(3_000_000); // 3 MB arrived in the last second
console.log(Math.round(shown.rate()), 'B/s shown');

// Time left for a download of 1 MB at what came in so far.
const eta = new EtaEstimator({ clock, left: 1_000_000 });
for (let s = 0; s < 10; s++) {
  eta.dataCameIn(50_000);
  clock.advance(1000);
}
console.log(Math.round(eta.timeLeft() / 1000), 's left');

// A token bucket shared by connections: 32 KiB/s, FIFO, the callback runs when the bytes may go.
const limit = new TokenBucket({ clock, rate: 32 * 1024 });
const sent = [];
const start = clock.now();
for (const peer of ['a', 'b', 'c']) limit.take(16_384, () => sent.push(`${peer}@${clock.now() - start}ms`));
clock.advance(1000);
console.log(sent.join(' '));
const ticket = limit.take(16_384, () => sent.push('never'));
ticket.cancel(); // the connection closed before its turn
clock.advance(1000);
console.log(sent.length);
