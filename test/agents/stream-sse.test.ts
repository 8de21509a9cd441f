import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createSseParser } from '../../src/agents/providers/sse.ts';
import { createStreamAssembler } from '../../src/agents/providers/sse-completion.ts';

/** Feeds `text` to a fresh parser cut into pieces of `size` bytes; returns every event. */
function parseInPieces(text: string, size: number) {
  const parser = createSseParser();
  const bytes = Buffer.from(text, 'utf8');
  const events = [];
  for (let i = 0; i < bytes.length; i += size) events.push(...parser.push(bytes.subarray(i, i + size)));
  events.push(...parser.end());
  return events;
}

describe('createSseParser', () => {
  it('skips comments, joins multi-line data, strips one space, handles CR, CRLF and LF in any cut', () => {
    const text =
      '\uFEFF: OPENROUTER PROCESSING\r\n\r\ndata: {"a":\r\ndata:  1}\r\n\r\nevent: error\ndata: x\n\ndata: é€😀\r\rid: 7\ndata: [DONE]\n\n';
    const whole = parseInPieces(text, text.length * 4);
    assert.deepEqual(whole, [
      { event: 'message', data: '{"a":\n 1}' },
      { event: 'error', data: 'x' },
      { event: 'message', data: 'é€😀' },
      { event: 'message', data: '[DONE]', id: '7' },
    ]);
    // Every cut (mid-CRLF, mid-UTF-8 sequence, mid-field) gives the same events.
    for (const size of [1, 2, 3, 5, 7]) assert.deepEqual(parseInPieces(text, size), whole, `size ${size}`);
  });

  it('dispatches a last event without its blank line at the end, and bounds an endless event', () => {
    assert.deepEqual(parseInPieces('data: tail', 3), [{ event: 'message', data: 'tail' }]);
    const parser = createSseParser(16);
    assert.throws(() => parser.push('data: 0123456789\ndata: 0123456789\n'), RangeError);
    assert.throws(() => createSseParser(16).push('data: 01234567890123456789'), RangeError);
  });
});

describe('createStreamAssembler', () => {
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
    choices: [{ index: 0, delta, finish_reason: finish }],
  });

  it('assembles tool calls by index (id and name first, arguments in pieces) and takes usage from a choice-less chunk', () => {
    const a = createStreamAssembler();
    a.add(chunk({ role: 'assistant', content: '' }));
    a.add(chunk({ content: 'Let me ' }));
    a.add(chunk({ content: 'check.' }));
    a.add(
      chunk({
        tool_calls: [
          { index: 0, id: 'c0', type: 'function', function: { name: 'calculate', arguments: '' } },
        ],
      }),
    );
    a.add(
      chunk({
        tool_calls: [
          { index: 1, id: 'c1', type: 'function', function: { name: 'read_file', arguments: '{"pa' } },
        ],
      }),
    );
    a.add(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"expression":' } }] }));
    a.add(chunk({ tool_calls: [{ index: 1, function: { arguments: 'th":"a"}' } }] }));
    a.add(chunk({ tool_calls: [{ index: 0, function: { arguments: '"2+2"}' } }] }));
    a.add(chunk({}, 'tool_calls'));
    a.add({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 4, cost: 0.001 } });
    const r = a.finish('test');
    assert.equal(r.content, 'Let me check.');
    assert.deepEqual(r.toolCalls, [
      { id: 'c0', name: 'calculate', arguments: '{"expression":"2+2"}' },
      { id: 'c1', name: 'read_file', arguments: '{"path":"a"}' },
    ]);
    assert.equal(r.finishReason, 'tool_calls');
    assert.deepEqual(r.usage, { promptTokens: 9, completionTokens: 4, costUsd: 0.001 });
    assert.equal(a.deltas, 7);
  });

  it('keeps reasoning apart, strips inline <think>, gives ids to id-less calls, reports error chunks', () => {
    const a = createStreamAssembler();
    assert.deepEqual(a.add(chunk({ reasoning: 'hmm' })).delta, { reasoning: 'hmm' });
    a.add(chunk({ content: '<think>x</think>The ' }));
    a.add(chunk({ content: 'answer' }, 'stop'));
    a.add(chunk({ tool_calls: [{ function: { name: 'calculate', arguments: '{}' } }] }));
    const r = a.finish('test');
    assert.equal(r.content, 'The answer');
    assert.match(r.reasoning ?? '', /hmm/);
    assert.match(r.toolCalls[0]!.id, /^call_/);
    const e = createStreamAssembler().add({ error: { code: 502, message: 'upstream' }, choices: [] });
    assert.ok(e.error);
    // vLLM's shape.
    const v = createStreamAssembler().add({ object: 'error', message: 'out of memory', code: 500 });
    assert.deepEqual(v.error, { error: { message: 'out of memory', code: 500 } });
  });

  it('fails validation when the stream carried no choice at all', () => {
    const a = createStreamAssembler();
    a.add({ choices: [], usage: { prompt_tokens: 1 } });
    assert.throws(() => a.finish('test'), /invalid completion/);
  });
});
