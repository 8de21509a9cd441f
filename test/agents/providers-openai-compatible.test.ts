import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { createOpenAICompatibleModel } from '../../src/agents/index.ts';
import type { RetryInfo } from '../../src/agents/model.ts';
import { AbortedError, MarshalError } from '../../src/core/errors.ts';
import { startFakeOpenAIServer } from '../../src/testing/index.ts';

const KEY = 'sk-or-v1-0123456789abcdef0123456789abcdef';
const user = (content: string) => [{ role: 'user' as const, content }];

function isCode(code: string, status?: number) {
  return (err: unknown) => {
    assert.ok(err instanceof MarshalError, `expected MarshalError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (status !== undefined) assert.equal(err.details?.status, status);
    assert.ok(!err.message.includes(KEY), 'the key leaked into an error message');
    return true;
  };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('createOpenAICompatibleModel', { timeout: 60_000 }, () => {
  it('speaks the chat-completions protocol and parses tool calls and usage with cost', async () => {
    const server = await startFakeOpenAIServer([
      {
        content: 'thinking',
        toolCalls: [{ name: 'calculate', arguments: { expression: '2+2' }, id: 'c1' }],
        usage: { prompt_tokens: 12, completion_tokens: 7, cost: 0.0042 },
        model: 'served-model',
      },
    ]);
    try {
      const model = createOpenAICompatibleModel({
        baseUrl: `${server.url}/`,
        apiKey: KEY,
        headers: { 'x-title': 'marshal' },
      });
      assert.match(model.label, /^openai-compatible http:\/\/127\.0\.0\.1:\d+\/v1$/);
      const reply = await model.chat({
        model: 'moonshotai/kimi-k2',
        temperature: 0.2,
        maxTokens: 100,
        messages: [
          { role: 'system', content: 'sys' },
          { role: 'user', content: 'q' },
          { role: 'assistant', content: null, toolCalls: [{ id: 'a', name: 'calculate', arguments: '{}' }] },
          { role: 'tool', toolCallId: 'a', name: 'calculate', content: '{"result":1}' },
          { role: 'assistant', content: 'plain' },
        ],
        tools: [{ name: 'calculate', description: 'd', parameters: { type: 'object' } }],
      });
      assert.deepEqual(reply, {
        content: 'thinking',
        toolCalls: [{ id: 'c1', name: 'calculate', arguments: '{"expression":"2+2"}' }],
        finishReason: 'tool_calls',
        usage: { promptTokens: 12, completionTokens: 7, costUsd: 0.0042 },
        model: 'served-model',
      });
      const rec = server.requests[0]!;
      assert.equal(rec.path, '/v1/chat/completions');
      assert.equal(rec.headers.authorization, `Bearer ${KEY}`);
      assert.equal(rec.headers['content-type'], 'application/json');
      assert.equal(rec.headers['x-title'], 'marshal');
      assert.deepEqual(rec.body, {
        model: 'moonshotai/kimi-k2',
        messages: [
          { role: 'system', content: 'sys' },
          { role: 'user', content: 'q' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: 'a', type: 'function', function: { name: 'calculate', arguments: '{}' } }],
          },
          { role: 'tool', tool_call_id: 'a', name: 'calculate', content: '{"result":1}' },
          { role: 'assistant', content: 'plain' },
        ],
        tools: [
          {
            type: 'function',
            function: { name: 'calculate', description: 'd', parameters: { type: 'object' } },
          },
        ],
        temperature: 0.2,
        max_tokens: 100,
      });
      // The key appears in exactly one place: the Authorization header.
      const elsewhere = JSON.stringify({
        ...rec.headers,
        authorization: undefined,
        body: rec.body,
        path: rec.path,
      });
      assert.ok(!elsewhere.includes(KEY));
    } finally {
      await server.close();
    }
  });

  it('omits an empty tools list and the Authorization header without a key; cost stays null when unreported', async () => {
    const server = await startFakeOpenAIServer([
      { content: 'hi', usage: { prompt_tokens: 1, completion_tokens: 2 } },
    ]);
    try {
      const model = createOpenAICompatibleModel({ baseUrl: server.url });
      const reply = await model.chat({ model: 'm', messages: user('q'), tools: [] });
      assert.deepEqual(reply.usage, { promptTokens: 1, completionTokens: 2, costUsd: null });
      const rec = server.requests[0]!;
      assert.equal(rec.headers.authorization, undefined);
      assert.equal((rec.body as Record<string, unknown>).tools, undefined);
    } finally {
      await server.close();
    }
  });

  it('retries a 429 honouring Retry-After, then succeeds', async () => {
    const server = await startFakeOpenAIServer([{ status: 429, retryAfter: '0.05' }, { content: 'ok' }]);
    try {
      const retries: RetryInfo[] = [];
      const perRequest: RetryInfo[] = [];
      // random 0.5 would give a 500 ms backoff; the server's 50 ms must win.
      const model = createOpenAICompatibleModel({
        baseUrl: server.url,
        apiKey: KEY,
        random: () => 0.5,
        onRetry: (i) => retries.push(i),
      });
      const reply = await model.chat({ model: 'm', messages: user('q'), onRetry: (i) => perRequest.push(i) });
      assert.equal(reply.content, 'ok');
      assert.equal(server.chatRequests().length, 2);
      assert.equal(retries.length, 1);
      assert.deepEqual(retries[0], perRequest[0]);
      assert.equal(retries[0]!.status, 429);
      assert.equal(retries[0]!.delayMs, 50);
      assert.equal(retries[0]!.attempt, 0);
      assert.match(retries[0]!.message, /HTTP 429/);
    } finally {
      await server.close();
    }
  });

  it('retries a 500 with jittered backoff (first ceiling = baseDelayMs), then succeeds', async () => {
    const server = await startFakeOpenAIServer([{ status: 500 }, { status: 502 }, { content: 'ok' }]);
    try {
      const delays: number[] = [];
      const model = createOpenAICompatibleModel({
        baseUrl: server.url,
        random: () => 0.01,
        onRetry: (i) => delays.push(i.delayMs),
      });
      assert.equal((await model.chat({ model: 'm', messages: user('q') })).content, 'ok');
      // Default base 1000 ms: attempt 0 ceiling 1000, attempt 1 ceiling 2000.
      assert.deepEqual(delays, [10, 20]);
    } finally {
      await server.close();
    }
  });

  it('gives up after the configured retries with E_LLM_HTTP and the status', async () => {
    const server = await startFakeOpenAIServer(() => ({
      status: 503,
      body: { error: { message: 'overloaded' } },
    }));
    try {
      const model = createOpenAICompatibleModel({ baseUrl: server.url, retries: 2, random: () => 0 });
      await assert.rejects(model.chat({ model: 'm', messages: user('q') }), (err: unknown) => {
        isCode('E_LLM_HTTP', 503)(err);
        assert.match((err as Error).message, /HTTP 503: overloaded/);
        return true;
      });
      assert.equal(server.chatRequests().length, 3);
    } finally {
      await server.close();
    }
  });

  it('does not retry other 4xx; the endpoint message is sanitised, truncated and never contains the key', async () => {
    const echo = `bad request for Bearer ${KEY}\u001b[31m ${'x'.repeat(1000)}`;
    const server = await startFakeOpenAIServer([
      { status: 400, body: { error: { message: echo } } },
      { status: 401 },
    ]);
    try {
      const model = createOpenAICompatibleModel({ baseUrl: server.url, apiKey: KEY, random: () => 0 });
      await assert.rejects(model.chat({ model: 'm', messages: user('q') }), (err: unknown) => {
        isCode('E_LLM_HTTP', 400)(err);
        const message = (err as Error).message;
        assert.match(message, /HTTP 400: bad request for/);
        assert.ok(!message.includes('\u001b'));
        assert.ok(message.length < 500);
        return true;
      });
      assert.equal(server.chatRequests().length, 1);
      await assert.rejects(model.chat({ model: 'm', messages: user('q') }), (err: unknown) => {
        isCode('E_LLM_HTTP', 401)(err);
        assert.match((err as MarshalError).hint ?? '', /OPENROUTER_API_KEY/);
        return true;
      });
      assert.equal(server.chatRequests().length, 2);
    } finally {
      await server.close();
    }
  });

  it('treats a 200 carrying an error object as an HTTP error (retried when 5xx-like)', async () => {
    const server = await startFakeOpenAIServer([
      { json: { error: { message: 'upstream down', code: 502 } } },
      { json: { error: { message: 'no such model', code: 404 } } },
    ]);
    try {
      const model = createOpenAICompatibleModel({ baseUrl: server.url, random: () => 0 });
      await assert.rejects(model.chat({ model: 'm', messages: user('q') }), (err: unknown) => {
        isCode('E_LLM_HTTP', 404)(err);
        assert.match((err as Error).message, /no such model/);
        return true;
      });
      assert.equal(server.chatRequests().length, 2);
    } finally {
      await server.close();
    }
  });

  it('rejects malformed completions with E_LLM_RESPONSE', async () => {
    const server = await startFakeOpenAIServer([{ json: { choices: [] } }, { json: 'just a string' }]);
    try {
      const model = createOpenAICompatibleModel({ baseUrl: server.url, retries: 0 });
      await assert.rejects(model.chat({ model: 'm', messages: user('q') }), isCode('E_LLM_RESPONSE'));
      await assert.rejects(model.chat({ model: 'm', messages: user('q') }), isCode('E_LLM_RESPONSE'));
    } finally {
      await server.close();
    }
  });

  it('retries connection errors, then fails with E_LLM_NETWORK', async () => {
    const port = await closedPort();
    const retries: RetryInfo[] = [];
    const model = createOpenAICompatibleModel({
      baseUrl: `http://127.0.0.1:${port}/v1`,
      apiKey: KEY,
      retries: 2,
      random: () => 0,
      onRetry: (i) => retries.push(i),
    });
    await assert.rejects(model.chat({ model: 'm', messages: user('q') }), (err: unknown) => {
      isCode('E_LLM_NETWORK')(err);
      assert.match(
        (err as Error).message,
        /cannot reach http:\/\/127\.0\.0\.1:\d+\/v1\/chat\/completions: ECONNREFUSED/,
      );
      return true;
    });
    assert.equal(retries.length, 2);
  });

  it('retries a reset connection', async () => {
    const server = await startFakeOpenAIServer([{ reset: true }, { content: 'after reset' }]);
    try {
      const model = createOpenAICompatibleModel({ baseUrl: server.url, random: () => 0 });
      assert.equal((await model.chat({ model: 'm', messages: user('q') })).content, 'after reset');
    } finally {
      await server.close();
    }
  });

  it('refuses redirects, so the key never reaches another host', async () => {
    const elsewhere = await startFakeOpenAIServer(() => ({ content: 'stolen' }));
    const server = await startFakeOpenAIServer(() => ({
      status: 307,
      headers: { location: `${elsewhere.url}/chat/completions` },
      body: {},
    }));
    try {
      const model = createOpenAICompatibleModel({ baseUrl: server.url, apiKey: KEY, random: () => 0 });
      await assert.rejects(model.chat({ model: 'm', messages: user('q') }), (err: unknown) => {
        isCode('E_LLM_NETWORK')(err);
        assert.match((err as Error).message, /redirect/);
        return true;
      });
      assert.equal(server.chatRequests().length, 1, 'a redirect is not retried');
      assert.equal(elsewhere.requests.length, 0);
    } finally {
      await server.close();
      await elsewhere.close();
    }
  });

  it('aborting cancels a hanging request: AbortedError, and the server sees the connection close', async () => {
    const server = await startFakeOpenAIServer([{ hang: true }]);
    try {
      const model = createOpenAICompatibleModel({ baseUrl: server.url });
      const controller = new AbortController();
      const pending = model.chat({ model: 'm', messages: user('q'), signal: controller.signal });
      await server.waitForRequest(0);
      controller.abort();
      await assert.rejects(pending, AbortedError);
      await server.waitForClientClose(0);
      assert.equal(server.requests[0]!.clientClosed, true);
      assert.equal(server.chatRequests().length, 1, 'an abort is not retried');
    } finally {
      await server.close();
    }
  });

  it('aborting interrupts the backoff wait', async () => {
    const server = await startFakeOpenAIServer([{ status: 429, retryAfter: '3600' }, { content: 'never' }]);
    try {
      const controller = new AbortController();
      const model = createOpenAICompatibleModel({ baseUrl: server.url, onRetry: () => controller.abort() });
      await assert.rejects(
        model.chat({ model: 'm', messages: user('q'), signal: controller.signal }),
        AbortedError,
      );
      assert.equal(server.chatRequests().length, 1);
    } finally {
      await server.close();
    }
  });

  it('a per-attempt timeout is retried like a connection error', async () => {
    const server = await startFakeOpenAIServer((_req, i) =>
      i === 0 ? { hang: true } : { content: 'second try' },
    );
    try {
      const infos: RetryInfo[] = [];
      const model = createOpenAICompatibleModel({
        baseUrl: server.url,
        timeoutMs: 1000,
        random: () => 0,
        onRetry: (i) => infos.push(i),
      });
      assert.equal((await model.chat({ model: 'm', messages: user('q') })).content, 'second try');
      assert.match(infos[0]!.message, /did not answer within 1000 ms/);
      await server.waitForClientClose(0);
    } finally {
      await server.close();
    }
  });

  it('sends response_format json_schema and falls back once (remembered) when the endpoint rejects it', async () => {
    const server = await startFakeOpenAIServer((req) =>
      (req.body as Record<string, unknown>).response_format
        ? { status: 400, body: { error: { message: 'response_format is not supported' } } }
        : { content: '["a","b"]' },
    );
    try {
      const model = createOpenAICompatibleModel({ baseUrl: server.url });
      const schema = { name: 'questions', schema: { type: 'array', items: { type: 'string' } } };
      const first = await model.chat({ model: 'm', messages: user('q'), responseSchema: schema });
      assert.equal(first.content, '["a","b"]');
      assert.deepEqual((server.requests[0]!.body as Record<string, unknown>).response_format, {
        type: 'json_schema',
        json_schema: { name: 'questions', schema: schema.schema, strict: true },
      });
      assert.equal((server.requests[1]!.body as Record<string, unknown>).response_format, undefined);
      await model.chat({ model: 'm', messages: user('q'), responseSchema: schema });
      assert.equal(server.requests.length, 3, 'the second call skipped response_format');
      assert.equal((server.requests[2]!.body as Record<string, unknown>).response_format, undefined);
    } finally {
      await server.close();
    }
  });
});
