import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay, deferred, parseRetryAfter, retry, sleep } from '../../src/core/async.ts';
import { AbortedError, MarshalError } from '../../src/core/errors.ts';

describe('sleep', () => {
  it('resolves after the delay', async () => {
    assert.equal(await sleep(1), undefined);
  });

  it('rejects with AbortedError carrying the reason, and does not keep the loop alive', async () => {
    const ac = new AbortController();
    const reason = new Error('stop now');
    // A long sleep: if abort did not clear its timer the test process would hang past the runner.
    const p = sleep(10 * 60_000, { signal: ac.signal });
    ac.abort(reason);
    const err = await p.catch((e: unknown) => e);
    assert.ok(err instanceof AbortedError);
    assert.equal(err.cause, reason);
  });

  it('rejects at once when the signal is already aborted', async () => {
    await assert.rejects(sleep(10, { signal: AbortSignal.abort('x') }), AbortedError);
  });
});

describe('deferred', () => {
  it('resolves and rejects from outside', async () => {
    const d = deferred<number>();
    d.resolve(7);
    assert.equal(await d.promise, 7);
    const e = deferred<number>();
    e.reject(new Error('no'));
    await assert.rejects(e.promise, /no/);
  });
});

describe('backoffDelay', () => {
  it('is random() * min(max, base * 2^attempt)', () => {
    const half = () => 0.5;
    assert.equal(backoffDelay(0, { baseDelayMs: 100, maxDelayMs: 1000, random: half }), 50);
    assert.equal(backoffDelay(2, { baseDelayMs: 100, maxDelayMs: 1000, random: half }), 200);
    assert.equal(backoffDelay(10, { baseDelayMs: 100, maxDelayMs: 1000, random: half }), 500);
    assert.equal(backoffDelay(3, { baseDelayMs: 100, maxDelayMs: 1000, random: () => 0 }), 0);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  it('parses seconds', () => {
    assert.equal(parseRetryAfter('3', now), 3000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
  });
  it('parses an HTTP-date relative to now; past dates give 0', () => {
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now), 5000);
    assert.equal(parseRetryAfter('Wed, 31 Dec 2025 23:59:00 GMT', now), 0);
  });
  it('returns undefined for missing or garbage values', () => {
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
    assert.equal(parseRetryAfter('', now), undefined);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter('-5', now), undefined);
    assert.equal(parseRetryAfter('12-13', now), undefined);
  });
});

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly retryAfter?: number,
  ) {
    super(`http ${status}`);
  }
}

describe('retry', () => {
  it('retries until success, with full-jitter backoff delays', async () => {
    const delays: number[] = [];
    const attempts: number[] = [];
    const value = await retry(
      async (attempt) => {
        attempts.push(attempt);
        if (attempt < 3) throw new Error(`fail ${attempt}`);
        return 'done';
      },
      {
        retries: 5,
        baseDelayMs: 2,
        maxDelayMs: 10,
        random: () => 0.5,
        onRetry: (i) => delays.push(i.delayMs),
      },
    );
    assert.equal(value, 'done');
    assert.deepEqual(attempts, [0, 1, 2, 3]);
    assert.deepEqual(delays, [1, 2, 4]);
  });

  it('rethrows the last error when retries run out', async () => {
    let calls = 0;
    await assert.rejects(
      retry(
        async (attempt) => {
          calls++;
          throw new Error(`fail ${attempt}`);
        },
        { retries: 2, baseDelayMs: 1, random: () => 0 },
      ),
      /fail 2/,
    );
    assert.equal(calls, 3);
  });

  it('stops at once when shouldRetry says no', async () => {
    let calls = 0;
    const fn = async (): Promise<never> => {
      calls++;
      throw new HttpError(400);
    };
    const shouldRetry = (e: unknown) => e instanceof HttpError && e.status >= 500;
    await assert.rejects(retry(fn, { retries: 5, shouldRetry }), /http 400/);
    assert.equal(calls, 1);
  });

  it('honours Retry-After over the backoff, capped by maxRetryAfterMs', async () => {
    const delays: number[] = [];
    const errors = [new HttpError(429, 7), new HttpError(429, 999_999), new HttpError(503)];
    await retry(
      async (attempt) => {
        const e = errors[attempt];
        if (e) throw e;
        return 1;
      },
      {
        retries: 3,
        baseDelayMs: 4,
        random: () => 0.25,
        retryAfterMs: (e) => (e instanceof HttpError ? e.retryAfter : undefined),
        maxRetryAfterMs: 20,
        onRetry: (i) => delays.push(i.delayMs),
      },
    );
    // 7 (server value, above the jittered backoff), 20 (capped), 4 * 2^2 * 0.25 = 4 (no header).
    assert.deepEqual(delays, [7, 20, 4]);
  });

  it('an abort interrupts the wait between attempts', async () => {
    const ac = new AbortController();
    let calls = 0;
    const p = retry(
      async () => {
        calls++;
        throw new Error('down');
      },
      {
        retries: 3,
        baseDelayMs: 60_000,
        random: () => 1,
        signal: ac.signal,
        onRetry: () => ac.abort(new Error('user')),
      },
    );
    const err = await p.catch((e: unknown) => e);
    assert.ok(err instanceof AbortedError, String(err));
    assert.equal(calls, 1);
  });

  it('passes the signal to fn and does not retry after abort', async () => {
    const ac = new AbortController();
    let seen: AbortSignal | undefined;
    const p = retry(
      async (_a, signal) => {
        seen = signal;
        ac.abort();
        throw new Error('aborted inside');
      },
      { retries: 3, baseDelayMs: 1, signal: ac.signal },
    );
    await assert.rejects(p, AbortedError);
    assert.equal(seen, ac.signal);
  });

  it('rejects a bad retries value naming the field', async () => {
    const err = await retry(async () => 1, { retries: -1 }).catch((e: unknown) => e);
    assert.ok(err instanceof MarshalError);
    assert.equal(err.code, 'E_INVALID_INPUT');
    assert.match(err.message, /retries/);
  });
});
