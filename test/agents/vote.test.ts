/**
 * `vote` as self-consistency (Wang et al. 2022) over HTTP against the fake server: no
 * decomposition, the same question for every agent with the `Answer:` instruction, the majority of
 * the normalised final answers wins, a tie goes to a judge call.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { shortAnswer } from '../../src/agents/combine/index.ts';
import { createOpenAICompatibleModel, ToolRegistry } from '../../src/agents/index.ts';
import { runHeavy } from '../../src/agents/run-heavy.ts';
import { type FakeReply, type RecordedRequest, startFakeOpenAIServer } from '../../src/testing/index.ts';

const QUESTION = 'What is six times seven?';

type Body = { messages: Array<{ role: string; content: string | null }> };

function isJudge(req: RecordedRequest): boolean {
  return JSON.stringify(req.body).includes('candidate answers');
}

async function voteRun(
  replies: string[],
  judge: FakeReply = { content: '{"best": 2, "reason": "shown work"}' },
) {
  let next = 0;
  const server = await startFakeOpenAIServer((req) => {
    if (isJudge(req)) return judge;
    return { content: replies[next++ % replies.length]! };
  });
  try {
    const model = createOpenAICompatibleModel({ baseUrl: server.url, retries: 0 });
    const result = await runHeavy(QUESTION, {
      model,
      modelId: 'fake/model',
      tools: new ToolRegistry([]),
      agents: replies.length,
      strategy: 'vote',
      timeoutMs: 60_000,
    });
    return { result, requests: server.chatRequests() };
  } finally {
    await server.close();
  }
}

describe('vote = self-consistency', () => {
  it('four answers ending in Answer: 42 in different prose: 42 wins, no decomposition, no judge', async () => {
    const { result, requests } = await voteRun([
      'Six sevens: 7+7+7+7+7+7 = 42.\nAnswer: 42',
      'Multiplying, 6 x 7 gives forty-two.\n\n**Answer:** 42.0',
      'I recall the times table.\nanswer: 42.',
      'Let me compute: 6*7.\nThat is 42, not 48.\nAnswer: 42',
    ]);
    assert.equal(requests.length, 4, 'one call per agent: no decomposition, no judge');
    assert.equal(requests.filter(isJudge).length, 0);
    for (const req of requests) {
      const body = req.body as Body;
      const system = body.messages.find((m) => m.role === 'system')?.content ?? '';
      const user = body.messages.find((m) => m.role === 'user')?.content ?? '';
      assert.equal(user, QUESTION, 'every agent gets the same question, verbatim');
      assert.match(system, /end your reply with one last line of exactly this form:\nAnswer: /);
    }
    assert.deepEqual(result.subQuestions, [QUESTION, QUESTION, QUESTION, QUESTION]);
    assert.match(result.answer ?? '', /Answer: 42/);
    assert.equal(result.agents.filter((a) => a.status === 'ok').length, 4);
  });

  it('the majority wins over a minority: 3 x "Paris" against 1 x "Lyon"', async () => {
    const { result, requests } = await voteRun([
      'Answer: Lyon',
      'It is Paris.\nAnswer: Paris',
      'Answer: "paris"',
      'Answer: PARIS!',
    ]);
    assert.equal(requests.filter(isJudge).length, 0);
    assert.match(result.answer ?? '', /Paris/);
  });

  it('a 2-2 tie goes to one judge call over one answer per group', async () => {
    const { result, requests } = await voteRun(['Answer: 41', 'Answer: 42', 'Answer: 41.0', 'Answer: 42']);
    const judges = requests.filter(isJudge);
    assert.equal(judges.length, 1);
    const judgeText = JSON.stringify(judges[0]!.body);
    assert.match(judgeText, /Here are 2 candidate answers/);
    assert.equal(result.answer, 'Answer: 42');
  });

  it('shortAnswer: the last Answer: line, trimmed, case and trailing punctuation dropped, numbers in one form', () => {
    assert.equal(shortAnswer('Answer: 1\nmore thought\nAnswer: 42.0.'), '42');
    assert.equal(shortAnswer('- **Final answer:** +42.50'), '42.5');
    assert.equal(shortAnswer('Answer: 1,000'), '1000');
    assert.equal(shortAnswer('Answer: -0.0'), '0');
    assert.equal(shortAnswer('Answer:   The   Eiffel Tower!  '), 'the eiffel tower');
    assert.equal(shortAnswer('Answer: 007'), '7');
    assert.notEqual(shortAnswer('Answer: 42'), shortAnswer('Answer: 4.2'));
  });
});
