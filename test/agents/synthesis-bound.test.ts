/**
 * The synthesis prompt is bounded: each agent's answer is cut to its share of the combining
 * model's context (setting contextTokens, ~4 characters a token) with a note, so four 1 MB answers
 * do not make a 4 MB request. Checked on the request body the fake server received.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { boundAnswer } from '../../src/agents/combine/index.ts';
import { createOpenAICompatibleModel, ToolRegistry } from '../../src/agents/index.ts';
import { runHeavy } from '../../src/agents/run-heavy.ts';
import { type RecordedRequest, startFakeOpenAIServer } from '../../src/testing/index.ts';

const MB = 1024 * 1024;
const SUBS = ['First angle?', 'Second angle?', 'Third angle?', 'Fourth angle?'];

function kind(req: RecordedRequest): 'decompose' | 'combine' | 'agent' {
  const text = JSON.stringify(req.body);
  if (text.includes('orchestrator')) return 'decompose';
  if (text.includes('research agents each investigated')) return 'combine';
  return 'agent';
}

async function synthesisOfHugeAnswers(contextTokens?: number) {
  const server = await startFakeOpenAIServer((req) => {
    const k = kind(req);
    if (k === 'decompose') return { content: JSON.stringify(SUBS) };
    if (k === 'combine') return { content: 'FINAL' };
    const i = SUBS.findIndex((s) => JSON.stringify(req.body).includes(s));
    return { content: `START-${i + 1} ${'y'.repeat(MB)} END-${i + 1}` };
  });
  try {
    const model = createOpenAICompatibleModel({ baseUrl: server.url, retries: 0 });
    const result = await runHeavy('Q?', {
      model,
      modelId: 'fake/model',
      tools: new ToolRegistry([]),
      agents: 4,
      timeoutMs: 120_000,
      ...(contextTokens === undefined ? {} : { contextTokens }),
    });
    const combine = server.chatRequests().filter((r) => kind(r) === 'combine');
    return { result, combine };
  } finally {
    await server.close();
  }
}

describe('bounded synthesis prompt', () => {
  it('four 1 MB answers: the synthesis request stays within the default 128k-token context', async () => {
    const { result, combine } = await synthesisOfHugeAnswers();
    assert.equal(result.answer, 'FINAL');
    assert.equal(combine.length, 1);
    const bytes = combine[0]!.bodyBytes;
    // 128k tokens x 4 chars x 3/4 for the answers, plus the prompt: far below the 4 MB of the answers.
    assert.ok(bytes < 128_000 * 4, `synthesis body is ${bytes} bytes`);
    assert.ok(bytes > 128_000 * 4 * 0.7, `each answer keeps its share (${bytes} bytes)`);
    const prompt = JSON.stringify(combine[0]!.body);
    for (let i = 1; i <= 4; i++) {
      assert.match(prompt, new RegExp(`START-${i} `), 'the start of every answer is kept');
      assert.doesNotMatch(prompt, new RegExp(`END-${i}`), 'the end did not fit');
    }
    assert.equal(prompt.match(/answer cut: the first \d+ of 1048590 characters shown/g)?.length, 4);
  });

  it('contextTokens bounds it further', async () => {
    const { combine } = await synthesisOfHugeAnswers(8_000);
    assert.ok(combine[0]!.bodyBytes < 8_000 * 4, `${combine[0]!.bodyBytes} bytes`);
  });

  it('boundAnswer keeps short answers and never splits a surrogate pair', () => {
    assert.equal(boundAnswer('  short  ', 100), 'short');
    const cut = boundAnswer(`a${'😀'.repeat(10)}`, 2);
    assert.ok(cut.startsWith('a\n[... answer cut: the first 1 of 21'), cut);
  });
});
