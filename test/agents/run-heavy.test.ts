import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HeavyEvent } from '../../src/agents/events.ts';
import { ToolRegistry } from '../../src/agents/index.ts';
import { runHeavy } from '../../src/agents/run-heavy.ts';
import {
  createScriptedModel,
  type RecordedChatRequest,
  type ScriptedReply,
} from '../../src/testing/index.ts';

const QUESTION = 'Why is the sky blue?';
const SUBS = ['Physics of scattering?', 'History of the explanation?', 'Why not violet?', 'Sunsets?'];

type Kind = { kind: 'decompose' } | { kind: 'agent'; sub: number } | { kind: 'combine' };

function classify(req: RecordedChatRequest): Kind {
  const text = req.messages.map((m) => m.content ?? '').join('\n');
  if (text.includes('orchestrator')) return { kind: 'decompose' };
  if (text.includes('research agents each investigated')) return { kind: 'combine' };
  return { kind: 'agent', sub: SUBS.findIndex((s) => text.includes(s)) };
}

function script(
  agent: (sub: number, req: RecordedChatRequest) => ScriptedReply,
  combineReply: ScriptedReply = { content: 'combined' },
) {
  return createScriptedModel((req) => {
    const c = classify(req);
    if (c.kind === 'decompose')
      return { content: JSON.stringify(SUBS), usage: { promptTokens: 1, completionTokens: 1 } };
    if (c.kind === 'combine') return combineReply;
    return agent(c.sub, req);
  });
}

const tools = new ToolRegistry([]);

describe('runHeavy', () => {
  it('returns exactly the JSON shape, sub-questions verbatim, usage totalled over every call', async () => {
    const model = script(
      (sub) => ({
        content: `answer ${sub}`,
        usage: { promptTokens: 10, completionTokens: 5, costUsd: 0.001 },
      }),
      {
        content: 'combined',
        usage: { promptTokens: 100, completionTokens: 50, costUsd: 0.01 },
      },
    );
    const events: HeavyEvent[] = [];
    const r = await runHeavy(QUESTION, { model, modelId: 'm', tools, onEvent: (e) => events.push(e) });
    assert.deepEqual(Object.keys(r), [
      'question',
      'answer',
      'partial',
      'strategy',
      'subQuestions',
      'agents',
      'usage',
      'durationMs',
    ]);
    assert.equal(r.answer, 'combined');
    assert.equal(r.strategy, 'synthesize');
    assert.deepEqual(r.subQuestions, SUBS);
    assert.deepEqual(
      r.agents.map((a) => [a.id, a.question, a.status, a.answer]),
      SUBS.map((s, i) => [`agent-${i + 1}`, s, 'ok', `answer ${i}`]),
    );
    for (const a of r.agents) {
      assert.deepEqual(Object.keys(a), [
        'id',
        'question',
        'status',
        'answer',
        'toolCalls',
        'usage',
        'durationMs',
        'error',
      ]);
      assert.deepEqual(Object.keys(a.usage), ['promptTokens', 'completionTokens', 'costUsd']);
    }
    assert.equal(r.usage.promptTokens, 1 + 4 * 10 + 100);
    assert.equal(r.usage.completionTokens, 1 + 4 * 5 + 50);
    assert.ok(Math.abs((r.usage.costUsd ?? 0) - 0.014) < 1e-9);
    const types = events.map((e) => e.type);
    assert.equal(types[0], 'run_start');
    assert.equal(types.at(-1), 'run_done');
    assert.ok(types.indexOf('decompose_done') < types.indexOf('agent_start'));
    assert.ok(types.lastIndexOf('agent_done') < types.indexOf('combine_start'));
  });

  it('every agent sees the original question next to its sub-question; per-agent overrides apply', async () => {
    const model = script(() => ({ content: 'ok' }));
    await runHeavy(QUESTION, {
      model,
      modelId: 'base',
      tools,
      temperature: 0.5,
      perAgent: [{ model: 'special', temperature: 0.1, systemPrompt: 'You are agent one.' }],
    });
    const agentReqs = model.requests.filter((q) => classify(q).kind === 'agent');
    assert.equal(agentReqs.length, 4);
    for (const q of agentReqs) assert.ok(JSON.stringify(q.messages).includes(QUESTION));
    const first = agentReqs.find(
      (q) => classify(q).kind === 'agent' && (classify(q) as { sub: number }).sub === 0,
    )!;
    assert.equal(first.model, 'special');
    assert.equal(first.temperature, 0.1);
    assert.equal(first.messages[0]!.content, 'You are agent one.');
    const other = agentReqs.find((q) => (classify(q) as { sub: number }).sub === 1)!;
    assert.equal(other.model, 'base');
    assert.equal(other.temperature, 0.5);
  });

  it('an agent that hangs past agentTimeoutMs is marked timeout and the others are kept', async () => {
    const model = script((sub) => (sub === 2 ? { hang: true } : { content: `answer ${sub}` }));
    const r = await runHeavy(QUESTION, { model, modelId: 'm', tools, agentTimeoutMs: 50 });
    assert.deepEqual(
      r.agents.map((a) => a.status),
      ['ok', 'ok', 'timeout', 'ok'],
    );
    assert.equal(r.agents[2]!.error?.code, 'E_TIMEOUT');
    assert.equal(r.answer, 'combined');
    const synth = model.requests.find((q) => classify(q).kind === 'combine')!;
    const text = JSON.stringify(synth.messages);
    assert.ok(text.includes('answer 0') && text.includes('answer 3') && !text.includes('answer 2'));
  });

  it('the overall deadline marks unfinished agents timeout and still combines what finished', async () => {
    const model = script((sub) => (sub >= 2 ? { hang: true } : { content: `answer ${sub}` }));
    const r = await runHeavy(QUESTION, {
      model,
      modelId: 'm',
      tools,
      timeoutMs: 200,
      combineTimeoutMs: 10_000,
    });
    assert.deepEqual(
      r.agents.map((a) => a.status),
      ['ok', 'ok', 'timeout', 'timeout'],
    );
    assert.equal(r.answer, 'combined');
  });

  it('a user abort cancels unfinished agents and concatenates what finished without a combine call', async () => {
    const controller = new AbortController();
    let answered = 0;
    const model = script((sub) => {
      if (sub >= 2) return { hang: true };
      if (++answered === 2) setTimeout(() => controller.abort(new Error('SIGINT')), 20);
      return { content: `answer ${sub}` };
    });
    const events: HeavyEvent[] = [];
    const r = await runHeavy(QUESTION, {
      model,
      modelId: 'm',
      tools,
      signal: controller.signal,
      onEvent: (e) => events.push(e),
    });
    assert.deepEqual(
      r.agents.map((a) => a.status),
      ['ok', 'ok', 'cancelled', 'cancelled'],
    );
    assert.equal(model.requests.filter((q) => classify(q).kind === 'combine').length, 0);
    assert.ok(r.answer?.includes('answer 0') && r.answer.includes('answer 1'));
    const done = events.find((e) => e.type === 'combine_done');
    assert.ok(done?.type === 'combine_done' && done.fallback === true);
  });

  it('no successful agent gives a null answer', async () => {
    const model = script(() => ({ error: new Error('HTTP 500') }));
    const r = await runHeavy(QUESTION, { model, modelId: 'm', tools });
    assert.equal(r.answer, null);
    assert.ok(r.agents.every((a) => a.status === 'failed'));
  });

  it('concurrency bounds how many agents run at once', async () => {
    let inFlight = 0;
    let peak = 0;
    const model = script(() => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      setTimeout(() => inFlight--, 15);
      return { content: 'x', delayMs: 15 };
    });
    const r = await runHeavy(QUESTION, { model, modelId: 'm', tools, concurrency: 2, strategy: 'concat' });
    assert.equal(peak, 2);
    assert.ok(r.agents.every((a) => a.status === 'ok'));
  });

  it('validates its options, naming the field and the value', async () => {
    const model = script(() => ({ content: 'x' }));
    for (const [opts, field] of [
      [{ agents: 0 }, 'agents'],
      [{ agents: 65 }, 'agents'],
      [{ agents: 2.5 }, 'agents'],
      [{ strategy: 'majority' }, 'strategy'],
      [{ timeoutMs: -1 }, 'timeoutMs'],
      [{ maxIterations: 0 }, 'maxIterations'],
    ] as const) {
      await assert.rejects(
        runHeavy(QUESTION, { model, modelId: 'm', tools, ...(opts as object) }),
        (e: { code?: string; message?: string }) =>
          e.code === 'E_INVALID_INPUT' && e.message!.startsWith(field),
      );
    }
    assert.equal(model.requests.length, 0);
  });
});
