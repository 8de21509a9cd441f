/** `marshal heavy --max-tokens-total / --max-cost` from the command line (main() in-process, fake upstream). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HeavyResult } from '../../src/agents/index.ts';
import { type FakeScript, type RecordedRequest, startFakeOpenAIServer } from '../../src/testing/index.ts';
import { runMain } from '../helpers/run-main.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

function kind(req: RecordedRequest): 'decompose' | 'combine' | 'slow' | 'fast' {
  const t = JSON.stringify(req.body);
  if (t.includes('orchestrator')) return 'decompose';
  if (t.includes('research agents each investigated')) return 'combine';
  return t.includes('Your sub-question') && t.includes('Slow angle?') ? 'slow' : 'fast';
}

async function run(script: FakeScript, args: string[]) {
  const server = await startFakeOpenAIServer(script);
  try {
    return await runMain(['heavy', '--base-url', server.url, ...args], { cwd: ROOT, env: { NO_COLOR: '1' } });
  } finally {
    await server.close();
  }
}

const script: FakeScript = (req) => {
  const k = kind(req);
  if (k === 'decompose')
    return {
      content: JSON.stringify(['Fast angle?', 'Slow angle?']),
      usage: { prompt_tokens: 5, completion_tokens: 5, cost: 0.001 },
    };
  if (k === 'slow') return { hang: true };
  if (k === 'combine') return { content: 'never' };
  return { content: 'The fast answer.', usage: { prompt_tokens: 30, completion_tokens: 20, cost: 0.01 } };
};

describe('heavy budgets on the command line', { timeout: 60_000 }, () => {
  it('--max-tokens-total: the JSON result says the budget stopped the run; stderr warns without --json', async () => {
    const r = await run(script, ['-n', '2', '--max-tokens-total', '60', '--json', 'Q?']);
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout) as HeavyResult;
    assert.deepEqual(result.stoppedBy, {
      reason: 'budget',
      budget: 'maxTokensTotal',
      limit: 60,
      used: 60,
      reserve: 0.1,
    });
    assert.deepEqual(
      result.agents.map((a) => a.status),
      ['ok', 'cancelled'],
    );
    assert.equal(result.answer, 'The fast answer.');
    const human = await run(script, ['-n', '2', '--max-cost', '0.01', 'Q?']);
    assert.equal(human.code, 0, human.stderr);
    assert.equal(human.stdout, 'The fast answer.\n');
    assert.match(human.stderr, /the budget \(--max-cost \$0\.01\) stopped the agents/);
  });

  it('refuses bad values by flag name (exit 2)', async () => {
    for (const [flag, value] of [
      ['--max-cost', '0'],
      ['--max-cost', 'abc'],
      ['--max-tokens-total', '1.5'],
      ['--max-tokens-total', '0'],
    ] as const) {
      const r = await runMain(['heavy', flag, value, 'Q?'], { cwd: ROOT, env: { NO_COLOR: '1' } });
      assert.equal(r.code, 2, `${flag} ${value}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(flag), r.stderr);
    }
  });
});
