import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  aimdDecrease,
  aimdIncrease,
  EndpointLimiter,
  endpointLimiter,
  MAX_PAUSE_MS,
} from '../../src/agents/providers/endpoint-limiter.ts';
import { retryAfterFromHeaders } from '../../src/agents/providers/http-error.ts';
import { createOpenAICompatibleModel } from '../../src/agents/providers/openai-compatible.ts';
import { deadline } from '../../src/core/deadline.ts';
import { startFakeOpenAIServer } from '../../src/testing/index.ts';

/** Settles `p` or reports it as still pending after the microtask queue drained. */
async function state<T>(p: Promise<T>): Promise<'pending' | 'resolved' | 'rejected'> {
  let s: 'pending' | 'resolved' | 'rejected' = 'pending';
  p.then(
    () => {
      s = 'resolved';
    },
    () => {
      s = 'rejected';
    },
  );
  await new Promise((r) => setImmediate(r));
  return s;
}

describe('AIMD arithmetic', () => {
  it('a 429 halves the window, or the requests in flight when there is no cap yet', () => {
    assert.equal(aimdDecrease(16, 16), 8);
    assert.equal(aimdDecrease(16, 3), 1); // min(window, in flight) / 2, floored
    assert.equal(aimdDecrease(Number.POSITIVE_INFINITY, 32), 16);
    assert.equal(aimdDecrease(1, 1), 1); // never below one request at a time
    assert.equal(aimdDecrease(3, 9), 1);
  });
  it('a success adds 1/window, up to the cap', () => {
    assert.equal(aimdIncrease(4, 64), 4.25);
    assert.equal(aimdIncrease(1, 64), 2);
    assert.equal(aimdIncrease(8, 8), 8);
    assert.equal(aimdIncrease(7.9, 8), 8);
    assert.equal(aimdIncrease(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY), Number.POSITIVE_INFINITY);
    // One window of successes grows it by about one slot.
    let w = 8;
    for (let i = 0; i < 8; i++) w = aimdIncrease(w, 100);
    assert.equal(w, 9);
  });
});

describe('EndpointLimiter', () => {
  it('holds requests above the cap in FIFO order and starts them as slots free', async () => {
    const limiter = new EndpointLimiter({ cap: 2 });
    const a = await limiter.acquire();
    const b = await limiter.acquire();
    const c = limiter.acquire();
    const d = limiter.acquire();
    assert.equal(await state(c), 'pending');
    assert.equal(limiter.snapshot().queued, 2);
    a.release('ok');
    assert.equal(await state(c), 'resolved');
    assert.equal(await state(d), 'pending');
    b.release('other');
    b.release('ok'); // a second release is ignored
    assert.equal(await state(d), 'resolved');
    assert.equal(limiter.snapshot().inFlight, 2);
  });

  it('one congestion event halves the window once, however many 429s it produces', async () => {
    const limiter = new EndpointLimiter();
    const slots = await Promise.all(Array.from({ length: 32 }, () => limiter.acquire()));
    for (const s of slots.slice(0, 24)) s.release('throttled');
    let snap = limiter.snapshot();
    assert.equal(snap.window, 16);
    assert.equal(snap.decreases, 1);
    assert.equal(snap.throttled, 24);
    // A request sent after the decrease that is throttled again halves it again.
    const late = await limiter.acquire();
    late.release('throttled');
    snap = limiter.snapshot();
    assert.equal(snap.window, 4); // min(16, 9 in flight) / 2
    for (const s of slots.slice(24)) s.release('ok');
    assert.ok(limiter.snapshot().window > 4, 'successes raise it again');
  });

  it('Retry-After pauses every new request to the endpoint, bounded by MAX_PAUSE_MS', async () => {
    let now = 1_000;
    const limiter = new EndpointLimiter({ now: () => now });
    const s = await limiter.acquire();
    s.release('throttled', 10 * MAX_PAUSE_MS);
    assert.equal(limiter.snapshot().pausedForMs, MAX_PAUSE_MS);
    const first = new AbortController();
    const waiting = limiter.acquire(first.signal);
    assert.equal(await state(waiting), 'pending');
    now += MAX_PAUSE_MS;
    const again = new EndpointLimiter({ now: () => now });
    assert.equal(await state(again.acquire()), 'resolved');
    // The real timer of the paused limiter: end the wait by abort instead of waiting a minute.
    const ac = new AbortController();
    const aborted = limiter.acquire(ac.signal);
    ac.abort();
    await assert.rejects(aborted, { code: 'E_ABORTED' });
    assert.equal(limiter.snapshot().queued, 1);
    first.abort(); // the last waiter gone, the pause timer goes too (this test would last a minute)
    await assert.rejects(waiting, { code: 'E_ABORTED' });
  });

  it('a short pause ends by itself', async () => {
    const limiter = new EndpointLimiter();
    const s = await limiter.acquire();
    s.release('throttled', 30);
    assert.ok(limiter.snapshot().pausedForMs > 0);
    const d = deadline(10_000, [], 'the pause');
    try {
      const slot = await limiter.acquire(d.signal);
      slot.release('ok');
    } finally {
      d.clear();
    }
  });

  it('an aborted waiter leaves the queue', async () => {
    const limiter = new EndpointLimiter({ cap: 1 });
    const held = await limiter.acquire();
    const ac = new AbortController();
    const w = limiter.acquire(ac.signal);
    ac.abort();
    await assert.rejects(w, { code: 'E_ABORTED' });
    assert.equal(limiter.snapshot().queued, 0);
    held.release('ok');
    assert.equal(limiter.snapshot().inFlight, 0);
  });

  it('one limiter per base URL in the process; the last cap wins and the learnt window stays', async () => {
    const a = endpointLimiter('http://127.0.0.1:1/v1', 8);
    const b = endpointLimiter('http://127.0.0.1:1/v1/');
    assert.equal(a, b);
    assert.equal(b.snapshot().cap, Number.POSITIVE_INFINITY);
    assert.equal(b.snapshot().window, 8);
    assert.notEqual(endpointLimiter('http://127.0.0.1:2/v1'), a);
  });
});

describe('Retry-After headers', () => {
  it('retry-after-ms wins, then delta seconds, then an HTTP-date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(
      retryAfterFromHeaders(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' }), now),
      250,
    );
    assert.equal(retryAfterFromHeaders(new Headers({ 'retry-after': '2' }), now), 2000);
    assert.equal(
      retryAfterFromHeaders(new Headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }), now),
      3000,
    );
    assert.equal(
      retryAfterFromHeaders(new Headers({ 'retry-after-ms': 'soon', 'retry-after': '1' }), now),
      1000,
    );
    assert.equal(retryAfterFromHeaders(new Headers({}), now), undefined);
  });
});

describe('the provider behind the limiter', () => {
  it('retries 408 like a 5xx and honours retry-after-ms', async () => {
    const server = await startFakeOpenAIServer([
      { status: 408 },
      { status: 429, headers: { 'retry-after-ms': '20' } },
      { content: 'ok' },
    ]);
    try {
      const delays: number[] = [];
      const model = createOpenAICompatibleModel({
        baseUrl: server.url,
        retries: 2,
        baseDelayMs: 1,
        onRetry: (i) => delays.push(i.delayMs),
      });
      const r = await model.chat({ model: 'm', messages: [{ role: 'user', content: 'q' }] });
      assert.equal(r.content, 'ok');
      assert.equal(server.chatRequests().length, 3);
      assert.equal(delays[1], 20);
    } finally {
      await server.close();
    }
  });

  it('--concurrency caps the requests in flight of every model of the endpoint', async () => {
    const server = await startFakeOpenAIServer(() => ({ content: 'x', delayMs: 30 }));
    try {
      const m1 = createOpenAICompatibleModel({ baseUrl: server.url, maxConcurrency: 3 });
      const m2 = createOpenAICompatibleModel({ baseUrl: server.url, maxConcurrency: 3 });
      await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          (i % 2 ? m1 : m2).chat({ model: 'm', messages: [{ role: 'user', content: `q${i}` }] }),
        ),
      );
      assert.equal(server.maxInFlight, 3);
    } finally {
      await server.close();
    }
  });

  it('a server that throttles above 8 in flight: 32 parallel calls all succeed', async () => {
    const server = await startFakeOpenAIServer(() => ({ content: 'x', delayMs: 50 }), { throttleAbove: 8 });
    try {
      const model = createOpenAICompatibleModel({ baseUrl: server.url, retries: 3, baseDelayMs: 20 });
      const results = await Promise.allSettled(
        Array.from({ length: 32 }, (_, i) =>
          model.chat({ model: 'm', messages: [{ role: 'user', content: `q${i}` }] }),
        ),
      );
      assert.deepEqual(
        results
          .filter((r) => r.status === 'rejected')
          .map((r) => String((r as PromiseRejectedResult).reason)),
        [],
      );
      assert.ok(server.throttled > 0, 'the server did throttle');
      assert.ok(server.maxInFlight <= 8);
    } finally {
      await server.close();
    }
  });
});
