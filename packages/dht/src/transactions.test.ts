import { ManualClock } from '@mainline/rate';
import type { Response } from './krpc.js';
import { Transactions, type QueryOutcome } from './transactions.js';

const response = (t: Uint8Array): Response => ({ kind: 'response', t, id: new Uint8Array(20) });

test('an answer matches only its transaction id from the address we asked; late answers are not matched', () => {
  const clock = new ManualClock();
  const tx = new Transactions(clock, 10);
  const outcomes: QueryOutcome[] = [];
  const to = { host: '10.0.0.1', port: 6881 };
  const t = tx.open(to, 1000, (o) => outcomes.push(o))!;
  expect(t).toHaveLength(2);
  expect(tx.answer(t, { host: '10.0.0.2', port: 6881 }, { ok: true, response: response(t) })).toBe(false);
  expect(tx.answer(t, { host: '10.0.0.1', port: 6882 }, { ok: true, response: response(t) })).toBe(false);
  expect(tx.answer(Uint8Array.of(t[0]!, t[1]! ^ 1), to, { ok: true, response: response(t) })).toBe(false);
  expect(tx.answer(Uint8Array.of(1, 2, 3), to, { ok: true, response: response(t) })).toBe(false);
  expect(tx.answer(t, to, { ok: true, response: response(t) })).toBe(true);
  expect(outcomes).toHaveLength(1);
  expect(tx.answer(t, to, { ok: true, response: response(t) })).toBe(false); // once

  const t2 = tx.open(to, 1000, (o) => outcomes.push(o))!;
  clock.advance(1000);
  expect(outcomes[1]).toEqual({ ok: false, reason: 'timeout' });
  expect(tx.answer(t2, to, { ok: true, response: response(t2) })).toBe(false);
  expect(tx.size).toBe(0);
});

test('at most maxPending are open; closeAll fails the rest; ids are distinct while open', () => {
  const clock = new ManualClock();
  const tx = new Transactions(clock, 3);
  const outcomes: string[] = [];
  const ids = new Set<string>();
  for (let i = 0; i < 4; i++) {
    const t = tx.open({ host: '10.0.0.1', port: 1 }, 1000, (o) => outcomes.push(o.ok ? 'ok' : o.reason));
    if (t) ids.add(Buffer.from(t).toString('hex'));
  }
  expect(ids.size).toBe(3);
  expect(outcomes).toEqual(['overloaded']);
  tx.closeAll();
  expect(outcomes).toEqual(['overloaded', 'closed', 'closed', 'closed']);
  expect(clock.pendingTimers).toBe(0);
});
