/**
 * The completion shape check (wire-format.ts readCompletion, hand-written for speed): what it
 * accepts, what it drops (the lenient fields) and how it names the offending field.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCompletion } from '../../src/agents/providers/wire-format.ts';
import { MarshalError } from '../../src/core/errors.ts';

const ok = (message: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  choices: [{ message, finish_reason: 'stop' }],
  ...extra,
});

function rejects(body: unknown, path: RegExp): void {
  assert.throws(
    () => parseCompletion(body, 'http://x/v1'),
    (err: unknown) => {
      assert.ok(err instanceof MarshalError);
      assert.equal(err.code, 'E_LLM_RESPONSE');
      assert.match(err.message, path);
      return true;
    },
  );
}

describe('parseCompletion shape check', () => {
  it('reads content, tool calls (string or object arguments), usage, model and reasoning', () => {
    const r = parseCompletion(
      ok(
        {
          content: 'hi',
          tool_calls: [
            { id: 'a', type: 'function', function: { name: 't', arguments: '{"x":1}' } },
            { function: { name: 'u', arguments: { y: 2 } } },
          ],
          reasoning: 'because',
          unknown_field: [1, 2, 3],
        },
        { model: 'm1', usage: { prompt_tokens: 3, completion_tokens: 4, cost: 0.5 }, id: 'x' },
      ),
      'e',
    );
    assert.equal(r.content, 'hi');
    assert.equal(r.model, 'm1');
    assert.equal(r.reasoning, 'because');
    assert.deepEqual(r.usage, { promptTokens: 3, completionTokens: 4, costUsd: 0.5 });
    assert.equal(r.toolCalls[0]!.id, 'a');
    assert.equal(r.toolCalls[0]!.arguments, '{"x":1}');
    assert.equal(r.toolCalls[1]!.arguments, '{"y":2}');
    assert.match(r.toolCalls[1]!.id, /^call_[0-9a-f]{24}$/);
  });

  it('joins content parts and accepts null content, null tool_calls and null usage', () => {
    const parts = parseCompletion(
      ok({ content: [{ type: 'text', text: 'a' }, { type: 'image' }, { text: 'b' }] }),
      'e',
    );
    assert.equal(parts.content, 'ab');
    const empty = parseCompletion(ok({ content: null, tool_calls: null }, { usage: null }), 'e');
    assert.equal(empty.content, null);
    assert.deepEqual(empty.toolCalls, []);
    assert.deepEqual(empty.usage, { promptTokens: 0, completionTokens: 0, costUsd: null });
  });

  it('drops wrongly typed lenient fields instead of refusing the reply', () => {
    const r = parseCompletion(
      ok(
        { content: 'x', reasoning: 42, reasoning_content: { a: 1 }, reasoning_details: 'nope' },
        { usage: { prompt_tokens: -1, completion_tokens: Number.NaN, cost: 'free' } },
      ),
      'e',
    );
    assert.equal(r.content, 'x');
    assert.equal(r.reasoning, undefined);
    assert.equal(r.reasoningDetails, undefined);
    assert.deepEqual(r.usage, { promptTokens: 0, completionTokens: 0, costUsd: null });
  });

  it('names the field that is wrong', () => {
    rejects('just a string', /\(root\): expected object, received string/);
    rejects([], /\(root\): expected object, received array/);
    rejects({}, /choices: expected array, received undefined/);
    rejects({ choices: [] }, /choices: expected at least 1 choice/);
    rejects({ choices: [null] }, /choices\.0: expected object, received null/);
    rejects({ choices: [{}] }, /choices\.0\.message: expected object/);
    rejects(ok({ content: 7 }), /choices\.0\.message\.content: expected string, null or an array/);
    rejects(
      ok({ content: [{ text: 3 }] }),
      /choices\.0\.message\.content\.0\.text: expected string, received number/,
    );
    rejects(
      ok({ tool_calls: {} }),
      /choices\.0\.message\.tool_calls: expected array or null, received object/,
    );
    rejects(
      ok({ tool_calls: [{ function: { name: 1 } }] }),
      /tool_calls\.0\.function\.name: expected string/,
    );
    rejects(
      ok({ tool_calls: [{ function: { name: 'a', arguments: 5 } }] }),
      /arguments: expected string or object/,
    );
    rejects(
      ok({ tool_calls: [{ id: 5, function: { name: 'a' } }] }),
      /tool_calls\.0\.id: expected string or null/,
    );
    rejects(
      { choices: [{ message: {}, finish_reason: 1 }] },
      /choices\.0\.finish_reason: expected string or null/,
    );
    rejects(
      { choices: [{ message: {} }, { message: 3 }] },
      /choices\.1\.message: expected object, received number/,
    );
    rejects(ok({}, { model: 5 }), /model: expected string, received number/);
    rejects(ok({}, { usage: 'lots' }), /usage: expected object, received string/);
  });
});
