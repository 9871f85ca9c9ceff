// @mainline/rate RateMeasure against npm `speedometer` (webtorrent's per-wire speed meter), both on
// a 20 s window with the real clock. Ratios are of times: below 1 means ours is faster.
import speedometer from 'speedometer';
import { RateMeasure } from '@mainline/rate';
import { compareOps, ratio } from './timing.mjs';

const CALLS = 10_000;

function report(name, ours, theirs) {
  const r = compareOps(ours, theirs);
  console.log(`  ${name}: ours ${(r.ours * CALLS).toFixed(0)} calls/s, speedometer ${(r.theirs * CALLS).toFixed(0)} calls/s`);
  ratio(`ours/speedometer ${name} time`, 1 / r.ours, 1 / r.theirs);
}

export async function run() {
  const ours = new RateMeasure({ maxRatePeriodMs: 20_000 });
  const theirs = speedometer(20);
  let sink = 0;
  report(
    'update(16 KiB)',
    () => {
      for (let i = 0; i < CALLS; i++) ours.update(16_384);
    },
    () => {
      for (let i = 0; i < CALLS; i++) sink += theirs(16_384);
    },
  );
  report(
    'read rate',
    () => {
      for (let i = 0; i < CALLS; i++) sink += ours.rate();
    },
    () => {
      for (let i = 0; i < CALLS; i++) sink += theirs();
    },
  );
  if (sink === -1) console.log('unreachable');
}
