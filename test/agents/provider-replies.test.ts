/**
 * Replies as real providers send them (issue 9), through the real HTTP provider against the fake
 * OpenAI-compatible server taught each shape: reasoning models, `<think>`, reasoning_details,
 * finish reasons, mark_task_complete with a preface, parallel tool calls, missing tool-call ids.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import type { HeavyEvent } from '../../src/agents/events.ts';
import { createOpenAICompatibleModel, type ToolDefinition, ToolRegistry } from '../../src/agents/index.ts';
import { toWireRequest } from '../../src/agents/providers/wire-format.ts';
import { ANSWER_NUDGE, runAgent } from '../../src/agents/run-agent.ts';
import { markTaskCompleteTool } from '../../src/agents/tools/mark-task-complete.ts';
import { type FakeScript, type RecordedRequest, startFakeOpenAIServer } from '../../src/testing/index.ts';

type WireMessage = Record<string, unknown> & { role: string };

function messagesOf(req: RecordedRequest): WireMessage[] {
  return (req.body as { messages: WireMessage[] }).messages;
}

/** A tool whose calls wait until `limit` of them run at once (or all have started), counting concurrency. */
function barrierTool(total: number, limit: number) {
  let current = 0;
  let started = 0;
  let max = 0;
  const waiters: Array<() => void> = [];
  const tool: ToolDefinition<{ n: number }> = {
    name: 'slow',
    description: 'waits',
    parameters: z.object({ n: z.number() }),
    async execute(args, ctx) {
      current++;
      started++;
      max = Math.max(max, current);
      if (current === limit || started === total) for (const wake of waiters.splice(0)) wake();
      else {
        await new Promise<void>((resolve, reject) => {
          waiters.push(resolve);
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true });
        });
      }
      current--;
      return `slow ${args.n}`;
    },
  };
  return { tool, max: () => max };
}

async function agentRun(
  script: FakeScript,
  extra: {
    tools?: ToolRegistry;
    maxTokens?: number;
    reasoningEffort?: 'low' | 'medium' | 'high';
    toolConcurrency?: number;
    events?: HeavyEvent[];
  } = {},
) {
  const server = await startFakeOpenAIServer(script);
  try {
    const model = createOpenAICompatibleModel({
      baseUrl: server.url,
      retries: 2,
      baseDelayMs: 1,
      random: () => 0,
    });
    const outcome = await runAgent({
      id: 'agent-1',
      model,
      modelId: 'fake/model',
      systemPrompt: 'system',
      originalQuestion: 'q?',
      question: 'q?',
      tools: extra.tools ?? new ToolRegistry([markTaskCompleteTool]),
      maxIterations: 5,
      toolTimeoutMs: 2_000,
      ...(extra.maxTokens === undefined ? {} : { maxTokens: extra.maxTokens }),
      ...(extra.reasoningEffort === undefined ? {} : { reasoningEffort: extra.reasoningEffort }),
      ...(extra.toolConcurrency === undefined ? {} : { toolConcurrency: extra.toolConcurrency }),
      ...(extra.events ? { onEvent: (e: HeavyEvent) => extra.events!.push(e) } : {}),
    });
    return { outcome, requests: server.chatRequests() };
  } finally {
    await server.close();
  }
}

describe('replies of reasoning models', { timeout: 30_000 }, () => {
  it('content null plus `reasoning` is not an answer: the agent asks once more and takes the content', async () => {
    const { outcome, requests } = await agentRun([
      { content: null, reasoning: 'Let me think about 6 * 7 ...' },
      { content: '42', reasoningContent: 'six sevens are forty-two' },
    ]);
    assert.equal(outcome.status, 'ok');
    assert.equal(outcome.answer, '42');
    assert.equal(requests.length, 2);
    const last = messagesOf(requests[1]!).at(-1)!;
    assert.deepEqual(last, { role: 'user', content: ANSWER_NUDGE });
  });

  it('empty content with reasoning twice fails with a clear reason', async () => {
    const { outcome, requests } = await agentRun([
      { content: '', reasoningContent: 'hmm' },
      { content: '', reasoning: 'still hmm' },
    ]);
    assert.equal(requests.length, 2);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.error?.code, 'E_LLM_EMPTY');
    assert.match(outcome.error?.message ?? '', /reasoning but no answer/);
  });

  it('inline <think> blocks are stripped from the answer', async () => {
    const { outcome } = await agentRun([{ content: '<think>maybe it is 41?</think>\n\n42' }]);
    assert.equal(outcome.status, 'ok');
    assert.equal(outcome.answer, '42');
  });

  it("OpenRouter's reasoning_details go back with the assistant message on a tool turn", async () => {
    const details = [{ type: 'reasoning.encrypted', data: 'opaque-blob', id: 'r1' }];
    const calc = barrierTool(1, 1);
    const { outcome, requests } = await agentRun(
      [
        { toolCalls: [{ name: 'slow', arguments: { n: 1 } }], reasoningDetails: details },
        { content: 'done' },
      ],
      { tools: new ToolRegistry([calc.tool]) },
    );
    assert.equal(outcome.answer, 'done');
    const assistant = messagesOf(requests[1]!).find((m) => m.role === 'assistant')!;
    assert.deepEqual(assistant.reasoning_details, details);
  });

  it('--max-tokens and --reasoning-effort reach the request; OpenRouter gets reasoning.effort', async () => {
    const { requests } = await agentRun([{ content: 'ok' }], { maxTokens: 77, reasoningEffort: 'high' });
    const body = requests[0]!.body as Record<string, unknown>;
    assert.equal(body.max_tokens, 77);
    assert.equal(body.reasoning_effort, 'high');
    assert.equal(body.reasoning, undefined);
    const openRouter = toWireRequest(
      { model: 'm', messages: [{ role: 'user', content: 'x' }], reasoningEffort: 'low' },
      false,
      'openrouter',
    );
    assert.deepEqual(openRouter.reasoning, { effort: 'low' });
    assert.equal(openRouter.reasoning_effort, undefined);
  });
});

describe('finish reasons', { timeout: 30_000 }, () => {
  it('length: status truncated, partial text kept, never a silent ok', async () => {
    const { outcome } = await agentRun([{ content: 'The answer begins wi', finishReason: 'length' }]);
    assert.equal(outcome.status, 'truncated');
    assert.equal(outcome.answer, 'The answer begins wi');
    assert.equal(outcome.error?.code, 'E_LLM_TRUNCATED');
  });

  it("OpenRouter's error finish reason is retried like a 5xx", async () => {
    const events: HeavyEvent[] = [];
    const { outcome, requests } = await agentRun(
      [{ content: 'garbled upstr', finishReason: 'error' }, { content: 'clean answer' }],
      { events },
    );
    assert.equal(requests.length, 2);
    assert.equal(outcome.answer, 'clean answer');
    assert.ok(events.some((e) => e.type === 'llm_retry' && e.status === 502));
  });

  it('content_filter is reported as such', async () => {
    const { outcome } = await agentRun([{ content: null, finishReason: 'content_filter' }]);
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.error?.code, 'E_LLM_CONTENT_FILTER');
    assert.match(outcome.error?.message ?? '', /content filter/);
  });
});

describe('tool calls as models send them', { timeout: 30_000 }, () => {
  it('mark_task_complete: the completion_message is the answer even with a preface', async () => {
    const { outcome } = await agentRun([
      {
        content: "I'll mark the task as complete now.",
        toolCalls: [
          {
            name: 'mark_task_complete',
            arguments: { task_summary: 'looked it up', completion_message: 'Paris is the capital.' },
          },
        ],
      },
    ]);
    assert.equal(outcome.status, 'ok');
    assert.equal(outcome.answer, 'Paris is the capital.');
  });

  it('parallel tool calls in one message run concurrently, results in order', async () => {
    const slow = barrierTool(3, 3);
    const { outcome, requests } = await agentRun(
      [
        { toolCalls: [1, 2, 3].map((n) => ({ name: 'slow', arguments: { n }, id: `c${n}` })) },
        { content: 'all three' },
      ],
      { tools: new ToolRegistry([slow.tool]) },
    );
    assert.equal(outcome.answer, 'all three');
    assert.equal(slow.max(), 3);
    assert.deepEqual(
      outcome.toolCalls.map((c) => c.ok),
      [true, true, true],
    );
    const tools = messagesOf(requests[1]!).filter((m) => m.role === 'tool');
    assert.deepEqual(
      tools.map((m) => [m.tool_call_id, m.content]),
      [
        ['c1', 'slow 1'],
        ['c2', 'slow 2'],
        ['c3', 'slow 3'],
      ],
    );
  });

  it('parallel tool calls are bounded', async () => {
    const slow = barrierTool(5, 2);
    const { outcome } = await agentRun(
      [{ toolCalls: [1, 2, 3, 4, 5].map((n) => ({ name: 'slow', arguments: { n } })) }, { content: 'five' }],
      { tools: new ToolRegistry([slow.tool]), toolConcurrency: 2 },
    );
    assert.equal(outcome.answer, 'five');
    assert.equal(slow.max(), 2);
    assert.ok(outcome.toolCalls.every((c) => c.ok));
  });

  it('tool calls without ids get unique ids, and each result answers its own call', async () => {
    const slow = barrierTool(1, 1);
    const { outcome, requests } = await agentRun(
      [
        { toolCalls: [{ name: 'slow', arguments: { n: 1 }, id: null }] },
        { toolCalls: [{ name: 'slow', arguments: { n: 2 }, id: null }] },
        { content: 'two turns' },
      ],
      { tools: new ToolRegistry([slow.tool]) },
    );
    assert.equal(outcome.answer, 'two turns');
    const messages = messagesOf(requests[2]!);
    const callIds = messages
      .filter((m) => m.role === 'assistant')
      .flatMap((m) => (m.tool_calls as Array<{ id: string }>).map((c) => c.id));
    const resultIds = messages.filter((m) => m.role === 'tool').map((m) => m.tool_call_id);
    assert.equal(callIds.length, 2);
    assert.notEqual(callIds[0], callIds[1]);
    assert.deepEqual(resultIds, callIds);
  });
});
