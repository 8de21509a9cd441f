import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadMarshalConfig } from '../../src/agents/index.ts';
import { CONFIG_KINDS, configSchemaDocument } from '../../src/cli/config-schema.ts';
import { runMain } from '../helpers/run-main.ts';

/** main() in-process: printing a schema needs no process of its own. */
const runCli = (args: string[]) => runMain(args, { env: {} });

describe('marshal config schema', () => {
  it('prints the JSON Schema of marshal.yaml by default (strict objects, bounds, enums)', async () => {
    const r = await runCli(['config', 'schema']);
    assert.equal(r.code, 0, r.stderr);
    const schema = JSON.parse(r.stdout) as {
      title: string;
      additionalProperties: boolean;
      properties: Record<
        string,
        { properties: Record<string, Record<string, unknown>>; additionalProperties: boolean }
      >;
    };
    assert.equal(schema.title, 'marshal');
    assert.equal(schema.additionalProperties, false);
    assert.deepEqual(Object.keys(schema.properties).sort(), [
      'agent',
      'budget',
      'heavy',
      'mcp',
      'output',
      'prompts',
      'provider',
      'tools',
    ]);
    const heavy = schema.properties.heavy!;
    assert.equal(heavy.additionalProperties, false);
    assert.equal(heavy.properties.agents!.maximum, 64);
    assert.deepEqual(heavy.properties.strategy!.enum, ['synthesize', 'judge', 'vote', 'debate', 'concat']);
    assert.ok(schema.properties.provider!.properties.apiKeyEnv, 'the variable name, never the key');
    assert.equal(schema.properties.provider!.properties.apiKey, undefined);
  });

  it('`marshal config schema marshal` equals the default, and an unknown kind exits 2 with a suggestion', async () => {
    const named = await runCli(['config', 'schema', 'marshal']);
    assert.deepEqual(JSON.parse(named.stdout), configSchemaDocument('marshal'));
    const bad = await runCli(['config', 'schema', 'marshall']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown kind "marshall" \(did you mean "marshal"\?\)/);
  });

  it('marshal.yaml may be empty: every setting has a default', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'marshal-schema-'));
    try {
      await writeFile(join(dir, 'marshal.yaml'), '# nothing set\n');
      assert.deepEqual((await loadMarshalConfig({ cwd: dir, env: {} })).config, {});
      assert.equal(CONFIG_KINDS.marshal!.schema.safeParse({}).success, true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('prints the cluster file and environment file schemas, strict at the top level', async () => {
    for (const [kind, required] of [
      ['cluster', 'nodes'],
      ['env', 'start'],
    ] as const) {
      const r = await runCli(['config', 'schema', kind]);
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout) as {
        title: string;
        additionalProperties: unknown;
        properties: object;
      };
      assert.equal(doc.title, kind);
      assert.equal(doc.additionalProperties, false);
      assert.ok(required in doc.properties, `${kind} schema lacks ${required}`);
    }
  });
});
