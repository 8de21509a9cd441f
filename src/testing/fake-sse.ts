/**
 * How the fake server streams a scripted reply when a request asks for `stream: true`: the
 * completion is cut into `chat.completion.chunk`s the way real providers send them (a role chunk,
 * text in pieces, each tool call's id and name in its first delta and its arguments in pieces,
 * `finish_reason` in the last choice chunk, usage in a final `choices: []` chunk when
 * `stream_options.include_usage` was asked for, then `data: [DONE]`), with the odd shapes some
 * providers add on demand: OpenRouter's `: OPENROUTER PROCESSING` comments, JSON split over
 * several `data:` lines, CRLF line ends, writes cut mid-line, usage on every chunk, no `[DONE]`,
 * an error object mid-stream, a stream that stops and hangs.
 */
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';

/** Odd shapes a streamed reply can take (all off by default). */
export interface FakeStreamShape {
  /** Characters of text (and of tool arguments) per chunk; default 4. */
  pieceSize?: number;
  /** Pause between chunks, in ms (the stream stops when the client closes). */
  chunkDelayMs?: number;
  /** `: OPENROUTER PROCESSING` before the first chunk and between chunks. */
  comments?: boolean;
  /** Each event's JSON split over two `data:` lines (joined with "\n" by a correct parser). */
  multiLineData?: boolean;
  /** CRLF line ends. */
  crlf?: boolean;
  /** Write the bytes in pieces of this many bytes (cutting lines and UTF-8 sequences). */
  splitWritesAt?: number;
  /** Usage on every chunk (vLLM's continuous usage) instead of one final chunk. */
  usageOnEveryChunk?: boolean;
  /** Usage in the last choice chunk (with finish_reason) instead of a `choices: []` chunk. */
  usageInLastChoiceChunk?: boolean;
  /** No `data: [DONE]` at the end (the body just ends). */
  noDone?: boolean;
  /** Tool-call deltas without `index` (each call sent whole, as some gateways do). */
  toolCallsWithoutIndex?: boolean;
  /** After this many text chunks, send `{error: {...}}` (OpenRouter's mid-stream error) and end. */
  errorAfterChunks?: number;
  /** The error object's code (default 502) and message. */
  error?: { code?: number | string; message?: string };
  /** After this many text chunks, stop sending and keep the connection open (until closed). */
  hangAfterChunks?: number;
}

type Obj = Record<string, unknown>;

/** True when the request body asked for a stream. */
export function wantsStream(body: unknown): boolean {
  return typeof body === 'object' && body !== null && (body as Obj).stream === true;
}

/** True when the request asked for usage in the stream. */
function wantsUsage(body: unknown): boolean {
  const so = (body as { stream_options?: { include_usage?: unknown } } | undefined)?.stream_options;
  return so?.include_usage === true;
}

function pieces(text: string, size: number): string[] {
  const chars = Array.from(text);
  const out: string[] = [];
  for (let i = 0; i < chars.length; i += size) out.push(chars.slice(i, i + size).join(''));
  return out;
}

/** The chunks of `completion` (a `chat.completion` object), before any odd shape is applied. */
export function completionChunks(completion: Obj, shape: FakeStreamShape, includeUsage: boolean): Obj[] {
  const size = Math.max(1, shape.pieceSize ?? 4);
  const choice = (completion.choices as Obj[])[0]!;
  const message = choice.message as Obj;
  const base = {
    id: completion.id,
    object: 'chat.completion.chunk',
    created: completion.created,
    model: completion.model,
  };
  const chunk = (delta: Obj, finish: unknown = null): Obj => ({
    ...base,
    choices: [{ index: 0, delta, finish_reason: finish }],
  });
  const chunks: Obj[] = [chunk({ role: 'assistant', content: '' })];
  for (const key of ['reasoning', 'reasoning_content'] as const) {
    if (typeof message[key] === 'string')
      for (const p of pieces(message[key], size)) chunks.push(chunk({ [key]: p }));
  }
  if (Array.isArray(message.reasoning_details))
    chunks.push(chunk({ reasoning_details: message.reasoning_details }));
  if (typeof message.content === 'string')
    for (const p of pieces(message.content, size)) chunks.push(chunk({ content: p }));
  const calls = Array.isArray(message.tool_calls) ? (message.tool_calls as Obj[]) : [];
  calls.forEach((call, index) => {
    const fn = call.function as { name: string; arguments: string };
    if (shape.toolCallsWithoutIndex) {
      chunks.push(
        chunk({ tool_calls: [{ ...(call.id ? { id: call.id } : {}), type: 'function', function: fn }] }),
      );
      return;
    }
    const head = {
      index,
      ...(call.id ? { id: call.id } : {}),
      type: 'function',
      function: { name: fn.name, arguments: '' },
    };
    chunks.push(chunk({ tool_calls: [head] }));
    for (const p of pieces(fn.arguments, size))
      chunks.push(chunk({ tool_calls: [{ index, function: { arguments: p } }] }));
  });
  const last = chunk({}, choice.finish_reason);
  chunks.push(last);
  const usage = completion.usage;
  if (shape.usageOnEveryChunk) for (const c of chunks) c.usage = usage;
  else if (shape.usageInLastChoiceChunk) last.usage = usage;
  else if (includeUsage) chunks.push({ ...base, choices: [], usage });
  return chunks;
}

/**
 * Streams `completion` as SSE on `res` (request `body` decides whether usage is included).
 * Resolves when the stream ended or the client went away.
 */
export async function streamCompletion(
  res: ServerResponse,
  completion: Obj,
  body: unknown,
  shape: FakeStreamShape = {},
): Promise<void> {
  const eol = shape.crlf ? '\r\n' : '\n';
  const closed = (): boolean => res.destroyed || res.writableEnded;
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  const write = async (text: string): Promise<void> => {
    const bytes = Buffer.from(text, 'utf8');
    const step = shape.splitWritesAt ?? bytes.length;
    for (let i = 0; i < bytes.length && !closed(); i += Math.max(1, step)) {
      res.write(bytes.subarray(i, i + Math.max(1, step)));
      if (shape.splitWritesAt !== undefined) await new Promise((r) => setImmediate(r));
    }
  };
  const event = (data: string): string => {
    // Cut between two JSON tokens (before `"choices"`), where the joining "\n" is whitespace.
    const cut = data.indexOf(',"choices"') + 1;
    if (!shape.multiLineData || cut <= 0) return `data: ${data}${eol}${eol}`;
    return `data: ${data.slice(0, cut)}${eol}data: ${data.slice(cut)}${eol}${eol}`;
  };
  // One listener for the whole stream (not one per pause).
  const gone = once(res, 'close').then(() => {});
  const pause = async (): Promise<void> => {
    if (!shape.chunkDelayMs) return;
    await Promise.race([new Promise((r) => setTimeout(r, shape.chunkDelayMs).unref()), gone]);
  };
  if (shape.comments) await write(`: OPENROUTER PROCESSING${eol}${eol}`);
  let textChunks = 0;
  for (const c of completionChunks(completion, shape, wantsUsage(body))) {
    if (closed()) return;
    const delta = ((c.choices as Obj[])[0]?.delta ?? {}) as Obj;
    if (typeof delta.content === 'string' && delta.content !== '') {
      if (shape.hangAfterChunks !== undefined && textChunks >= shape.hangAfterChunks) {
        await gone;
        return;
      }
      if (shape.errorAfterChunks !== undefined && textChunks >= shape.errorAfterChunks) {
        const error = {
          code: shape.error?.code ?? 502,
          message: shape.error?.message ?? 'fake upstream failed mid-stream',
        };
        await write(
          event(
            JSON.stringify({
              ...c,
              error,
              choices: [{ index: 0, delta: { content: '' }, finish_reason: 'error' }],
            }),
          ),
        );
        res.end();
        return;
      }
      textChunks++;
    }
    await write(event(JSON.stringify(c)));
    if (shape.comments) await write(`: OPENROUTER PROCESSING${eol}${eol}`);
    await pause();
  }
  if (!shape.noDone) await write(`data: [DONE]${eol}${eol}`);
  if (!closed()) res.end();
}
