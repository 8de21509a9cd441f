import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startFakeOpenAIServer } from '../../src/testing/index.ts';

interface Completion {
  object: string;
  model: string;
  choices: Array<{
    message: {
      role: string;
      content: string | null;
      tool_calls?: Array<{ type: string; function: unknown }>;
    };
    finish_reason: string;
  }>;
  usage: unknown;
}

async function post(url: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer test-key' },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
}

describe('startFakeOpenAIServer', () => {
  it('answers in the chat-completions format and records requests', async () => {
    const server = await startFakeOpenAIServer([
      {
        content: 'hello',
        toolCalls: [{ name: 'calculate', arguments: { expression: '1+1' } }],
        usage: { prompt_tokens: 3, completion_tokens: 4, cost: 0.001 },
      },
    ]);
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      const res = await post(server.url, { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(res.status, 200);
      const body = (await res.json()) as Completion;
      assert.equal(body.object, 'chat.completion');
      assert.equal(body.model, 'm');
      assert.equal(body.choices[0]!.message.role, 'assistant');
      assert.equal(body.choices[0]!.message.content, 'hello');
      assert.equal(body.choices[0]!.finish_reason, 'tool_calls');
      assert.deepEqual(body.choices[0]!.message.tool_calls![0]!.function, {
        name: 'calculate',
        arguments: '{"expression":"1+1"}',
      });
      assert.equal(body.choices[0]!.message.tool_calls![0]!.type, 'function');
      assert.deepEqual(body.usage, { prompt_tokens: 3, completion_tokens: 4, cost: 0.001 });
      assert.equal(server.requests.length, 1);
      const rec = server.requests[0]!;
      assert.equal(rec.method, 'POST');
      assert.equal(rec.path, '/v1/chat/completions');
      assert.equal(rec.headers.authorization, 'Bearer test-key');
      assert.deepEqual(rec.body, { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    } finally {
      await server.close();
    }
  });

  it('serves /v1/models, 404s other paths and 500s once the script is exhausted', async () => {
    const server = await startFakeOpenAIServer([]);
    try {
      const models = (await (await fetch(`${server.url}/models`)).json()) as { data: Array<{ id: string }> };
      assert.equal(models.data[0]?.id, 'fake-model');
      const missing = await fetch(`${server.url}/nope`);
      assert.equal(missing.status, 404);
      assert.match(((await missing.json()) as { error: { message: string } }).error.message, /no route/);
      const exhausted = await post(server.url, { model: 'm', messages: [] });
      assert.equal(exhausted.status, 500);
      assert.match(await exhausted.text(), /script exhausted at call 0/);
      assert.equal(server.chatRequests().length, 1);
    } finally {
      await server.close();
    }
  });

  it('routes by content with a script function and sends errors with Retry-After', async () => {
    const server = await startFakeOpenAIServer((req, index) => {
      const text = JSON.stringify(req.body);
      if (text.includes('LIMIT')) return { status: 429, retryAfter: '7' };
      return { content: `call ${index}` };
    });
    try {
      const limited = await post(server.url, { messages: [{ role: 'user', content: 'LIMIT' }] });
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('retry-after'), '7');
      await limited.text();
      const ok = (await (await post(server.url, { messages: [] })).json()) as Completion;
      assert.equal(ok.choices[0]!.message.content, 'call 1');
    } finally {
      await server.close();
    }
  });

  it('a hang sees the client close, and close() does not wait for hanging sockets', async () => {
    const server = await startFakeOpenAIServer([{ hang: true }, { hang: true }]);
    const controller = new AbortController();
    const pending = post(server.url, { messages: [] }, controller.signal);
    // Wait until the server recorded the request, then abort the client.
    await server.waitForRequest(0);
    controller.abort();
    await assert.rejects(pending, { name: 'AbortError' });
    await server.waitForClientClose(0);
    assert.equal(server.requests[0]!.clientClosed, true);
    // A second hanging request is still open when we close the server.
    const second = post(server.url, { messages: [] }).catch((e: unknown) => e);
    await server.waitForRequest(1);
    await server.close();
    assert.ok((await second) instanceof Error);
  });

  it('raw json replies and resets', async () => {
    const server = await startFakeOpenAIServer([{ json: { hello: 'world' } }, { reset: true }]);
    try {
      assert.deepEqual(await (await post(server.url, {})).json(), { hello: 'world' });
      await assert.rejects(post(server.url, {}), TypeError);
    } finally {
      await server.close();
    }
  });
});
