/**
 * A fake OpenAI-compatible chat-completions server on 127.0.0.1 for tests: scripted replies per
 * call (text, tool calls, usage, delays), HTTP errors with Retry-After, hangs and resets, and a
 * record of every request. It speaks the real protocol, so the real HTTP provider is exercised.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type FakeStreamShape, streamCompletion, wantsStream } from './fake-sse.ts';

/** One request as the server saw it. */
export interface RecordedRequest {
  index: number;
  method: string;
  /** Path including the query, e.g. `/v1/chat/completions`. */
  path: string;
  /** Lower-cased header names; Authorization kept so tests can assert where the key goes. */
  headers: Record<string, string>;
  /** Parsed JSON body, or the raw text when it is not JSON (undefined when empty). */
  body: unknown;
  /** True once the client closed the connection before the server answered (abort, timeout). */
  clientClosed: boolean;
  /** Size of the request body in bytes, as received. */
  bodyBytes: number;
}

export interface FakeServerOptions {
  /**
   * Rate limiting as a provider does it: a chat request arriving while this many are being
   * answered gets a 429 at once (without consuming a script entry); counted in `throttled`.
   */
  throttleAbove?: number;
  /** Headers of those 429s, e.g. `{'retry-after': '1'}` or `{'retry-after-ms': '50'}`. */
  throttleHeaders?: Record<string, string>;
}

/** A scripted answer. */
export type FakeReply =
  | {
      content?: string | null;
      /** `id: null` sends a tool call without an id (as some servers do). */
      toolCalls?: Array<{ name: string; arguments: string | Record<string, unknown>; id?: string | null }>;
      /** OpenRouter's `message.reasoning`. */
      reasoning?: string;
      /** DeepSeek's and vLLM's `message.reasoning_content`. */
      reasoningContent?: string;
      /** OpenRouter's `message.reasoning_details`. */
      reasoningDetails?: unknown[];
      usage?: { prompt_tokens: number; completion_tokens: number; cost?: number };
      finishReason?: string;
      model?: string;
      delayMs?: number;
      /** How to stream this reply when the request asks for `stream: true` (default: plainly). */
      stream?: FakeStreamShape;
    }
  | { status: number; retryAfter?: string; body?: unknown; headers?: Record<string, string> }
  | { hang: true }
  | { reset: true }
  | { json: unknown; delayMs?: number };

/** A list consumed in order (500 "script exhausted" afterwards), or a function deciding per request. */
export type FakeScript =
  | FakeReply[]
  | ((req: RecordedRequest, index: number) => FakeReply | Promise<FakeReply>);

export interface FakeOpenAIServer {
  /** Base URL, `http://127.0.0.1:PORT/v1`. */
  url: string;
  requests: RecordedRequest[];
  /** Chat-completion requests only. */
  chatRequests(): RecordedRequest[];
  /** Chat-completion requests being answered right now, and the most there ever were at once. */
  readonly inFlight: number;
  readonly maxInFlight: number;
  /** 429s sent by `throttleAbove`. */
  readonly throttled: number;
  /** Resolves with request `index` once the server has received it (at once if it already has). */
  waitForRequest(index: number): Promise<RecordedRequest>;
  /** Resolves once the client closed request `index` without an answer (or at once if it already did). */
  waitForClientClose(index: number): Promise<void>;
  close(): Promise<void>;
}

const MAX_BODY = 8 * 1024 * 1024;

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function completion(reply: Extract<FakeReply, { content?: unknown }>, index: number, requestModel: unknown) {
  const toolCalls = (reply.toolCalls ?? []).map((c, i) => ({
    ...(c.id === null ? {} : { id: c.id ?? `call_${index}_${i}` }),
    type: 'function',
    function: {
      name: c.name,
      arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments),
    },
  }));
  const message: Record<string, unknown> = { role: 'assistant', content: reply.content ?? null };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  if (reply.reasoning !== undefined) message.reasoning = reply.reasoning;
  if (reply.reasoningContent !== undefined) message.reasoning_content = reply.reasoningContent;
  if (reply.reasoningDetails !== undefined) message.reasoning_details = reply.reasoningDetails;
  return {
    id: `chatcmpl-fake-${index}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: reply.model ?? (typeof requestModel === 'string' ? requestModel : 'fake-model'),
    choices: [
      {
        index: 0,
        message,
        finish_reason: reply.finishReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop'),
      },
    ],
    usage: reply.usage ?? { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the fake server on 127.0.0.1, port 0. Always `close()` it (it destroys hanging sockets). */
export async function startFakeOpenAIServer(
  script: FakeScript,
  options: FakeServerOptions = {},
): Promise<FakeOpenAIServer> {
  const requests: RecordedRequest[] = [];
  const chatIndex = new Map<RecordedRequest, number>();
  const sockets = new Set<Socket>();
  const closeWaiters = new Map<number, Array<() => void>>();
  const requestWaiters = new Map<number, Array<(rec: RecordedRequest) => void>>();
  let chatCount = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let throttled = 0;

  const nextReply = async (rec: RecordedRequest, n: number): Promise<FakeReply> => {
    if (typeof script === 'function') return script(rec, n);
    return (
      script[n] ?? { status: 500, body: { error: { message: `fake server: script exhausted at call ${n}` } } }
    );
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: `fake server: ${String(error)}` } });
      else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readBody(req);
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = text;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      headers[k] = Array.isArray(v) ? v.join(', ') : (v ?? '');
    const rec: RecordedRequest = {
      index: requests.length,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers,
      body,
      clientClosed: false,
      bodyBytes: Buffer.byteLength(text),
    };
    requests.push(rec);
    for (const wake of requestWaiters.get(rec.index) ?? []) wake(rec);
    requestWaiters.delete(rec.index);
    res.on('close', () => {
      if (res.writableFinished) return;
      rec.clientClosed = true;
      for (const wake of closeWaiters.get(rec.index) ?? []) wake();
      closeWaiters.delete(rec.index);
    });
    const pathname = rec.path.split('?')[0];
    if (rec.method === 'GET' && pathname === '/v1/models') {
      sendJson(res, 200, {
        object: 'list',
        data: [{ id: 'fake-model', object: 'model', owned_by: 'marshal' }],
      });
      return;
    }
    if (rec.method !== 'POST' || pathname !== '/v1/chat/completions') {
      sendJson(res, 404, { error: { message: `no route for ${rec.method} ${pathname}`, type: 'not_found' } });
      return;
    }
    if (options.throttleAbove !== undefined && inFlight >= options.throttleAbove) {
      throttled++;
      sendJson(
        res,
        429,
        { error: { message: 'Rate limit exceeded: too many requests in flight', code: 429 } },
        options.throttleHeaders,
      );
      return;
    }
    const n = chatCount++;
    chatIndex.set(rec, n);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on('close', () => {
      inFlight--;
    });
    const reply = await nextReply(rec, n);
    if ('hang' in reply) return; // Never answer; close() or the client's abort ends it.
    if ('reset' in reply) {
      req.socket.destroy();
      return;
    }
    if ('status' in reply) {
      const extra: Record<string, string> = { ...reply.headers };
      if (reply.retryAfter !== undefined) extra['retry-after'] = reply.retryAfter;
      sendJson(
        res,
        reply.status,
        reply.body ?? { error: { message: `fake ${reply.status}`, code: reply.status } },
        extra,
      );
      return;
    }
    if (reply.delayMs !== undefined && reply.delayMs > 0) {
      await Promise.race([new Promise((r) => setTimeout(r, reply.delayMs).unref()), once(res, 'close')]);
      if (rec.clientClosed) return;
    }
    if ('json' in reply) {
      sendJson(res, 200, reply.json);
      return;
    }
    const done = completion(reply, n, (body as { model?: unknown } | undefined)?.model);
    // A request with `stream: true` gets SSE chunks (in the reply's odd shape, if it has one).
    if (wantsStream(body)) await streamCompletion(res, done, body, reply.stream);
    else sendJson(res, 200, done);
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    chatRequests: () => requests.filter((r) => chatIndex.has(r)),
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    get throttled() {
      return throttled;
    },
    waitForRequest(index: number): Promise<RecordedRequest> {
      const rec = requests[index];
      if (rec) return Promise.resolve(rec);
      return new Promise((resolve) => {
        const list = requestWaiters.get(index) ?? [];
        list.push(resolve);
        requestWaiters.set(index, list);
      });
    },
    waitForClientClose(index: number): Promise<void> {
      const rec = requests[index];
      if (rec?.clientClosed) return Promise.resolve();
      return new Promise((resolve) => {
        const list = closeWaiters.get(index) ?? [];
        list.push(resolve);
        closeWaiters.set(index, list);
      });
    },
    async close(): Promise<void> {
      const closed = once(server, 'close');
      server.close();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
