import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decompose, normalizeQuestion, parseSubQuestions } from '../../src/agents/decompose.ts';
import type { HeavyEvent } from '../../src/agents/events.ts';
import { extractJson } from '../../src/agents/extract-json.ts';
import { DEFAULT_PROMPTS, fallbackSubQuestions } from '../../src/agents/prompts.ts';
import { createScriptedModel } from '../../src/testing/index.ts';

const Q = 'How do solar panels work?';

function run(n: number, replies: Parameters<typeof createScriptedModel>[0]) {
  const model = createScriptedModel(replies);
  const events: HeavyEvent[] = [];
  const result = decompose({
    model,
    modelId: 'm',
    question: Q,
    n,
    prompt: DEFAULT_PROMPTS.decompose,
    onEvent: (e) => events.push(e),
  });
  return { model, events, result };
}

describe('parseSubQuestions', () => {
  it('accepts a bare array, a fenced array, prose around it and an object holding it', () => {
    const want = ['a?', 'b?'];
    for (const text of [
      '["a?", "b?"]',
      'Sure:\n```json\n["a?", "b?"]\n```',
      'Here [1] are the questions: ["a?", "b?"] hope that helps',
      '{"questions": ["a?", "b?"]}',
    ]) {
      assert.deepEqual(parseSubQuestions(text, 2), { ok: true, questions: want }, text);
    }
  });

  it('names the problem: wrong count, duplicates after normalisation, empty items, no array', () => {
    assert.match(
      (parseSubQuestions('["a", "b", "c"]', 4) as { problem: string }).problem,
      /3 questions instead of exactly 4/,
    );
    assert.match(
      (parseSubQuestions('["What is X?", "what is  x"]', 2) as { problem: string }).problem,
      /appeared twice/,
    );
    assert.match((parseSubQuestions('["a", "  "]', 2) as { problem: string }).problem, /empty/);
    assert.match((parseSubQuestions('no json here', 2) as { problem: string }).problem, /JSON array/);
    assert.match((parseSubQuestions(null, 2) as { problem: string }).problem, /empty/);
  });

  it('accepts what models really return: objects with a question field, lists, N+1 items, <think>', () => {
    const cases: Array<[string, string[]]> = [
      ['[{"question": "a?"}, {"question": "b?", "angle": "x"}]', ['a?', 'b?']],
      ['{"subQuestions": [{"q": "a?"}, {"text": "b?"}]}', ['a?', 'b?']],
      ['Sure:\n1. a?\n2) b?\n', ['a?', 'b?']],
      ['Here they are\n- a?\n* b?\n• c?', ['a?', 'b?']],
      ['["a?", "b?", "c?"]', ['a?', 'b?']],
      ['["a?", "A?", "b?"]', ['a?', 'b?']],
      ['<think>maybe ["x?", "y?"]</think>\n```json\n["a?", "b?"]\n```', ['a?', 'b?']],
    ];
    for (const [text, want] of cases) {
      assert.deepEqual(parseSubQuestions(text, 2), { ok: true, questions: want }, text);
    }
    assert.equal(parseSubQuestions('<think>["x?", "y?"]</think>', 2).ok, false);
  });

  it('normalises case, spacing and trailing punctuation', () => {
    assert.equal(normalizeQuestion('  What   is X?? '), 'what is x');
  });
});

describe('extractJson', () => {
  it('skips candidates the predicate refuses and respects strings with brackets', () => {
    assert.deepEqual(
      extractJson('see [1] and ["x ] y", "z"]', (v) => Array.isArray(v) && typeof v[0] === 'string'),
      ['x ] y', 'z'],
    );
    assert.equal(extractJson('nothing'), undefined);
  });
});

describe('fallbackSubQuestions', () => {
  it('gives N distinct questions for any N (the original crashed above 4)', () => {
    for (const n of [1, 4, 7, 8, 9, 64]) {
      const qs = fallbackSubQuestions(Q, n);
      assert.equal(qs.length, n);
      assert.equal(new Set(qs.map(normalizeQuestion)).size, n);
      for (const q of qs) assert.ok(q.includes(Q));
    }
  });
});

describe('decompose', () => {
  it('N = 1 makes no call and uses the question itself', async () => {
    const { model, result } = run(1, []);
    assert.deepEqual((await result).subQuestions, [Q]);
    assert.equal(model.requests.length, 0);
  });

  it('one tool-less structured call with the question and N in the prompt', async () => {
    const { model, result, events } = run(3, [
      { content: '["q1?", "q2?", "q3?"]', usage: { promptTokens: 7, completionTokens: 3 } },
    ]);
    const r = await result;
    assert.deepEqual(r.subQuestions, ['q1?', 'q2?', 'q3?']);
    assert.equal(r.fallback, false);
    assert.deepEqual(r.usage, { promptTokens: 7, completionTokens: 3, costUsd: null });
    const req = model.requests[0]!;
    assert.equal(req.tools, undefined);
    assert.equal(req.responseSchema?.name, 'sub_questions');
    const text = JSON.stringify(req.messages);
    assert.ok(text.includes(Q) && text.includes('exactly 3'));
    assert.deepEqual(
      events.map((e) => e.type),
      ['decompose_start', 'llm_request', 'llm_response', 'decompose_done'],
    );
  });

  it('retries once, telling the model what was wrong, and counts both calls', async () => {
    const { model, result } = run(2, [
      { content: '["only one"]' },
      { content: '```json\n["a?", "b?"]\n```' },
    ]);
    const r = await result;
    assert.deepEqual(r.subQuestions, ['a?', 'b?']);
    assert.equal(r.usage.promptTokens, 20);
    const retry = model.requests[1]!.messages.at(-1)!;
    assert.equal(retry.role, 'user');
    assert.match(retry.content as string, /1 questions instead of exactly 2/);
  });

  it('falls back to angle templates for N = 7 after two bad replies, with the reason', async () => {
    const { model, result, events } = run(7, [
      { content: 'I think you should...' },
      { content: '["a", "a", "b", "c", "d", "e", "f"]' },
    ]);
    const r = await result;
    assert.equal(model.requests.length, 2);
    assert.equal(r.fallback, true);
    assert.match(r.reason ?? '', /appeared twice/);
    assert.deepEqual(r.subQuestions, fallbackSubQuestions(Q, 7));
    const done = events.find((e) => e.type === 'decompose_done');
    assert.ok(done?.type === 'decompose_done' && done.fallback);
  });

  it('falls back when the calls throw', async () => {
    const boom = { error: new Error('HTTP 500') };
    const r = await run(4, [boom, boom]).result;
    assert.equal(r.fallback, true);
    assert.match(r.reason ?? '', /HTTP 500/);
    assert.equal(r.subQuestions.length, 4);
  });

  it('stops at once on abort and falls back', async () => {
    const controller = new AbortController();
    const model = createScriptedModel([{ hang: true }, { content: '["a", "b"]' }]);
    const p = decompose({
      model,
      modelId: 'm',
      question: Q,
      n: 2,
      prompt: DEFAULT_PROMPTS.decompose,
      signal: controller.signal,
    });
    setImmediate(() => controller.abort(new Error('stop')));
    const r = await p;
    assert.equal(r.fallback, true);
    assert.equal(model.requests.length, 1);
  });
});
