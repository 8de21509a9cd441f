/**
 * One settings table (settings.ts): the library's checks, marshal.yaml and the CLI share each
 * setting's default and bounds, and library errors name settings, never CLI flags.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createAgentRuntime,
  marshalConfigSchema,
  resolveSettings,
  runHeavy,
  SETTINGS,
  ToolRegistry,
} from '../../src/agents/index.ts';
import { createScriptedModel } from '../../src/testing/index.ts';
import { runMain } from '../helpers/run-main.ts';

const model = createScriptedModel(() => ({ content: '["a"]' }));
const none = { config: {}, path: undefined, trust: 'none' as const, ignored: [] };

describe('settings table', () => {
  it('maxIterations has one upper bound everywhere: library, marshal.yaml and the CLI', async () => {
    const max = SETTINGS.maxIterations.schema.maxValue!;
    assert.equal(max, 100);
    await assert.rejects(
      runHeavy('q', { model, modelId: 'm', tools: new ToolRegistry([]), maxIterations: max + 1 }),
      /^InvalidInputError: maxIterations: expected an integer from 1 to 100, got 101$/,
    );
    assert.equal(marshalConfigSchema.safeParse({ agent: { maxIterations: max + 1 } }).success, false);
    assert.equal(marshalConfigSchema.safeParse({ agent: { maxIterations: max } }).success, true);
    const r = await runMain(['heavy', '--max-iterations', String(max + 1), 'q'], { env: {} });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--max-iterations must be an integer from 1 to 100, got "101"/);
  });

  it('the default agent count comes from the table (library, settings, help)', async () => {
    const n = SETTINGS.agents.default;
    assert.equal(resolveSettings({}, none, '/').agents, n);
    const subs = Array.from({ length: n }, (_, i) => `sub ${i}`);
    const scripted = createScriptedModel((req) =>
      JSON.stringify(req.messages).includes('orchestrator')
        ? { content: JSON.stringify(subs) }
        : { content: 'x' },
    );
    const result = await runHeavy('q', { model: scripted, modelId: 'm', tools: new ToolRegistry([]) });
    assert.equal(result.agents.length, n);
    const help = await runMain(['heavy', '--help'], { env: {} });
    assert.match(help.stdout, new RegExp(`--agents <N> +number of agents \\(1-64\\) \\(default: ${n}\\)`));
  });

  it('library errors name the setting, not a CLI flag', async () => {
    await assert.rejects(
      runHeavy('q', { model, modelId: 'm', tools: new ToolRegistry([]), agents: 65 }),
      /^InvalidInputError: agents: expected an integer from 1 to 64, got 65$/,
    );
    const settings = { ...resolveSettings({}, none, '/'), baseUrl: 'file:///etc/passwd' };
    await assert.rejects(
      createAgentRuntime(settings, { env: {} }),
      /^InvalidInputError: baseUrl: expected an http or https URL, got "file:\/\/\/etc\/passwd"$/,
    );
    await assert.rejects(
      createAgentRuntime(resolveSettings({}, none, '/'), { env: {} }),
      (e: Error & { hint?: string }) => {
        assert.match(e.message, /OPENROUTER_API_KEY/);
        assert.doesNotMatch(`${e.message} ${e.hint ?? ''}`, /--/);
        return true;
      },
    );
  });
});
