/**
 * runHeavy over HTTP against the fake server (issue 9): a hung decomposition leaves the agents
 * their time, partial work is combined when no agent finished, a refused key ends the run at once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createOpenAICompatibleModel, ToolRegistry } from '../../src/agents/index.ts';
import { fallbackSubQuestions } from '../../src/agents/prompts.ts';
import { combineInputs, runHeavy } from '../../src/agents/run-heavy.ts';
import { type FakeScript, type RecordedRequest, startFakeOpenAIServer } from '../../src/testing/index.ts';

const QUESTION = 'Why is the sky blue?';
const SUBS = ['Physics of scattering?', 'Why not violet?'];

function kind(req: RecordedRequest): 'decompose' | 'combine' | 'agent' {
  const text = JSON.stringify(req.body);
  if (text.includes('orchestrator')) return 'decompose';
  if (text.includes('research agents each investigated')) return 'combine';
  return 'agent';
}

async function heavy(script: FakeScript, options: Partial<Parameters<typeof runHeavy>[1]> = {}) {
  const server = await startFakeOpenAIServer(script);
  try {
    const model = createOpenAICompatibleModel({ baseUrl: server.url, retries: 1, baseDelayMs: 1 });
    const result = await runHeavy(QUESTION, {
      model,
      modelId: 'fake/model',
      tools: new ToolRegistry([]),
      agents: 2,
      timeoutMs: 60_000,
      ...options,
    }).catch((error: unknown) => error);
    return { result, requests: server.chatRequests() };
  } finally {
    await server.close();
  }
}

describe('runHeavy over HTTP', { timeout: 30_000 }, () => {
  it('a hung decomposition falls back to the angles within its own bound and the agents still run', async () => {
    const { result, requests } = await heavy(
      (req) => {
        const k = kind(req);
        if (k === 'decompose') return { hang: true };
        if (k === 'combine') return { content: 'combined' };
        return { content: 'an answer' };
      },
      { decomposeTimeoutMs: 200 },
    );
    assert.ok(!(result instanceof Error), String(result));
    const r = result as Awaited<ReturnType<typeof runHeavy>>;
    assert.deepEqual(r.subQuestions, fallbackSubQuestions(QUESTION, 2));
    assert.deepEqual(
      r.agents.map((a) => a.status),
      ['ok', 'ok'],
    );
    assert.equal(r.answer, 'combined');
    assert.equal(requests.filter((q) => kind(q) === 'agent').length, 2);
  });

  it('when no agent finished, the combine step runs over their partial work, marked partial', async () => {
    const { result, requests } = await heavy(
      (req) => {
        const k = kind(req);
        if (k === 'decompose') return { content: JSON.stringify(SUBS) };
        if (k === 'combine') return { content: 'combined from partial work' };
        // Each agent says something and asks for a tool, then has no iteration left.
        return {
          content: `Partial finding for ${JSON.stringify(req.body).includes('violet') ? 'violet' : 'physics'}`,
          toolCalls: [{ name: 'unknown_tool', arguments: {} }],
        };
      },
      { maxIterations: 1 },
    );
    assert.ok(!(result instanceof Error), String(result));
    const r = result as Awaited<ReturnType<typeof runHeavy>>;
    assert.deepEqual(
      r.agents.map((a) => [a.status, a.answer]),
      [
        ['max_iterations', 'Partial finding for physics'],
        ['max_iterations', 'Partial finding for violet'],
      ],
    );
    assert.equal(r.answer, 'combined from partial work');
    assert.equal(r.partial, true);
    const combineRequest = requests.find((q) => kind(q) === 'combine');
    assert.ok(combineRequest, 'the combine step ran');
    const sent = JSON.stringify(combineRequest.body);
    assert.match(sent, /partial: max_iterations/);
    assert.match(sent, /Partial finding for violet/);
  });

  it("a timed-out agent's last text is kept and labelled; finished answers come first", () => {
    const base = {
      toolCalls: [],
      usage: { promptTokens: 0, completionTokens: 0, costUsd: null },
      durationMs: 1,
    };
    const timedOut = {
      ...base,
      id: 'agent-1',
      question: 'a?',
      status: 'timeout' as const,
      answer: 'half done',
      error: { code: 'E_TIMEOUT', message: 'timed out' },
    };
    const failed = { ...timedOut, id: 'agent-2', status: 'failed' as const, answer: null };
    assert.deepEqual(combineInputs([timedOut, failed]), {
      answers: [{ id: 'agent-1', question: 'a?', answer: 'half done', partial: 'timeout' }],
      partial: true,
    });
    const ok = { ...timedOut, id: 'agent-3', status: 'ok' as const, answer: 'full', error: null };
    assert.deepEqual(combineInputs([timedOut, ok]), {
      answers: [{ id: 'agent-3', question: 'a?', answer: 'full' }],
      partial: false,
    });
  });

  it('a 401 ends the run after the first reply with E_LLM_REFUSED (exit 2)', async () => {
    const { result, requests } = await heavy(() => ({ status: 401 }), { agents: 4 });
    assert.equal(requests.length, 1);
    assert.ok(result instanceof Error);
    assert.equal((result as { code?: string }).code, 'E_LLM_REFUSED');
    assert.equal((result as { exitCode?: number }).exitCode, 2);
  });

  it('an unknown model reported by an agent ends the run and names the model', async () => {
    const { result, requests } = await heavy((req) =>
      kind(req) === 'decompose'
        ? { content: JSON.stringify(SUBS) }
        : { status: 404, body: { error: { message: 'No endpoints found for fake/model.' } } },
    );
    assert.ok(result instanceof Error);
    assert.equal((result as { code?: string }).code, 'E_LLM_REFUSED');
    assert.match((result as { hint?: string }).hint ?? '', /fake\/model/);
    // Both agents start at once; nothing is asked after the refusal.
    assert.ok(requests.length <= 3, `requests: ${requests.length}`);
  });
});
