/**
 * The JSON shapes and bounds of `provider: local` (issue 10), without the engine: strings are
 * bounded so that a whole reply fits in its token budget, and a cut answer is recovered.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  budgetedSchema,
  grammarSchema,
  MAX_STRING,
  partialAnswer,
  skeletonChars,
  stringSlots,
  TOKENS_PER_CHAR,
  toolReplySchema,
} from '../../src/agents/providers/local-grammar.ts';

const DECOMPOSE = {
  type: 'object',
  properties: {
    questions: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 3, maxItems: 3 },
  },
  required: ['questions'],
  additionalProperties: false,
};
const SEARCH = {
  name: 'search_web',
  description: 'search',
  parameters: {
    type: 'object',
    properties: { query: { type: 'string' }, max_results: { type: 'integer' } },
    required: ['query'],
  },
};
const READ = {
  name: 'read_file',
  description: 'read',
  parameters: { type: 'object', properties: { path: { type: 'string' }, lines: { type: 'integer' } } },
};

/** Worst-case tokens of a value of `schema`: skeleton at 1 a character, strings at TOKENS_PER_CHAR. */
function worstTokens(schema: Record<string, unknown>): number {
  const longest = (s: Record<string, unknown>): number => {
    if (Array.isArray(s.oneOf)) return Math.max(...s.oneOf.map((a) => longest(a)));
    if (s.type === 'string') return (s.maxLength as number) * TOKENS_PER_CHAR;
    if (s.type === 'array') return (s.maxItems as number) * longest(s.items as Record<string, unknown>);
    if (s.type === 'object')
      return Object.values(s.properties as Record<string, Record<string, unknown>>).reduce(
        (n, p) => n + longest(p),
        0,
      );
    return 0;
  };
  if (Array.isArray(schema.oneOf)) return Math.max(...schema.oneOf.map((a) => worstTokens(a)));
  return skeletonChars(schema) + longest(schema);
}

describe('local provider grammar', () => {
  it('reduces a schema to what the grammar supports, keeping only required properties', () => {
    assert.deepEqual(grammarSchema(READ.parameters, 50), {
      type: 'object',
      properties: { path: { type: 'string', maxLength: 50 }, lines: { type: 'integer' } },
    });
    assert.deepEqual(grammarSchema(SEARCH.parameters, 50), {
      type: 'object',
      properties: { query: { type: 'string', maxLength: 50 } },
    });
    // A minLength above the bound wins (the grammar cannot satisfy min > max).
    assert.deepEqual(grammarSchema({ type: 'string', minLength: 8 }, 3), {
      type: 'string',
      minLength: 8,
      maxLength: 8,
    });
    assert.deepEqual(grammarSchema({ type: ['string', 'null'] }, 5), { type: 'string', maxLength: 5 });
  });

  it('bounds the decomposition strings so that all N questions fit in the budget', () => {
    for (const maxTokens of [64, 256, 2048, 100_000]) {
      const schema = budgetedSchema(DECOMPOSE, maxTokens);
      const items = (schema.properties as { questions: { items: { maxLength: number } } }).questions.items;
      assert.equal(stringSlots(schema), 3);
      assert.ok(items.maxLength >= 1 && items.maxLength <= MAX_STRING, `maxLength ${items.maxLength}`);
      if (maxTokens >= 256)
        assert.ok(worstTokens(schema) <= maxTokens, `${worstTokens(schema)} > ${maxTokens}`);
    }
    // The default budget leaves real sub-questions room.
    const roomy = budgetedSchema(DECOMPOSE, 2048).properties as {
      questions: { items: { maxLength: number } };
    };
    assert.ok(roomy.questions.items.maxLength >= 150);
  });

  it('fits tool calls (fewer of them when the budget is small) and gives the answer the whole budget', () => {
    for (const maxTokens of [256, 1024, 4096]) {
      const schema = toolReplySchema([SEARCH, READ], maxTokens) as { oneOf: Record<string, unknown>[] };
      const [calls, answer] = schema.oneOf as [Record<string, unknown>, Record<string, unknown>];
      // 256 tokens cannot hold even one call's worst-case skeleton (a newline and indentation at
      // every separator, a token a character): the smallest shape is used.
      if (maxTokens > 256) {
        assert.ok(worstTokens(calls) <= maxTokens, `tool calls: ${worstTokens(calls)} > ${maxTokens}`);
      }
      const array = (calls.properties as { tool_calls: { maxItems: number; minItems: number } }).tool_calls;
      assert.ok(array.minItems === 1 && array.maxItems >= 1 && array.maxItems <= 4);
      assert.deepEqual(answer, {
        type: 'object',
        properties: { answer: { type: 'string', maxLength: Math.min(MAX_STRING, maxTokens * 4) } },
      });
    }
    const small = toolReplySchema([SEARCH, READ], 256) as {
      oneOf: [{ properties: { tool_calls: { maxItems: number } } }];
    };
    const large = toolReplySchema([SEARCH, READ], 4096) as {
      oneOf: [{ properties: { tool_calls: { maxItems: number } } }];
    };
    assert.equal(small.oneOf[0].properties.tool_calls.maxItems, 1);
    assert.equal(large.oneOf[0].properties.tool_calls.maxItems, 4);
    assert.deepEqual(toolReplySchema([], 100), {
      type: 'object',
      properties: { answer: { type: 'string', maxLength: 400 } },
    });
  });

  it('recovers the text of an answer cut anywhere, escapes included', () => {
    const full = JSON.stringify({ answer: 'sky "blue"\n\u00e9 \\ end' });
    const expected = 'sky "blue"\n\u00e9 \\ end';
    for (let cut = 12; cut <= full.length; cut++) {
      const text = partialAnswer(full.slice(0, cut));
      assert.ok(text !== undefined && expected.startsWith(text), `cut ${cut}: ${JSON.stringify(text)}`);
    }
    assert.equal(partialAnswer(full), expected);
    assert.equal(partialAnswer('{ "answer" : "abc\\u00'), 'abc');
    assert.equal(partialAnswer('{"tool_calls":[{"name":"x"'), undefined);
    assert.equal(partialAnswer('plain text'), undefined);
  });
});
