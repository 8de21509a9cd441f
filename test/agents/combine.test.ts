import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageMeter } from '../../src/agents/chat-once.ts';
import {
  type AgentAnswer,
  combine,
  parseVerdict,
  shortAnswer,
  tallyVotes,
} from '../../src/agents/combine/index.ts';
import type { HeavyEvent } from '../../src/agents/events.ts';
import { DEFAULT_PROMPTS } from '../../src/agents/prompts.ts';
import { createScriptedModel } from '../../src/testing/index.ts';

const QUESTION = 'What is the capital of France?';
const answers: AgentAnswer[] = [
  {
    id: 'agent-1',
    question: 'History of Paris?',
    answer: 'Paris has been the capital since 987.\nAnswer: Paris',
  },
  { id: 'agent-2', question: 'Government seat?', answer: 'Answer: paris.' },
  { id: 'agent-3', question: 'Alternatives?', answer: 'Some say Lyon.\nFinal answer: Lyon' },
];

function ctx(replies: Parameters<typeof createScriptedModel>[0], list: AgentAnswer[] = answers) {
  const model = createScriptedModel(replies);
  const events: HeavyEvent[] = [];
  return {
    model,
    events,
    context: {
      model,
      modelId: 'combiner',
      question: QUESTION,
      answers: list,
      prompts: DEFAULT_PROMPTS,
      onEvent: (e: HeavyEvent) => events.push(e),
    },
  };
}

describe('combine', () => {
  it('synthesize: one call that sees the original question and every answer with its sub-question', async () => {
    const { model, context } = ctx([
      { content: 'Paris.', usage: { promptTokens: 100, completionTokens: 2 } },
    ]);
    const r = await combine('synthesize', context);
    assert.equal(r.answer, 'Paris.');
    assert.equal(r.fallback, false);
    assert.deepEqual(r.usage, { promptTokens: 100, completionTokens: 2, costUsd: null });
    assert.equal(model.requests.length, 1);
    const prompt = model.requests[0]!.messages.map((m) => m.content).join('\n');
    assert.ok(prompt.includes(QUESTION));
    for (const a of answers) assert.ok(prompt.includes(a.question) && prompt.includes(a.answer));
    assert.equal(model.requests[0]!.model, 'combiner');
    assert.equal(model.requests[0]!.tools, undefined);
  });

  it('judge: returns the chosen answer verbatim, with the reason as the note', async () => {
    const { model, context } = ctx([{ content: '```json\n{"best": 3, "reason": "most nuanced"}\n```' }]);
    const r = await combine('judge', context);
    assert.equal(r.answer, answers[2]!.answer);
    assert.match(r.note ?? '', /agent-3: most nuanced/);
    assert.equal(model.requests[0]!.responseSchema?.name, 'verdict');
  });

  it('judge: an out-of-range verdict falls back to concatenation and says so', async () => {
    const { context } = ctx([{ content: '{"best": 9, "reason": "x"}' }]);
    const r = await combine('judge', context);
    assert.equal(r.fallback, true);
    assert.match(r.note ?? '', /judge failed/);
    for (const a of answers) assert.ok(r.answer!.includes(a.answer.trim()));
  });

  it('vote: the majority of normalised short answers wins without any call', async () => {
    const { model, context } = ctx([]);
    const r = await combine('vote', context);
    assert.equal(r.answer, answers[0]!.answer);
    assert.match(r.note ?? '', /2 of 3 agents agreed/);
    assert.equal(model.requests.length, 0);
  });

  it('vote: a tie is broken by a judge call over one answer per group', async () => {
    const tie = [answers[0]!, answers[2]!];
    const { model, context } = ctx([{ content: '{"best": 2, "reason": "better sourced"}' }], tie);
    const r = await combine('vote', context);
    assert.equal(r.answer, answers[2]!.answer);
    assert.equal(model.requests.length, 1);
    assert.match(r.note ?? '', /tie/);
  });

  it('debate: each agent revises in parallel seeing the others, then one synthesis over the revisions', async () => {
    const { model, context } = ctx((req) => {
      const text = JSON.stringify(req.messages);
      if (text.includes('Compare notes')) {
        const own = answers.find((a) =>
          text.includes(JSON.stringify(`Your answer was:\n\n${a.answer}`).slice(1, -1)),
        );
        return { content: `revised by ${own?.id ?? '?'}` };
      }
      return { content: 'final synthesis' };
    });
    const r = await combine('debate', {
      ...context,
      agentModelIds: { 'agent-1': 'm1', 'agent-2': 'm2', 'agent-3': 'm3' },
    });
    assert.equal(r.answer, 'final synthesis');
    assert.equal(model.requests.length, 4);
    const revisions = model.requests.slice(0, 3);
    assert.deepEqual(revisions.map((q) => q.model).sort(), ['m1', 'm2', 'm3']);
    for (const req of revisions) {
      const text = JSON.stringify(req.messages);
      assert.ok(text.includes(QUESTION));
      assert.equal(answers.filter((a) => text.includes(a.question)).length, 3, 'own and the others');
    }
    const synth = JSON.stringify(model.requests[3]!.messages);
    for (const id of ['agent-1', 'agent-2', 'agent-3']) assert.ok(synth.includes(`revised by ${id}`));
    assert.equal(r.usage.promptTokens, 40);
  });

  it('concat: no call; every answer under its sub-question', async () => {
    const { model, context } = ctx([]);
    const r = await combine('concat', context);
    assert.equal(model.requests.length, 0);
    for (const a of answers) assert.ok(r.answer!.includes(`${a.id}: ${a.question}`));
  });

  it('a failing synthesis falls back to concat, keeps the usage and says so', async () => {
    const { context } = ctx([{ error: new Error('HTTP 503') }]);
    const meter = new UsageMeter();
    const r = await combine('synthesize', { ...context, meter });
    assert.equal(r.fallback, true);
    assert.match(r.note ?? '', /HTTP 503/);
    assert.ok(r.answer!.includes('Lyon'));
  });

  it('one answer is returned as is and zero answers give null, both without a call', async () => {
    const one = ctx([], [answers[1]!]);
    assert.equal((await combine('synthesize', one.context)).answer, answers[1]!.answer);
    const none = ctx([], []);
    assert.equal((await combine('judge', none.context)).answer, null);
    assert.equal(one.model.requests.length + none.model.requests.length, 0);
  });

  it('an aborted signal skips the LLM call and concatenates', async () => {
    const controller = new AbortController();
    controller.abort(new Error('user'));
    const { model, context } = ctx([{ content: 'never' }]);
    const r = await combine('synthesize', { ...context, signal: controller.signal });
    assert.equal(model.requests.length, 0);
    assert.equal(r.fallback, true);
  });
});

describe('vote helpers and verdicts', () => {
  it('shortAnswer takes the last Answer: line, normalised', () => {
    assert.equal(shortAnswer('blah\n**Answer:** Paris.\n'), 'paris');
    assert.equal(shortAnswer('  Forty   Two! '), 'forty two');
  });

  it('tallyVotes reports every leader on a tie', () => {
    const { leaders } = tallyVotes([answers[0]!, answers[2]!]);
    assert.equal(leaders.length, 2);
  });

  it('parseVerdict accepts prose and string numbers and refuses bad indices', () => {
    assert.deepEqual(parseVerdict('I pick {"best": "2", "reason": "r"}.', 3), { index: 1, reason: 'r' });
    assert.equal(parseVerdict('{"best": 0}', 3), undefined);
    assert.equal(parseVerdict('{"best": 1.5}', 3), undefined);
    assert.equal(parseVerdict('none', 3), undefined);
  });
});
