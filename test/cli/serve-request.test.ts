/** The pure parts of `marshal serve`: request validation, the question from the messages, the streamed answer text. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChatRequest, questionFromMessages } from '../../src/agents/index.ts';
import { createAnswerText, remainderOf } from '../../src/agents/serve/answer-text.ts';

describe('serve: chat request', () => {
  it('takes the last user message as the question and earlier messages as labelled context', () => {
    assert.equal(questionFromMessages([{ role: 'user', content: ' Why? ' }]), 'Why?');
    const q = questionFromMessages([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'What is Rust?' },
      { role: 'assistant', content: 'A language.' },
      { role: 'user', content: 'Is it safe?' },
    ]);
    assert.equal(
      q,
      'Context (earlier messages of the conversation):\n[system] Be brief.\n[user] What is Rust?\n[assistant] A language.\n\nQuestion:\nIs it safe?',
    );
  });

  it('validates model, messages, stream options and marshal options, naming the field', () => {
    const ok = parseChatRequest({
      model: 'marshal-heavy',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
      stream: true,
      stream_options: { include_usage: true },
      marshal: { agents: 3, strategy: 'vote' },
      temperature: 0.3,
    });
    assert.deepEqual(ok, {
      model: 'marshal-heavy',
      question: 'Hi',
      stream: true,
      includeUsage: true,
      agents: 3,
      strategy: 'vote',
    });
    assert.deepEqual(parseChatRequest({ model: 'gpt-4o', messages: [{ role: 'user', content: 'q' }] }), {
      unknownModel: 'gpt-4o',
    });
    const bad = (body: unknown, param: string, message: RegExp) =>
      assert.throws(
        () => parseChatRequest(body),
        (e: unknown) => (e as { param: string }).param === param && message.test((e as Error).message),
      );
    const m = [{ role: 'user', content: 'q' }];
    bad({ messages: m }, 'model', /model/);
    bad({ model: 'marshal-ask', messages: [] }, 'messages', /messages/);
    bad(
      { model: 'marshal-ask', messages: m, marshal: { agents: 65 } },
      'marshal.agents',
      /from 1 to 64, got 65/,
    );
    bad(
      { model: 'marshal-ask', messages: m, marshal: { strategy: 'x' } },
      'marshal.strategy',
      /one of synthesize/,
    );
    bad({ model: 'marshal-ask', messages: m, marshal: { workspace: '/' } }, 'marshal', /workspace/);
    bad({ model: 'marshal-ask', messages: [{ role: 'system', content: 's' }] }, 'messages', /user message/);
  });
});

describe('serve: streamed answer text', () => {
  it('sends the visible text as it grows, without <think>, and only the missing rest at the end', () => {
    const t = createAnswerText();
    assert.equal(t.push('<thi'), '');
    // Text after a <think> block is trimmed: its trailing space waits for what follows.
    assert.equal(t.push('nk>hmm</think>\n The '), 'The');
    assert.equal(t.push('sky <'), ' sky ');
    assert.equal(t.push('b>'), '<b>');
    assert.equal(t.sent, 'The sky <b>');
    assert.equal(remainderOf(t, 'The sky <b>is blue</b>'), 'is blue</b>');
    assert.equal(remainderOf(t, 'The sky <b>'), '');
    assert.equal(remainderOf(t, 'Something else'), '\n\nSomething else');
    assert.equal(remainderOf(createAnswerText(), 'Only at the end'), 'Only at the end');
  });

  it('separates the replies of an agent and notices a text that stops growing as a prefix', () => {
    const t = createAnswerText();
    t.push('Let me look.');
    t.nextReply();
    assert.equal(t.push('Found it.'), '\n\nFound it.');
    assert.equal(remainderOf(t, 'Found it.'), '');
    const d = createAnswerText();
    d.push('reasoning first');
    assert.equal(d.push('</think>Answer'), '');
    assert.equal(d.diverged, true);
    assert.equal(remainderOf(d, 'Answer'), '\n\nAnswer');
  });
});
