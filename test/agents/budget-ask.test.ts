/**
 * Budgets beyond `heavy`'s flags: `marshal ask --max-tokens-total / --max-cost` and the
 * `budget:` section of marshal.yaml (for both commands; a flag replaces the file's value).
 * main() in-process against the fake upstream.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { HeavyResult } from '../../src/agents/index.ts';
import { type FakeScript, startFakeOpenAIServer } from '../../src/testing/index.ts';
import { runMain } from '../helpers/run-main.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'marshal-budget-ask-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The agent first asks for a tool (60 tokens), then would answer (never reached under a budget of 50). */
const askScript: FakeScript = (req) => {
  const hasToolResult = JSON.stringify(req.body).includes('"role":"tool"');
  if (!hasToolResult) {
    return {
      content: 'Working on it: 6*7 first.',
      toolCalls: [{ name: 'calculate', arguments: { expression: '6*7' } }],
      usage: { prompt_tokens: 40, completion_tokens: 20, cost: 0.02 },
    };
  }
  return { content: 'The answer is 42.', usage: { prompt_tokens: 50, completion_tokens: 5, cost: 0.01 } };
};

async function run(script: FakeScript, args: string[]) {
  const server = await startFakeOpenAIServer(script);
  try {
    const r = await runMain([args[0]!, '--base-url', server.url, ...args.slice(1)], {
      cwd: dir,
      env: { NO_COLOR: '1' },
    });
    return { ...r, calls: server.chatRequests().length };
  } finally {
    await server.close();
  }
}

describe('ask budgets and the budget: section of marshal.yaml', { timeout: 60_000 }, () => {
  it('ask --max-tokens-total: no call after the budget; the partial text is the answer (exit 0, stoppedBy)', async () => {
    const r = await run(askScript, ['ask', '--max-tokens-total', '50', '--json', 'What is 6*7?']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.calls, 1, 'the second call must not start');
    const out = JSON.parse(r.stdout) as { status: string; answer: string; stoppedBy: unknown };
    assert.equal(out.status, 'cancelled');
    assert.equal(out.answer, 'Working on it: 6*7 first.');
    assert.deepEqual(out.stoppedBy, {
      reason: 'budget',
      budget: 'maxTokensTotal',
      limit: 50,
      used: 60,
      reserve: 0,
    });
    const human = await run(askScript, ['ask', '--max-cost', '0.02', 'What is 6*7?']);
    assert.equal(human.code, 0, human.stderr);
    assert.equal(human.stdout, 'Working on it: 6*7 first.\n');
    assert.match(human.stderr, /warning: the budget \(--max-cost \$0\.02\) stopped the agent/);
  });

  it('ask without a budget reached says stoppedBy null and answers normally', async () => {
    const r = await run(askScript, ['ask', '--max-tokens-total', '1000', '--json', 'What is 6*7?']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.calls, 2);
    const out = JSON.parse(r.stdout) as { status: string; answer: string; stoppedBy: unknown };
    assert.equal(out.status, 'ok');
    assert.equal(out.answer, 'The answer is 42.');
    assert.equal(out.stoppedBy, null);
  });

  it('marshal.yaml budget: applies to ask and heavy; a flag replaces it; the reserve is read', async () => {
    const config = join(dir, 'budget.yaml');
    await writeFile(config, 'budget:\n  maxTokensTotal: 50\n  reserve: 0.5\n');
    const fromFile = await run(askScript, ['ask', '--config', config, '--json', 'What is 6*7?']);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.equal(fromFile.calls, 1);
    assert.equal((JSON.parse(fromFile.stdout) as { stoppedBy: { limit: number } }).stoppedBy.limit, 50);
    const overridden = await run(askScript, [
      'ask',
      '--config',
      config,
      '--max-tokens-total',
      '1000',
      '--json',
      'What is 6*7?',
    ]);
    assert.equal(overridden.calls, 2, overridden.stderr);

    const heavyScript: FakeScript = (req) => {
      const t = JSON.stringify(req.body);
      if (t.includes('orchestrator')) {
        return { content: JSON.stringify(['A?', 'B?']), usage: { prompt_tokens: 10, completion_tokens: 10 } };
      }
      if (t.includes('research agents each investigated')) return { content: 'combined' };
      return { content: 'an answer', usage: { prompt_tokens: 10, completion_tokens: 10 } };
    };
    const heavy = await run(heavyScript, ['heavy', '-n', '2', '--config', config, '--json', 'Q?']);
    assert.equal(heavy.code, 0, heavy.stderr);
    const result = JSON.parse(heavy.stdout) as HeavyResult;
    assert.equal(result.stoppedBy?.budget, 'maxTokensTotal');
    assert.equal(result.stoppedBy?.reserve, 0.5);
  });

  it('refuses a bad budget in marshal.yaml, naming the key (exit 2)', async () => {
    for (const [text, key] of [
      ['budget:\n  maxCost: -1\n', /budget\.maxCost/],
      ['budget:\n  maxTokensTotal: 2.5\n', /budget\.maxTokensTotal/],
      ['budget:\n  reserve: 0.95\n', /budget\.reserve/],
      ['budget:\n  maxDollars: 3\n', /budget.*maxDollars|maxDollars/],
    ] as const) {
      const config = join(dir, 'bad.yaml');
      await writeFile(config, text);
      const r = await runMain(['ask', '--config', config, 'Q?'], { cwd: dir, env: { NO_COLOR: '1' } });
      assert.equal(r.code, 2, `${text}: ${r.stderr}`);
      assert.match(r.stderr, key, r.stderr);
    }
  });
});
