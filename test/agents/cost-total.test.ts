/** costUsd totals are summed in integer nano-dollars: no float noise such as 0.011193000000000002. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createOpenAICompatibleModel, ToolRegistry } from '../../src/agents/index.ts';
import { addCost, addUsage, ZERO_USAGE } from '../../src/agents/model.ts';
import { runHeavy } from '../../src/agents/run-heavy.ts';
import { startFakeOpenAIServer } from '../../src/testing/index.ts';

const COSTS = [0.001193, 0.0022, 0.0045, 0.0033];

describe('cost totals', () => {
  it('plain float addition of these costs gives 0.011193000000000002; addUsage gives 0.011193', () => {
    assert.equal(
      COSTS.reduce((a, b) => a + b, 0),
      0.011193000000000002,
      'the float noise this test is about',
    );
    let u = ZERO_USAGE;
    for (const c of COSTS) u = addUsage(u, { promptTokens: 1, completionTokens: 1, costUsd: c });
    assert.equal(u.costUsd, 0.011193);
    assert.equal(addCost(0.1, 0.2), 0.3);
    assert.equal(addUsage(ZERO_USAGE, ZERO_USAGE).costUsd, null);
  });

  it('a heavy run whose calls cost these amounts reports 0.011193 in its result', async () => {
    let i = 0;
    const server = await startFakeOpenAIServer((req) => {
      const text = JSON.stringify(req.body);
      const cost = COSTS[i++ % COSTS.length]!;
      const usage = { prompt_tokens: 1, completion_tokens: 1, cost };
      if (text.includes('orchestrator')) return { content: '["a?", "b?"]', usage: { ...usage, cost: 0 } };
      if (text.includes('research agents')) return { content: 'final', usage };
      return { content: 'answer', usage };
    });
    try {
      const result = await runHeavy('Q?', {
        model: createOpenAICompatibleModel({ baseUrl: server.url, retries: 0 }),
        modelId: 'm',
        tools: new ToolRegistry([]),
        agents: 2,
        timeoutMs: 60_000,
      });
      // decomposition (cost 0 but consumes COSTS[0]), two agents and the synthesis: three of COSTS.
      // In float, 0 + 0.0022 + 0.0045 + 0.0033 is 0.009999999999999998.
      assert.equal(result.usage.costUsd, 0.01);
    } finally {
      await server.close();
    }
  });
});
