import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { HeavyEvent } from '../../src/agents/events.ts';
import { createBuiltinTools, createOpenAICompatibleModel, ToolRegistry } from '../../src/agents/index.ts';
import { runAgent } from '../../src/agents/run-agent.ts';
import { type FakeScript, startFakeOpenAIServer } from '../../src/testing/index.ts';

const KEY = 'sk-or-v1-fedcba9876543210fedcba9876543210';
let workspace: string;
let tools: ToolRegistry;

before(async () => {
  workspace = await mkdtemp(join(tmpdir(), 'marshal-agent-http-'));
  tools = new ToolRegistry(createBuiltinTools({ workspace, allowWrite: true }));
});
after(async () => {
  await rm(workspace, { recursive: true, force: true });
});

async function withServer(
  script: FakeScript,
  fn: (url: string, server: Awaited<ReturnType<typeof startFakeOpenAIServer>>) => Promise<void>,
) {
  const server = await startFakeOpenAIServer(script);
  try {
    await fn(server.url, server);
  } finally {
    await server.close();
  }
}

function agent(url: string, extra: { signal?: AbortSignal; events?: HeavyEvent[]; retries?: number } = {}) {
  const model = createOpenAICompatibleModel({
    baseUrl: url,
    apiKey: KEY,
    retries: extra.retries ?? 3,
    random: () => 0,
  });
  return runAgent({
    id: 'agent-2',
    model,
    modelId: 'moonshotai/kimi-k2',
    systemPrompt: 'system',
    originalQuestion: 'original?',
    question: 'sub?',
    tools,
    maxIterations: 4,
    workspace,
    ...(extra.signal ? { signal: extra.signal } : {}),
    ...(extra.events ? { onEvent: (e: HeavyEvent) => extra.events!.push(e) } : {}),
  });
}

describe('runAgent over HTTP (fake OpenAI-compatible server)', { timeout: 30_000 }, () => {
  it('runs a tool round trip; usage and cost are summed; the key only travels in Authorization', async () => {
    await withServer(
      [
        {
          toolCalls: [{ name: 'calculate', arguments: { expression: '2^10' } }],
          usage: { prompt_tokens: 100, completion_tokens: 10, cost: 0.001 },
        },
        { content: '1024', usage: { prompt_tokens: 150, completion_tokens: 5, cost: 0.002 } },
      ],
      async (url, server) => {
        const outcome = await agent(url);
        assert.equal(outcome.status, 'ok');
        assert.equal(outcome.answer, '1024');
        assert.equal(outcome.usage.promptTokens, 250);
        assert.equal(outcome.usage.completionTokens, 15);
        assert.ok(Math.abs((outcome.usage.costUsd ?? 0) - 0.003) < 1e-12);
        assert.equal(server.requests.length, 2);
        const second = server.requests[1]!.body as { messages: Array<Record<string, unknown>> };
        const tool = second.messages.find((m) => m.role === 'tool')!;
        assert.equal(tool.tool_call_id, 'call_0_0');
        assert.equal(JSON.parse(tool.content as string).result, 1024);
        for (const rec of server.requests) {
          assert.equal(rec.headers.authorization, `Bearer ${KEY}`);
          const rest = JSON.stringify({ ...rec.headers, authorization: null, body: rec.body });
          assert.ok(!rest.includes(KEY));
        }
      },
    );
  });

  it('a 429 with Retry-After is retried and reported as llm_retry with the agent scope', async () => {
    await withServer([{ status: 429, retryAfter: '0' }, { content: 'after retry' }], async (url) => {
      const events: HeavyEvent[] = [];
      const outcome = await agent(url, { events });
      assert.equal(outcome.answer, 'after retry');
      const retry = events.find((e) => e.type === 'llm_retry');
      assert.ok(retry && retry.type === 'llm_retry');
      assert.equal(retry.scope, 'agent-2');
      assert.equal(retry.status, 429);
      assert.equal(retry.delayMs, 0);
      assert.ok(!JSON.stringify(events).includes(KEY));
    });
  });

  it('retries exhausted: a failed outcome carrying the code', async () => {
    await withServer(
      () => ({ status: 500 }),
      async (url, server) => {
        const outcome = await agent(url, { retries: 1 });
        assert.equal(outcome.status, 'failed');
        assert.equal(outcome.error?.code, 'E_LLM_HTTP');
        assert.match(outcome.error?.message ?? '', /HTTP 500/);
        assert.equal(server.requests.length, 2);
      },
    );
  });

  it('a hang ended by a timeout signal: status timeout, and the server saw the connection close', async () => {
    await withServer([{ hang: true }], async (url, server) => {
      const controller = new AbortController();
      const pending = agent(url, { signal: controller.signal });
      await server.waitForRequest(0);
      controller.abort(new DOMException('agent deadline', 'TimeoutError'));
      const outcome = await pending;
      assert.equal(outcome.status, 'timeout');
      assert.equal(outcome.error?.code, 'E_TIMEOUT');
      await server.waitForClientClose(0);
      assert.equal(server.requests[0]!.clientClosed, true);
    });
  });

  it('a hang ended by a plain abort: status cancelled, connection closed', async () => {
    await withServer([{ hang: true }], async (url, server) => {
      const controller = new AbortController();
      const pending = agent(url, { signal: controller.signal });
      await server.waitForRequest(0);
      controller.abort();
      const outcome = await pending;
      assert.equal(outcome.status, 'cancelled');
      await server.waitForClientClose(0);
      assert.equal(server.requests.length, 1);
    });
  });
});
