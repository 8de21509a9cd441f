import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import { AGENT_ERRORS } from '../../src/agents/errors.ts';
import type { HeavyEvent } from '../../src/agents/events.ts';
import { createBuiltinTools, type ToolDefinition, ToolRegistry } from '../../src/agents/index.ts';
import { agentUserMessage, type RunAgentOptions, runAgent } from '../../src/agents/run-agent.ts';
import { MarshalError, TimeoutError } from '../../src/core/errors.ts';
import { createScriptedModel, type ScriptedReplies } from '../../src/testing/index.ts';

let workspace: string;
let tools: ToolRegistry;

before(async () => {
  workspace = await mkdtemp(join(tmpdir(), 'marshal-run-agent-'));
  tools = new ToolRegistry(
    createBuiltinTools({ workspace, allowWrite: true, search: { endpoint: 'http://127.0.0.1:9/?q=' } }),
  );
});
after(async () => {
  await rm(workspace, { recursive: true, force: true });
});

function setup(replies: ScriptedReplies, overrides: Partial<RunAgentOptions> = {}) {
  const model = createScriptedModel(replies);
  const events: HeavyEvent[] = [];
  const options: RunAgentOptions = {
    id: 'agent-1',
    model,
    modelId: 'test/model',
    systemPrompt: 'You are a test agent.',
    originalQuestion: 'What is the answer?',
    question: 'Compute the answer.',
    tools,
    maxIterations: 5,
    workspace,
    onEvent: (e) => events.push(e),
    ...overrides,
  };
  return { model, events, run: () => runAgent(options) };
}

/** The `tool` messages the model saw in call `index`. */
function toolMessages(model: ReturnType<typeof createScriptedModel>, index: number) {
  return model.requests[index]!.messages.filter((m) => m.role === 'tool') as Array<{
    name: string;
    content: string;
  }>;
}

describe('runAgent', { timeout: 30_000 }, () => {
  it('ends on a plain answer after one call; the user message carries both questions', async () => {
    const { model, events, run } = setup([
      { content: '42', usage: { promptTokens: 7, completionTokens: 3, costUsd: 0.5 } },
    ]);
    const outcome = await run();
    assert.equal(outcome.status, 'ok');
    assert.equal(outcome.answer, '42');
    assert.equal(outcome.error, null);
    assert.deepEqual(outcome.usage, { promptTokens: 7, completionTokens: 3, costUsd: 0.5 });
    assert.equal(outcome.question, 'Compute the answer.');
    assert.equal(model.requests.length, 1);
    const req = model.requests[0]!;
    assert.equal(req.model, 'test/model');
    assert.deepEqual(req.messages[0], { role: 'system', content: 'You are a test agent.' });
    const userText = (req.messages[1] as { content: string }).content;
    assert.match(userText, /Original question[^\n]*\nWhat is the answer\?/);
    assert.match(userText, /Your sub-question[^\n]*\nCompute the answer\./);
    assert.deepEqual(
      req.tools?.map((t) => t.name),
      ['search_web', 'calculate', 'read_file', 'write_file', 'mark_task_complete'],
    );
    assert.deepEqual(
      events.map((e) => e.type),
      ['agent_start', 'agent_step', 'llm_request', 'llm_response', 'agent_done'],
    );
    for (const e of events) assert.equal(typeof e.at, 'number');
    const request = events.find((e) => e.type === 'llm_request');
    assert.equal(request?.type === 'llm_request' && request.scope, 'agent-1');
    const done = events.at(-1);
    assert.deepEqual(done?.type === 'agent_done' && done.outcome, outcome);
  });

  it('sends only the question when the sub-question is the original', () => {
    assert.equal(agentUserMessage('Same?', 'Same?'), 'Same?');
  });

  it('executes tool calls, feeds results back, sums usage and answers', async () => {
    const { model, events, run } = setup([
      {
        content: 'Let me calculate.',
        toolCalls: [{ name: 'calculate', arguments: { expression: '6*7' } }],
        usage: { promptTokens: 10, completionTokens: 2 },
      },
      { content: 'The answer is 42.', usage: { promptTokens: 20, completionTokens: 4, costUsd: 0.01 } },
    ]);
    const outcome = await run();
    assert.equal(outcome.status, 'ok');
    assert.equal(outcome.answer, 'The answer is 42.');
    assert.deepEqual(outcome.toolCalls, [{ name: 'calculate', ok: true }]);
    assert.deepEqual(outcome.usage, { promptTokens: 30, completionTokens: 6, costUsd: 0.01 });
    const [result] = toolMessages(model, 1);
    assert.deepEqual(JSON.parse(result!.content), { expression: '6*7', result: 42, success: true });
    const assistant = model.requests[1]!.messages[2];
    assert.equal(assistant?.role, 'assistant');
    assert.equal(assistant?.role === 'assistant' && assistant.toolCalls?.[0]?.name, 'calculate');
    const toolEvents = events.filter((e) => e.type === 'tool_call' || e.type === 'tool_result');
    assert.deepEqual(
      toolEvents.map((e) => e.type),
      ['tool_call', 'tool_result'],
    );
    assert.equal(toolEvents[0]?.type === 'tool_call' && toolEvents[0].arguments, '{"expression":"6*7"}');
  });

  it('mark_task_complete ends the loop: completion_message wins over a preface; later calls are skipped', async () => {
    const complete = {
      name: 'mark_task_complete',
      arguments: { task_summary: 's', completion_message: 'final from tool' },
    };
    const withText = setup([{ content: 'Answer in text.', toolCalls: [complete] }]);
    const a = await withText.run();
    assert.equal(a.status, 'ok');
    assert.equal(a.answer, 'final from tool');

    const noText = setup([
      {
        content: null,
        toolCalls: [complete, { name: 'write_file', arguments: { path: 'skipped.txt', content: 'x' } }],
      },
    ]);
    const b = await noText.run();
    assert.equal(b.status, 'ok');
    assert.equal(b.answer, 'final from tool');
    assert.deepEqual(b.toolCalls, [{ name: 'mark_task_complete', ok: true }]);
    await assert.rejects(readFile(join(workspace, 'skipped.txt')), { code: 'ENOENT' });
  });

  it('an invalid mark_task_complete without text goes back to the model', async () => {
    const { model, run } = setup([
      { content: null, toolCalls: [{ name: 'mark_task_complete', arguments: { task_summary: 's' } }] },
      { content: 'fixed answer' },
    ]);
    const outcome = await run();
    assert.equal(outcome.answer, 'fixed answer');
    assert.match(
      toolMessages(model, 1)[0]!.content,
      /Invalid arguments for mark_task_complete: completion_message/,
    );
  });

  it('max_iterations keeps the last non-empty text', async () => {
    const { model, run } = setup(
      (_req, i) => ({
        content: i === 2 ? 'partial finding 2' : i > 2 ? '' : `partial finding ${i}`,
        toolCalls: [{ name: 'calculate', arguments: { expression: `${i}+1` } }],
      }),
      { maxIterations: 4 },
    );
    const outcome = await run();
    assert.equal(outcome.status, 'max_iterations');
    assert.equal(outcome.answer, 'partial finding 2');
    assert.equal(outcome.error?.code, 'E_MAX_ITERATIONS');
    assert.equal(model.requests.length, 4);
    assert.equal(outcome.toolCalls.length, 4);
  });

  it('max_iterations without any text gives a null answer', async () => {
    const { run } = setup(() => ({ toolCalls: [{ name: 'calculate', arguments: { expression: '1' } }] }), {
      maxIterations: 2,
    });
    const outcome = await run();
    assert.equal(outcome.status, 'max_iterations');
    assert.equal(outcome.answer, null);
  });

  it('bad JSON, schema violations and unknown tools go back to the model, which recovers', async () => {
    const { model, run } = setup([
      {
        toolCalls: [
          { name: 'calculate', arguments: '{"expression": ' },
          { name: 'calculate', arguments: { expression: 7 } },
          { name: 'calculate', arguments: { expr: '1+1' } },
          { name: 'rm_rf', arguments: {} },
          { name: 'calculate', arguments: { expression: '9^9^9^9' } },
        ],
      },
      { toolCalls: [{ name: 'calculate', arguments: { expression: '1+1' } }] },
      { content: 'two' },
    ]);
    const outcome = await run();
    assert.equal(outcome.status, 'ok');
    assert.equal(outcome.answer, 'two');
    assert.deepEqual(
      outcome.toolCalls.map((c) => c.ok),
      [false, false, false, false, false, true],
    );
    const errors = toolMessages(model, 1).map(
      (m) => JSON.parse(m.content) as { error: string; success: boolean },
    );
    assert.ok(errors.every((e) => e.success === false));
    assert.match(errors[0]!.error, /Invalid arguments for calculate: not valid JSON/);
    assert.match(errors[1]!.error, /Invalid arguments for calculate: expression: .*string/i);
    assert.match(errors[2]!.error, /Invalid arguments for calculate: .*(expression|expr)/);
    assert.match(errors[3]!.error, /^Unknown tool: rm_rf\. Available tools: search_web, calculate/);
    assert.match(errors[4]!.error, /^Tool execution failed: calculate: exponent/);
    // Every tool message answers its own call id.
    const ids = model.requests[1]!.messages.flatMap((m) => (m.role === 'tool' ? [m.toolCallId] : []));
    assert.deepEqual(ids, ['call_0_0', 'call_0_1', 'call_0_2', 'call_0_3', 'call_0_4']);
  });

  it('read_file refuses path escapes and the agent continues; write/read round trip stays inside', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'marshal-outside-'));
    try {
      await writeFile(join(outside, 'secret.txt'), 'TOP SECRET');
      const { model, run } = setup([
        {
          toolCalls: [
            { name: 'read_file', arguments: { path: '../secret.txt' } },
            { name: 'read_file', arguments: { path: join(outside, 'secret.txt') } },
            { name: 'write_file', arguments: { path: 'notes/out.txt', content: 'inside' } },
          ],
        },
        { toolCalls: [{ name: 'read_file', arguments: { path: 'notes/out.txt' } }] },
        { content: 'done' },
      ]);
      const outcome = await run();
      assert.equal(outcome.status, 'ok');
      const first = toolMessages(model, 1);
      assert.match(first[0]!.content, /leaves the workspace/);
      assert.match(first[1]!.content, /absolute and outside the workspace/);
      assert.ok(first.every((m) => !m.content.includes('TOP SECRET')));
      assert.equal(JSON.parse(first[2]!.content).success, true);
      assert.equal(JSON.parse(toolMessages(model, 2)[3]!.content).content, 'inside');
      assert.equal(await readFile(join(workspace, 'notes/out.txt'), 'utf8'), 'inside');
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('a tool that throws, hangs past its bound or floods output never crashes the agent', async () => {
    const extra: ToolDefinition[] = [
      {
        name: 'explode',
        description: 'throws',
        parameters: z.object({}),
        async execute() {
          throw new Error('kaboom');
        },
      },
      {
        name: 'stall',
        description: 'ignores its signal',
        parameters: z.object({}),
        execute: () => new Promise<string>(() => {}),
      },
      {
        name: 'flood',
        description: 'long output',
        parameters: z.object({}),
        async execute() {
          return 'y'.repeat(50_000);
        },
      },
    ];
    const { model, run } = setup(
      [
        {
          toolCalls: [
            { name: 'explode', arguments: {} },
            { name: 'stall', arguments: {} },
            { name: 'flood', arguments: '' },
          ],
        },
        { content: 'survived' },
      ],
      { tools: tools.with(extra), toolTimeoutMs: 50, maxToolOutputChars: 1000 },
    );
    const outcome = await run();
    assert.equal(outcome.answer, 'survived');
    assert.deepEqual(
      outcome.toolCalls.map((c) => [c.name, c.ok]),
      [
        ['explode', false],
        ['stall', false],
        ['flood', true],
      ],
    );
    const [exploded, stalled, flooded] = toolMessages(model, 1);
    assert.match(exploded!.content, /Tool execution failed: kaboom/);
    assert.match(stalled!.content, /did not finish within 50 ms/);
    assert.ok(flooded!.content.length < 1200);
    assert.match(flooded!.content, /\[output truncated: 49000 of 50000 characters omitted\]$/);
  });

  it('a model failure is a failed outcome with the code; partial text is kept', async () => {
    const { run } = setup([
      { content: 'so far', toolCalls: [{ name: 'calculate', arguments: { expression: '1' } }] },
      {
        error: new MarshalError(AGENT_ERRORS.E_LLM_HTTP, 'http://x answered HTTP 503: busy', {
          details: { status: 503 },
        }),
      },
    ]);
    const outcome = await run();
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.answer, 'so far');
    assert.deepEqual(outcome.error, { code: 'E_LLM_HTTP', message: 'http://x answered HTTP 503: busy' });
  });

  it('an empty reply is a failed outcome (E_LLM_EMPTY)', async () => {
    const outcome = await setup([{ content: '  ' }]).run();
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.error?.code, 'E_LLM_EMPTY');
  });

  it('a timeout abort gives status timeout with partial text; other aborts give cancelled', async () => {
    // The abort fires once the agent is waiting on its second call, so 'half' is always there.
    let onHang = (): void => {};
    const script: ScriptedReplies = (_req, i) => {
      if (i === 0)
        return { content: 'half', toolCalls: [{ name: 'calculate', arguments: { expression: '1' } }] };
      setImmediate(onHang);
      return { hang: true };
    };

    const deadline = new AbortController();
    onHang = () => deadline.abort(new DOMException('The operation timed out.', 'TimeoutError'));
    const timedOut = await setup(script, { signal: deadline.signal }).run();
    assert.equal(timedOut.status, 'timeout');
    assert.equal(timedOut.answer, 'half');
    assert.equal(timedOut.error?.code, 'E_TIMEOUT');

    const controller = new AbortController();
    onHang = () => controller.abort();
    const c = await setup(script, { signal: controller.signal }).run();
    assert.equal(c.status, 'cancelled');
    assert.equal(c.error?.code, 'E_ABORTED');
    assert.equal(c.answer, 'half');

    const marshalTimeout = new AbortController();
    marshalTimeout.abort(new TimeoutError('agent-1 exceeded 300 s'));
    const m = await setup(script, { signal: marshalTimeout.signal }).run();
    assert.equal(m.status, 'timeout');
    assert.equal(m.error?.message, 'agent-1 exceeded 300 s');
    assert.equal(m.answer, null);
  });

  it('rejects a non-positive maxIterations as invalid input', async () => {
    await assert.rejects(setup([], { maxIterations: 0 }).run(), { code: 'E_INVALID_INPUT' });
  });

  it('a throwing event sink does not break the agent', async () => {
    const outcome = await setup([{ content: 'fine' }], {
      onEvent: () => {
        throw new Error('display crashed');
      },
    }).run();
    assert.equal(outcome.answer, 'fine');
  });
});
