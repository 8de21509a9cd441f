/**
 * Budgets of a heavy run against the fake server reporting usage and cost: once reached, no new
 * call starts, running ones are cancelled (the server sees them closed), and the combine step
 * runs over what finished within the reserve; the result says which budget stopped the run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createBuiltinTools,
  createOpenAICompatibleModel,
  type HeavyEvent,
  type HeavyResult,
  runHeavy,
  ToolRegistry,
} from '../../src/agents/index.ts';
import { type FakeScript, type RecordedRequest, startFakeOpenAIServer } from '../../src/testing/index.ts';

const QUESTION = 'Why is the sky blue?';
const SUBS = ['Physics of scattering?', 'Why not violet?', 'Sunsets?'];

function kind(req: RecordedRequest): 'decompose' | 'combine' | 'physics' | 'violet' | 'sunsets' {
  const text = JSON.stringify(req.body);
  if (text.includes('orchestrator')) return 'decompose';
  if (text.includes('research agents each investigated')) return 'combine';
  if (text.includes('Your sub-question') && text.includes('Why not violet?')) return 'violet';
  if (text.includes('Your sub-question') && text.includes('Sunsets?')) return 'sunsets';
  return 'physics';
}

async function heavy(script: FakeScript, budget: NonNullable<Parameters<typeof runHeavy>[1]['budget']>) {
  const server = await startFakeOpenAIServer(script);
  const events: HeavyEvent[] = [];
  try {
    const model = createOpenAICompatibleModel({ baseUrl: server.url, retries: 0 });
    const result: HeavyResult = await runHeavy(QUESTION, {
      model,
      modelId: 'fake/model',
      tools: new ToolRegistry(createBuiltinTools({ workspace: process.cwd() })),
      agents: 3,
      timeoutMs: 60_000,
      budget,
      onEvent: (e) => events.push(e),
    });
    return { result, server, events };
  } finally {
    await server.close();
  }
}

const usage = (prompt: number, completion: number, cost?: number) => ({
  prompt_tokens: prompt,
  completion_tokens: completion,
  ...(cost === undefined ? {} : { cost }),
});

describe('budgets', { timeout: 60_000 }, () => {
  it('--max-tokens-total: reached, the running agents are cancelled, no new call starts, the result says so', async () => {
    let physicsCalls = 0;
    const { result, server, events } = await heavy(
      (req) => {
        const k = kind(req);
        if (k === 'decompose') return { content: JSON.stringify(SUBS), usage: usage(10, 10) };
        if (k === 'physics') {
          physicsCalls++;
          // Wants a tool, then would ask again: the budget must stop that second call.
          return {
            content: 'Rayleigh scattering, so far.',
            toolCalls: [{ name: 'calculate', arguments: { expression: '1+1' } }],
            usage: usage(80, 20),
            delayMs: 50,
          };
        }
        return { hang: true };
      },
      { maxTokensTotal: 100, reserve: 0.1 },
    );
    assert.deepEqual(result.stoppedBy, {
      reason: 'budget',
      budget: 'maxTokensTotal',
      limit: 100,
      used: 120,
      reserve: 0.1,
    });
    assert.equal(physicsCalls, 1, 'no new call started after the budget was reached');
    const statuses = Object.fromEntries(result.agents.map((a) => [a.question, a.status]));
    assert.deepEqual(statuses, {
      'Physics of scattering?': 'cancelled',
      'Why not violet?': 'cancelled',
      'Sunsets?': 'cancelled',
    });
    // The hanging calls were really cancelled: the server saw their clients go away.
    const hung = server.chatRequests().filter((r) => kind(r) === 'violet' || kind(r) === 'sunsets');
    assert.equal(hung.length, 2);
    for (const r of hung) await server.waitForClientClose(r.index);
    // Partial work of the cancelled agent is what is left (one text: no combining call).
    assert.equal(result.answer, 'Rayleigh scattering, so far.');
    assert.equal(server.chatRequests().filter((r) => kind(r) === 'combine').length, 0);
    assert.ok(events.some((e) => e.type === 'budget_reached' && e.budget === 'maxTokensTotal'));
  });

  it('--max-cost: the combine step runs over what finished within the reserve; a token budget bounds its reply', async () => {
    const { result, server } = await heavy(
      (req) => {
        const k = kind(req);
        if (k === 'decompose') return { content: JSON.stringify(SUBS), usage: usage(5, 5, 0.001) };
        if (k === 'combine')
          return { content: 'Combined: scattering, and why not violet.', usage: usage(50, 10, 0.004) };
        if (k === 'sunsets') return { hang: true };
        return { content: `Answer about ${k}.`, usage: usage(20, 10, 0.01) };
      },
      { maxCostUsd: 0.025, maxTokensTotal: 10_000, reserve: 0.2 },
    );
    assert.equal(result.stoppedBy?.budget, 'maxCost');
    assert.equal(result.stoppedBy?.limit, 0.025);
    assert.ok(Math.abs((result.stoppedBy?.used ?? 0) - 0.021) < 1e-9, String(result.stoppedBy?.used));
    assert.deepEqual(
      result.agents.map((a) => a.status),
      ['ok', 'ok', 'cancelled'],
    );
    assert.equal(result.answer, 'Combined: scattering, and why not violet.');
    const combineReq = server.chatRequests().find((r) => kind(r) === 'combine')!;
    const body = combineReq.body as { max_tokens?: number; messages: Array<{ content: string }> };
    // The combining call saw the two finished answers, and its reply is bounded by what is left of the token budget.
    assert.match(body.messages[0]!.content, /Answer about physics/);
    assert.match(body.messages[0]!.content, /Answer about violet/);
    assert.equal(body.max_tokens, 10_000 - 70);
    assert.ok(Math.abs((result.usage.costUsd ?? 0) - 0.025) < 1e-9);
  });

  it('a budget not reached changes nothing but says stoppedBy null', async () => {
    const { result } = await heavy(
      (req) => {
        const k = kind(req);
        if (k === 'decompose') return { content: JSON.stringify(SUBS), usage: usage(1, 1) };
        if (k === 'combine') return { content: 'all three', usage: usage(1, 1) };
        return { content: `Answer about ${k}.`, usage: usage(1, 1) };
      },
      { maxTokensTotal: 1000 },
    );
    assert.equal(result.stoppedBy, null);
    assert.equal(result.answer, 'all three');
  });

  it('refuses a budget without a limit and out-of-range values, naming the field', async () => {
    const model = createOpenAICompatibleModel({ baseUrl: 'http://127.0.0.1:9/v1' });
    const base = { model, modelId: 'm', tools: new ToolRegistry([]) };
    await assert.rejects(runHeavy(QUESTION, { ...base, budget: {} }), /budget/);
    await assert.rejects(runHeavy(QUESTION, { ...base, budget: { maxTokensTotal: 0 } }), /maxTokensTotal/);
    await assert.rejects(runHeavy(QUESTION, { ...base, budget: { maxCostUsd: -1 } }), /maxCostUsd/);
  });
});
