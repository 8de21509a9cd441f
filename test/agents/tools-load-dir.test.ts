import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { executeToolCall } from '../../src/agents/execute-tool-call.ts';
import { createBuiltinTools, loadToolsDir, ToolRegistry } from '../../src/agents/index.ts';
import { MarshalError } from '../../src/core/errors.ts';

const fixtures = join(import.meta.dirname, '../fixtures/agents');
let mixed: string;

// The fixture is copied to a temp dir and a module with a syntax error is added there, because a
// syntax error cannot live in the repository (the linter parses every file).
before(async () => {
  mixed = await mkdtemp(join(tmpdir(), 'marshal-tools-dir-'));
  await cp(join(fixtures, 'tools-mixed'), mixed, { recursive: true });
  await symlink(join(import.meta.dirname, '../../node_modules'), join(mixed, 'node_modules'));
  await writeFile(join(mixed, 'broken-syntax.mjs'), "export default { name: 'broken' description: 'x' };\n");
});
after(async () => {
  await rm(mixed, { recursive: true, force: true });
});

describe('loadToolsDir', () => {
  it('loads the good modules and reports each broken one with its path', async () => {
    const dir = mixed;
    const { tools, errors } = await loadToolsDir(dir);
    assert.deepEqual(
      tools.map((t) => t.name),
      ['reverse_text', 'word_count'],
    );
    const byFile = new Map(errors.map((e) => [e.path, e.message]));
    assert.deepEqual([...byFile.keys()].sort(), [
      join(dir, 'bad-shape.mjs'),
      join(dir, 'broken-syntax.mjs'),
      join(dir, 'no-exports.mjs'),
      join(dir, 'throws-on-import.mjs'),
    ]);
    assert.match(byFile.get(join(dir, 'broken-syntax.mjs'))!, /^import failed: /);
    assert.match(byFile.get(join(dir, 'throws-on-import.mjs'))!, /plug-in failed to initialise/);
    assert.match(byFile.get(join(dir, 'bad-shape.mjs'))!, /no_execute: execute must be a function/);
    assert.match(byFile.get(join(dir, 'no-exports.mjs'))!, /exports no tool definitions/);
  });

  it('loaded tools work in a registry next to the built-ins, with validation', async () => {
    const { tools } = await loadToolsDir(mixed);
    const registry = new ToolRegistry(createBuiltinTools({ workspace: '/tmp', allowWrite: true })).with(
      tools,
    );
    const specs = registry.specs();
    const reverse = specs.find((s) => s.name === 'reverse_text')!;
    assert.deepEqual(reverse.parameters.required, ['text']);
    const wordCount = specs.find((s) => s.name === 'word_count')!;
    assert.deepEqual(wordCount.parameters, {
      type: 'object',
      properties: { text: { type: 'string' }, min_length: { type: 'integer' } },
      required: ['text'],
    });
    const run = (name: string, args: string) =>
      executeToolCall(
        { id: 'c', name, arguments: args },
        {
          agentId: 'a',
          tools: registry,
          signal: new AbortController().signal,
          workspace: '/ws',
          timeoutMs: 5000,
          maxOutputChars: 1000,
        },
      );
    assert.equal((await run('reverse_text', '{"text":"abc"}')).content, 'cba');
    assert.deepEqual(JSON.parse((await run('word_count', '{"text":"a bb ccc","min_length":2}')).content), {
      words: 2,
      workspace: '/ws',
    });
    const missing = await run('word_count', '{}');
    assert.equal(missing.ok, false);
    assert.match(missing.content, /text: is required/);
    const wrongType = await run('word_count', '{"text":"x","min_length":1.5}');
    assert.match(wrongType.content, /min_length: expected integer/);
    assert.match((await run('reverse_text', '[1]')).content, /Invalid arguments for reverse_text/);
  });

  it('reports a name defined twice and keeps the first', async () => {
    const dir = join(fixtures, 'tools-duplicate');
    const { tools, errors } = await loadToolsDir(dir);
    assert.deepEqual(
      tools.map((t) => t.description),
      ['first'],
    );
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.path, join(dir, 'b.mjs'));
    assert.match(errors[0]!.message, /same_name is already defined by .*a\.mjs/);
  });

  it('a missing directory is E_TOOLS_DIR', async () => {
    await assert.rejects(loadToolsDir(join(fixtures, 'does-not-exist')), (err: unknown) => {
      assert.ok(err instanceof MarshalError);
      assert.equal(err.code, 'E_TOOLS_DIR');
      assert.equal(err.exitCode, 2);
      return true;
    });
  });
});

describe('ToolRegistry', () => {
  const tools = createBuiltinTools({ workspace: '/tmp', allowWrite: true });

  it('keeps the original tool names and parameters', () => {
    const specs = new ToolRegistry(tools).specs();
    const params = Object.fromEntries(
      specs.map((s) => [s.name, [Object.keys(s.parameters.properties as object), s.parameters.required]]),
    );
    assert.deepEqual(params, {
      search_web: [['query', 'max_results'], ['query']],
      calculate: [['expression'], ['expression']],
      read_file: [['path', 'head', 'tail'], ['path']],
      write_file: [
        ['path', 'content', 'append'],
        ['path', 'content'],
      ],
      mark_task_complete: [
        ['task_summary', 'completion_message'],
        ['task_summary', 'completion_message'],
      ],
    });
    for (const s of specs) {
      assert.equal(s.parameters.type, 'object');
      assert.equal(s.parameters.$schema, undefined);
    }
  });

  it('rejects duplicate and malformed names; with/without build new registries', () => {
    assert.throws(() => new ToolRegistry([...tools, tools[1]!]), /"calculate" is defined twice/);
    assert.throws(() => new ToolRegistry([{ ...tools[1]!, name: 'bad name' }]), /is invalid/);
    const base = new ToolRegistry(tools);
    assert.deepEqual(base.without(['mark_task_complete']).names(), [
      'search_web',
      'calculate',
      'read_file',
      'write_file',
    ]);
    assert.equal(base.size, 5);
    assert.equal(base.get('calculate')?.name, 'calculate');
    assert.equal(base.get('__proto__'), undefined);
  });
});
