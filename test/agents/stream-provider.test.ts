import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ChatDelta, createOpenAICompatibleModel } from '../../src/agents/index.ts';
import { MarshalError } from '../../src/core/errors.ts';
import { type FakeStreamShape, startFakeOpenAIServer } from '../../src/testing/index.ts';

const user = (content: string) => [{ role: 'user' as const, content }];
const ANSWER = 'Rayleigh scattering: short wavelengths scatter more — é€😀 done.';

describe('OpenAI-compatible provider, streaming', { timeout: 60_000 }, () => {
  const shapes: Array<[string, FakeStreamShape]> = [
    ['plain', {}],
    [
      'OpenRouter comments, JSON over two data lines, CRLF, writes cut every 3 bytes',
      { comments: true, multiLineData: true, crlf: true, splitWritesAt: 3 },
    ],
    ['usage on every chunk, no [DONE]', { usageOnEveryChunk: true, noDone: true, pieceSize: 1 }],
    ['usage in the finish chunk', { usageInLastChoiceChunk: true }],
  ];
  for (const [name, shape] of shapes) {
    it(`assembles text, tool calls and usage: ${name}`, async () => {
      const server = await startFakeOpenAIServer([
        {
          content: ANSWER,
          toolCalls: [
            { id: 'c0', name: 'calculate', arguments: { expression: '2**10' } },
            { id: 'c1', name: 'read_file', arguments: { path: 'notes/a.md' } },
          ],
          usage: { prompt_tokens: 21, completion_tokens: 13, cost: 0.0025 },
          stream: shape,
        },
      ]);
      try {
        const model = createOpenAICompatibleModel({ baseUrl: server.url, stream: true, retries: 0 });
        const deltas: ChatDelta[] = [];
        const reply = await model.chat({ model: 'm', messages: user('q'), onDelta: (d) => deltas.push(d) });
        assert.equal(reply.content, ANSWER);
        assert.deepEqual(reply.toolCalls, [
          { id: 'c0', name: 'calculate', arguments: '{"expression":"2**10"}' },
          { id: 'c1', name: 'read_file', arguments: '{"path":"notes/a.md"}' },
        ]);
        assert.equal(reply.finishReason, 'tool_calls');
        assert.deepEqual(reply.usage, { promptTokens: 21, completionTokens: 13, costUsd: 0.0025 });
        // The text arrived in pieces, in order, before the call resolved.
        const text = deltas.map((d) => d.content ?? '').join('');
        assert.equal(text, ANSWER);
        assert.ok(deltas.filter((d) => d.content !== undefined).length > 3);
        const body = server.chatRequests()[0]!.body as Record<string, unknown>;
        assert.equal(body.stream, true);
        assert.deepEqual(body.stream_options, { include_usage: true });
        assert.match(server.chatRequests()[0]!.headers.accept ?? '', /text\/event-stream/);
      } finally {
        await server.close();
      }
    });
  }

  it('assembles tool calls sent whole without an index (gateway style)', async () => {
    const server = await startFakeOpenAIServer([
      {
        toolCalls: [
          { id: 'a', name: 'calculate', arguments: { expression: '1+1' } },
          { id: 'b', name: 'calculate', arguments: { expression: '2+2' } },
        ],
        stream: { toolCallsWithoutIndex: true },
      },
    ]);
    try {
      const model = createOpenAICompatibleModel({ baseUrl: server.url, stream: true, retries: 0 });
      const reply = await model.chat({ model: 'm', messages: user('q') });
      assert.deepEqual(
        reply.toolCalls.map((c) => [c.id, c.arguments]),
        [
          ['a', '{"expression":"1+1"}'],
          ['b', '{"expression":"2+2"}'],
        ],
      );
      assert.equal(reply.content, null);
    } finally {
      await server.close();
    }
  });

  it('an error object before any text is retried; after text it fails without a retry (no text shown twice)', async () => {
    const server = await startFakeOpenAIServer([
      {
        content: 'never shown',
        stream: { errorAfterChunks: 0, error: { code: 502, message: 'provider down' } },
      },
      { content: 'second try works' },
      {
        content: 'half an answer that breaks',
        stream: { errorAfterChunks: 2, error: { code: 503, message: 'gone' } },
      },
      { content: 'must not be requested' },
    ]);
    try {
      const model = createOpenAICompatibleModel({
        baseUrl: server.url,
        stream: true,
        retries: 2,
        baseDelayMs: 1,
      });
      const first: string[] = [];
      const ok = await model.chat({
        model: 'm',
        messages: user('q'),
        onDelta: (d) => first.push(d.content ?? ''),
      });
      assert.equal(ok.content, 'second try works');
      assert.equal(first.join(''), 'second try works');
      const shown: string[] = [];
      await assert.rejects(
        model.chat({ model: 'm', messages: user('q'), onDelta: (d) => shown.push(d.content ?? '') }),
        (err: unknown) => {
          assert.ok(err instanceof MarshalError);
          assert.equal(err.code, 'E_LLM_HTTP');
          assert.equal(err.details?.status, 503);
          assert.match(err.message, /gone.*mid-stream/);
          return true;
        },
      );
      assert.equal(shown.join(''), 'half an ');
      assert.equal(server.chatRequests().length, 3, 'the broken stream was not retried');
    } finally {
      await server.close();
    }
  });

  it('reads a plain JSON answer from a server that ignores stream: true, and aborts a hung stream', async () => {
    const server = await startFakeOpenAIServer([
      { json: { choices: [{ message: { content: 'not streamed' }, finish_reason: 'stop' }] } },
      { content: 'one two three four five', stream: { hangAfterChunks: 2 } },
    ]);
    try {
      const model = createOpenAICompatibleModel({ baseUrl: server.url, stream: true, retries: 0 });
      const got: string[] = [];
      const plain = await model.chat({
        model: 'm',
        messages: user('q'),
        onDelta: (d) => got.push(d.content ?? ''),
      });
      assert.equal(plain.content, 'not streamed');
      assert.deepEqual(got, ['not streamed']);
      const ac = new AbortController();
      const pieces: string[] = [];
      const pending = model.chat({
        model: 'm',
        messages: user('q'),
        signal: ac.signal,
        onDelta: (d) => {
          pieces.push(d.content ?? '');
          if (pieces.length === 2) ac.abort();
        },
      });
      await assert.rejects(
        pending,
        (err: unknown) => (err as Error).name === 'AbortError' || err instanceof MarshalError,
      );
      await server.waitForClientClose(1);
      assert.equal(pieces.join(''), 'one two ');
    } finally {
      await server.close();
    }
  });

  it('does not stream unless asked (no stream field in the body)', async () => {
    const server = await startFakeOpenAIServer([{ content: 'plain' }]);
    try {
      const model = createOpenAICompatibleModel({ baseUrl: server.url, retries: 0 });
      const deltas: ChatDelta[] = [];
      const reply = await model.chat({ model: 'm', messages: user('q'), onDelta: (d) => deltas.push(d) });
      assert.equal(reply.content, 'plain');
      assert.equal(deltas.length, 0);
      assert.equal((server.chatRequests()[0]!.body as Record<string, unknown>).stream, undefined);
    } finally {
      await server.close();
    }
  });
});
