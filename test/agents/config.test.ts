import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  DEFAULT_BASE_URL,
  DEFAULT_MODEL,
  loadMarshalConfig,
  resolveSettings,
} from '../../src/agents/index.ts';
import { DEFAULT_PROMPTS } from '../../src/agents/prompts.ts';
import { MarshalError } from '../../src/core/errors.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'marshal-config-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function load(text: string, name = 'marshal.yaml') {
  await writeFile(join(dir, name), text);
  return loadMarshalConfig({ configPath: name, cwd: dir, env: { MODEL: 'env/model' } });
}

async function configError(text: string): Promise<MarshalError> {
  try {
    await load(text);
  } catch (err) {
    assert.ok(err instanceof MarshalError);
    assert.equal(err.code, 'E_CONFIG');
    assert.equal(err.exitCode, 2);
    return err;
  }
  assert.fail('expected E_CONFIG');
}

describe('marshal.yaml', () => {
  it('defaults apply when there is no file (and ./marshal.yaml is optional)', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'marshal-noconfig-'));
    try {
      const loaded = await loadMarshalConfig({ cwd: empty, env: {} });
      assert.equal(loaded.path, undefined);
      const s = resolveSettings({}, loaded, empty);
      assert.equal(s.baseUrl, DEFAULT_BASE_URL);
      assert.equal(s.model, DEFAULT_MODEL);
      assert.equal(s.agents, 4);
      assert.equal(s.timeoutMs, 300_000);
      assert.equal(s.maxIterations, 10);
      assert.equal(s.strategy, 'synthesize');
      assert.equal(s.workspace, empty);
      assert.deepEqual(s.prompts, { ...DEFAULT_PROMPTS });
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('an explicit --config that does not exist is an error naming it', async () => {
    await assert.rejects(
      loadMarshalConfig({ configPath: 'nope.yaml', cwd: dir, env: {} }),
      /nope\.yaml: config file not found/,
    );
  });

  it('reads every section; flags win; config paths resolve against the file, flag paths against cwd', async () => {
    const loaded = await load(
      [
        'provider:',
        '  model: ${MODEL}',
        '  baseUrl: http://127.0.0.1:9/v1',
        '  apiKeyEnv: MY_KEY',
        'agent: {maxIterations: 5, temperature: 0.3}',
        'heavy:',
        '  agents: 8',
        '  strategy: judge',
        '  timeout: 60',
        '  agentTimeout: 20',
        '  decomposeModel: small',
        '  combineModel: big',
        '  perAgent:',
        '    - {model: a1, temperature: 0.9, systemPrompt: "be brief"}',
        'tools: {workspace: ws, dir: tools}',
        'prompts:',
        '  synthesize: "Q: {question}\\n{agent_responses}"',
        'output: {trace: t.jsonl}',
      ].join('\n'),
    );
    const fromFile = resolveSettings({}, loaded, '/elsewhere');
    assert.equal(fromFile.model, 'env/model');
    assert.equal(fromFile.apiKeyEnv, 'MY_KEY');
    assert.equal(fromFile.agents, 8);
    assert.equal(fromFile.strategy, 'judge');
    assert.equal(fromFile.timeoutMs, 60_000);
    assert.equal(fromFile.agentTimeoutMs, 20_000);
    assert.equal(fromFile.maxIterations, 5);
    assert.equal(fromFile.temperature, 0.3);
    assert.equal(fromFile.decomposeModel, 'small');
    assert.equal(fromFile.perAgent[0]?.systemPrompt, 'be brief');
    assert.equal(fromFile.workspace, join(dir, 'ws'));
    assert.equal(fromFile.toolsDir, join(dir, 'tools'));
    assert.equal(fromFile.trace, join(dir, 't.jsonl'));
    assert.equal(fromFile.prompts.synthesize, 'Q: {question}\n{agent_responses}');
    assert.equal(fromFile.prompts.decompose, DEFAULT_PROMPTS.decompose);
    const flags = resolveSettings(
      { agents: 2, strategy: 'vote', model: 'cli', workspace: 'w2', timeoutS: 1.5 },
      loaded,
      '/cwd',
    );
    assert.equal(flags.agents, 2);
    assert.equal(flags.strategy, 'vote');
    assert.equal(flags.model, 'cli');
    assert.equal(flags.workspace, '/cwd/w2');
    assert.equal(flags.timeoutMs, 1500);
  });

  it('an unknown strategy names the setting (not a CLI flag) and the value', async () => {
    assert.throws(
      () =>
        resolveSettings(
          { strategy: 'majority' },
          { config: {}, path: undefined, trust: 'none', ignored: [] },
          '/',
        ),
      /^InvalidInputError: strategy: expected one of synthesize, judge, vote, debate, concat, got "majority"$/,
    );
  });

  it('errors name the file, line, key path and value', async () => {
    let e = await configError('heavy:\n  agents: 100\n');
    assert.match(e.message, /marshal\.yaml:2: heavy\.agents: .*100/);
    e = await configError('heavy:\n  strategy: majority\n');
    assert.match(e.message, /heavy\.strategy: .*"majority"/);
    e = await configError('provider:\n  apiKey: sk-or-v1-abcdefghijklmnopqrstuvwxyz\n');
    assert.match(e.message, /provider\.apiKey: unknown key/);
    assert.ok(!e.message.includes('abcdefghijklmnop'), 'the key itself is never echoed');
    e = await configError('provider:\n  apiKeyEnv: "sk-or-v1 oops"\n');
    assert.match(e.message, /provider\.apiKeyEnv: expected an environment variable NAME/);
    e = await configError('prompts:\n  synthesize: "combine these"\n');
    assert.match(
      e.message,
      /prompts\.synthesize: the synthesize prompt must keep the placeholders \{question\}, \{agent_responses\}/,
    );
    e = await configError('heavy:\n  perAgent:\n    - {model: x, temprature: 1}\n');
    assert.match(e.message, /heavy\.perAgent\[0\]\.temprature: unknown key .*temperature/);
  });

  it('Make It Heavy placeholder names are accepted in prompts', async () => {
    const loaded = await load(
      'prompts:\n  decompose: "Split {user_input} into {num_agents} questions as a JSON array"\n',
    );
    assert.match(resolveSettings({}, loaded, dir).prompts.decompose, /\{user_input\}/);
  });
});
