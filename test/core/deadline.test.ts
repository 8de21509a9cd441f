import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deadline, isDeadlineAbort, withDeadline } from '../../src/core/deadline.ts';
import { TimeoutError } from '../../src/core/errors.ts';

describe('deadline', () => {
  it('aborts after its time with a TimeoutError naming the work, and says it expired', async () => {
    const d = deadline(5, [], 'model request');
    await new Promise((r) => d.signal.addEventListener('abort', r, { once: true }));
    assert.equal(d.expired, true);
    assert.ok(d.signal.reason instanceof TimeoutError);
    assert.match((d.signal.reason as Error).message, /^model request timed out after 5 ms$/);
    assert.equal(isDeadlineAbort(d.signal), true);
    assert.equal(d.remainingMs(), 0);
  });

  it('aborts with the reason of the first parent that aborts, skipping undefined', () => {
    const a = new AbortController();
    const d = deadline(60_000, [undefined, a.signal]);
    assert.equal(d.signal.aborted, false);
    a.abort('bye');
    assert.equal(d.signal.aborted, true);
    assert.equal(d.signal.reason, 'bye');
    assert.equal(d.expired, false);
    assert.equal(isDeadlineAbort(d.signal), false);
  });

  it('without a time bound only links the parents, and starts aborted under an aborted parent', () => {
    const a = new AbortController();
    const b = new AbortController();
    const d = deadline(undefined, [a.signal, b.signal]);
    assert.equal(d.remainingMs(), Number.POSITIVE_INFINITY);
    b.abort();
    assert.equal(d.signal.aborted, true);
    assert.equal(deadline(10, [AbortSignal.abort('early')]).signal.reason, 'early');
  });

  it('clear() stops the timer and unlinks the parents', async () => {
    const a = new AbortController();
    const d = deadline(1, [a.signal]);
    d.clear();
    await new Promise((r) => setTimeout(r, 20));
    a.abort();
    assert.equal(d.signal.aborted, false);
  });

  it('withDeadline passes the signal and clears it when the work settles', async () => {
    let seen: AbortSignal | undefined;
    assert.equal(
      await withDeadline(60_000, [], 'work', async (signal) => {
        seen = signal;
        return 7;
      }),
      7,
    );
    assert.equal(seen?.aborted, false);
  });
});
