import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AGENT_ERRORS } from '../../src/agents/errors.ts';
import { AbortedError, MarshalError } from '../../src/core/errors.ts';
import { createScriptedModel } from '../../src/testing/index.ts';

const req = (content: string, signal?: AbortSignal) => ({
  model: 'm',
  messages: [{ role: 'user' as const, content }],
  ...(signal ? { signal } : {}),
});

describe('createScriptedModel', () => {
  it('answers in order, records requests (without the signal) and fails clearly when exhausted', async () => {
    const model = createScriptedModel([
      { content: 'one', usage: { promptTokens: 1, completionTokens: 2, costUsd: 0.1 } },
      { toolCalls: [{ name: 'calculate', arguments: { expression: '1' } }] },
    ]);
    const first = await model.chat(req('a', new AbortController().signal));
    assert.deepEqual(first, {
      content: 'one',
      toolCalls: [],
      finishReason: 'stop',
      usage: { promptTokens: 1, completionTokens: 2, costUsd: 0.1 },
    });
    const second = await model.chat(req('b'));
    assert.deepEqual(second.toolCalls, [
      { id: 'call_1_0', name: 'calculate', arguments: '{"expression":"1"}' },
    ]);
    assert.equal(second.finishReason, 'tool_calls');
    assert.deepEqual(model.requests[0], { model: 'm', messages: [{ role: 'user', content: 'a' }] });
    await assert.rejects(model.chat(req('c')), /no reply left for call 2/);
  });

  it('routes by request, throws scripted errors and hangs until aborted', async () => {
    const model = createScriptedModel((r) => {
      const text = (r.messages[0] as { content: string }).content;
      if (text === 'fail') return { error: new MarshalError(AGENT_ERRORS.E_LLM_HTTP, 'boom') };
      if (text === 'hang') return { hang: true };
      return { content: `echo ${text}` };
    });
    assert.equal((await model.chat(req('hi'))).content, 'echo hi');
    await assert.rejects(model.chat(req('fail')), { code: 'E_LLM_HTTP' });
    const controller = new AbortController();
    const pending = model.chat(req('hang', controller.signal));
    controller.abort();
    await assert.rejects(pending, AbortedError);
  });
});
