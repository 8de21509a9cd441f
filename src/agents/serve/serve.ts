/**
 * `marshal serve` as a library: heavy behind an OpenAI-compatible endpoint on node:http.
 * `GET /v1/models`, `GET /v1/models/{id}` and `POST /v1/chat/completions` with the models
 * `marshal-heavy` (the heavy pipeline) and `marshal-ask` (one agent). Every request needs
 * `Authorization: Bearer <token>`. A streamed request gets `chat.completion.chunk`s as SSE (the
 * answer call's tokens as they come, progress only in the `marshal` extension field of chunks
 * with an empty delta) ending with `data: [DONE]`. A client that goes away cancels its run (its
 * agents stop, no further upstream call starts). At most `maxConcurrentRuns` runs at once; one
 * more gets 429 with Retry-After. Errors use the OpenAI shape and status codes (openai-error.ts).
 *
 * @example
 * const server = await startServe({ token, runner: settingsRunner(settings, runtime), signal });
 * console.error(`listening on ${server.url}`);
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  AbortedError,
  assertNever,
  InvalidInputError,
  isAbortError,
  MarshalError,
} from '../../core/errors.ts';
import type { AgentOutcome } from '../agent-outcome.ts';
import { AGENT_ERRORS } from '../errors.ts';
import type { EventSink, HeavyEvent } from '../events.ts';
import type { HeavyResult } from '../run-heavy.ts';
import { createAnswerText, remainderOf } from './answer-text.ts';
import { parseChatRequest, SERVE_MODELS, type ServeChatRequest, type ServeModel } from './chat-request.ts';
import {
  chunkBody,
  completionBody,
  modelEntry,
  modelList,
  runDetails,
  wireUsage,
} from './completion-body.ts';
import { BadRequest, type OpenAIErrorResponse, openaiError } from './openai-error.ts';

/** What the server runs: a heavy job and one agent, each with its own signal and event sink. */
export interface ServeRunner {
  heavy(
    question: string,
    options: {
      agents?: number;
      strategy?: ServeChatRequest['strategy'];
      signal: AbortSignal;
      onEvent: EventSink;
    },
  ): Promise<HeavyResult>;
  ask(question: string, options: { signal: AbortSignal; onEvent: EventSink }): Promise<AgentOutcome>;
  /** The upstream model id, reported in `marshal.upstreamModel`. */
  upstreamModel: string;
}

export interface ServeOptions {
  /** Default 127.0.0.1. */
  host?: string | undefined;
  /** Default 8080; 0 picks a free port. */
  port?: number | undefined;
  /** The bearer token every request must carry. */
  token: string;
  runner: ServeRunner;
  /** Runs at once; default {@link DEFAULT_MAX_CONCURRENT_RUNS}. */
  maxConcurrentRuns?: number | undefined;
  /** Cap on a request body; default {@link MAX_SERVE_BODY_BYTES}. */
  maxBodyBytes?: number | undefined;
  /** Seconds in the Retry-After of a 429; default 1. */
  retryAfterSeconds?: number | undefined;
  /** Aborting closes the server and cancels every run. */
  signal?: AbortSignal | undefined;
  /** One line per finished request (method, path, model, status, duration). */
  onLog?: ((line: string) => void) | undefined;
  /** Every event of every run, with the request id. */
  onEvent?: ((requestId: string, e: HeavyEvent) => void) | undefined;
}

export interface MarshalServer {
  /** `http://HOST:PORT/v1`. */
  url: string;
  host: string;
  port: number;
  /** Runs in progress. */
  readonly activeRuns: number;
  /** Stops listening, cancels the runs, waits for them. */
  close(): Promise<void>;
}

export const DEFAULT_MAX_CONCURRENT_RUNS = 4;
export const MAX_SERVE_BODY_BYTES = 1024 * 1024;
/** A comment line this often keeps proxies from closing a quiet stream (a long agent phase). */
const KEEPALIVE_MS = 15_000;

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

const sendError = (res: ServerResponse, e: OpenAIErrorResponse): void =>
  sendJson(res, e.status, e.body, e.headers);

/** True when `header` is `Bearer <token>` (constant-time over hashes). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const a = createHash('sha256').update(m[1]!.trim()).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage, max: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) throw new BodyTooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) throw new BodyTooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The error response for a run that threw. */
function runFailure(error: unknown): OpenAIErrorResponse {
  if (error instanceof InvalidInputError) return openaiError(400, error.message, { code: error.code });
  if (error instanceof MarshalError && error.code === 'E_LLM_REFUSED') {
    return openaiError(502, `the upstream endpoint refused the request: ${error.message}`, {
      code: 'upstream_refused',
    });
  }
  if (error instanceof MarshalError) return openaiError(500, error.message, { code: error.code });
  return openaiError(500, 'internal error', { code: 'E_INTERNAL' });
}

/** Starts listening; resolves once it does. Throws E_SERVE_LISTEN (port taken, address not local, ...). */
export async function startServe(options: ServeOptions): Promise<MarshalServer> {
  const host = options.host ?? '127.0.0.1';
  const maxRuns = options.maxConcurrentRuns ?? DEFAULT_MAX_CONCURRENT_RUNS;
  const maxBody = options.maxBodyBytes ?? MAX_SERVE_BODY_BYTES;
  if (!Number.isInteger(maxRuns) || maxRuns < 1) {
    throw new InvalidInputError('maxConcurrentRuns', maxRuns, 'expected an integer >= 1');
  }
  if (options.token.length < 8)
    throw new InvalidInputError('token', '(hidden)', 'expected at least 8 characters');
  const created = Math.floor(Date.now() / 1000);
  const runs = new Set<{ controller: AbortController; done: Promise<void> }>();
  const sockets = new Set<Socket>();
  let closing = false;

  const server = createServer((req, res) => {
    const started = Date.now();
    let model = '-';
    void handle(req, res, (m) => {
      model = m;
    })
      .catch((error: unknown) => {
        if (error instanceof BodyTooLarge) {
          sendError(
            res,
            openaiError(413, `the request body exceeds ${maxBody} bytes`, {
              code: 'body_too_large',
              headers: { connection: 'close' },
            }),
          );
          req.destroy();
          return;
        }
        if (!res.headersSent) sendError(res, runFailure(error));
        else res.destroy();
      })
      .finally(() => {
        options.onLog?.(
          `${req.method} ${req.url} ${model} ${res.statusCode} ${((Date.now() - started) / 1000).toFixed(1)}s`,
        );
      });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(
    req: IncomingMessage,
    res: ServerResponse,
    noteModel: (m: string) => void,
  ): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '');
    const known = path === '/v1/models' || path.startsWith('/v1/models/') || path === '/v1/chat/completions';
    if (!known)
      return sendError(res, openaiError(404, `no route for ${req.method} ${path}`, { code: 'not_found' }));
    // Authentication before anything else (the body is not even read).
    if (!bearerMatches(req.headers.authorization, options.token)) {
      return sendError(
        res,
        openaiError(
          401,
          'Incorrect API key provided (expected Authorization: Bearer <token of marshal serve>)',
          { code: 'invalid_api_key' },
        ),
      );
    }
    if (path === '/v1/models' || path.startsWith('/v1/models/')) {
      if (req.method !== 'GET')
        return sendError(
          res,
          openaiError(405, `${req.method} is not allowed on ${path}`, { headers: { allow: 'GET' } }),
        );
      if (path === '/v1/models') return sendJson(res, 200, modelList(created));
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      if (!(SERVE_MODELS as readonly string[]).includes(id)) {
        return sendError(
          res,
          openaiError(404, `The model \`${id}\` does not exist`, { param: 'model', code: 'model_not_found' }),
        );
      }
      return sendJson(res, 200, modelEntry(id as ServeModel, created));
    }
    if (req.method !== 'POST')
      return sendError(
        res,
        openaiError(405, `${req.method} is not allowed on ${path}`, { headers: { allow: 'POST' } }),
      );
    const text = await readBody(req, maxBody);
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      return sendError(res, openaiError(400, 'the request body is not valid JSON'));
    }
    let request: ReturnType<typeof parseChatRequest>;
    try {
      request = parseChatRequest(raw);
    } catch (error) {
      if (error instanceof BadRequest)
        return sendError(res, openaiError(400, error.message, { param: error.param }));
      throw error;
    }
    if ('unknownModel' in request) {
      return sendError(
        res,
        openaiError(
          404,
          `The model \`${request.unknownModel}\` does not exist; models: ${SERVE_MODELS.join(', ')}`,
          { param: 'model', code: 'model_not_found' },
        ),
      );
    }
    noteModel(request.model);
    if (closing)
      return sendError(res, openaiError(503, 'the server is shutting down', { code: 'shutting_down' }));
    if (runs.size >= maxRuns) {
      const after = String(options.retryAfterSeconds ?? 1);
      return sendError(
        res,
        openaiError(429, `${maxRuns} runs are in progress (--max-concurrent-runs); retry later`, {
          code: 'too_many_runs',
          headers: { 'retry-after': after },
        }),
      );
    }
    const controller = new AbortController();
    let finish!: () => void;
    const entry = {
      controller,
      done: new Promise<void>((r) => {
        finish = r;
      }),
    };
    runs.add(entry);
    // The client went away before the answer: cancel its run (agents stop, no further upstream call).
    res.on('close', () => {
      if (!res.writableFinished) controller.abort(new AbortedError('the client disconnected'));
    });
    try {
      await execute(request, res, controller.signal);
    } finally {
      runs.delete(entry);
      finish();
    }
  }

  async function execute(request: ServeChatRequest, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const ids = {
      id: `chatcmpl-marshal-${randomUUID()}`,
      created: Math.floor(Date.now() / 1000),
      model: request.model,
    };
    const answerText = createAnswerText();
    const isAnswer = (e: HeavyEvent): e is Extract<HeavyEvent, { type: 'llm_delta' }> =>
      e.type === 'llm_delta' &&
      e.content !== undefined &&
      (request.model === 'marshal-heavy'
        ? e.answer === true && e.scope === 'combine'
        : e.scope === 'agent-1');
    const write = (body: unknown): void => {
      if (!res.destroyed && !res.writableEnded) res.write(`data: ${JSON.stringify(body)}\n\n`);
    };
    let keepalive: NodeJS.Timeout | undefined;
    if (request.stream) {
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
      });
      write(chunkBody(ids, { role: 'assistant', content: '' }));
      keepalive = setInterval(() => res.write(': keep-alive\n\n'), KEEPALIVE_MS);
      keepalive.unref();
    }
    const onEvent: EventSink = (e) => {
      options.onEvent?.(ids.id, e);
      if (!request.stream) return;
      if (request.model === 'marshal-ask' && e.type === 'llm_request' && e.scope === 'agent-1')
        answerText.nextReply();
      if (isAnswer(e)) {
        const next = answerText.push(e.content!);
        if (next !== '') write(chunkBody(ids, { content: next }));
        return;
      }
      const progress = progressOf(e);
      if (progress) write(chunkBody(ids, {}, null, { marshal: { progress } }));
    };
    try {
      const result =
        request.model === 'marshal-heavy'
          ? await options.runner.heavy(request.question, {
              ...(request.agents === undefined ? {} : { agents: request.agents }),
              ...(request.strategy === undefined ? {} : { strategy: request.strategy }),
              signal,
              onEvent,
            })
          : await options.runner.ask(request.question, { signal, onEvent });
      if (signal.aborted) return; // nobody is listening
      const answer = result.answer;
      const details = runDetails(result, options.runner.upstreamModel);
      const failed =
        answer === null || (!('agents' in result) && result.status !== 'ok' && result.status !== 'truncated');
      if (failed) {
        const statuses =
          'agents' in result ? result.agents.map((a) => `${a.id}: ${a.status}`).join(', ') : result.status;
        const e = openaiError(502, `no agent produced an answer (${statuses})`, { code: 'no_answer' });
        if (!request.stream) return sendJson(res, e.status, { ...e.body, marshal: details });
        write({ ...e.body, marshal: details });
        res.end();
        return;
      }
      if (!request.stream)
        return sendJson(res, 200, completionBody(ids, answer.trim(), result.usage, details));
      const rest = remainderOf(answerText, answer);
      if (rest !== '') write(chunkBody(ids, { content: rest }));
      write(chunkBody(ids, {}, 'stop', { marshal: details }));
      if (request.includeUsage) write(chunkBody(ids, null, null, { usage: wireUsage(result.usage) }));
      res.end('data: [DONE]\n\n');
    } catch (error) {
      if (signal.aborted && (isAbortError(error) || error instanceof AbortedError)) return;
      if (!request.stream) return sendError(res, runFailure(error));
      write(runFailure(error).body);
      res.end();
    } finally {
      if (keepalive) clearInterval(keepalive);
    }
  }

  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        new MarshalError(
          AGENT_ERRORS.E_SERVE_LISTEN,
          `cannot listen on ${host}:${options.port ?? 8080}: ${error.code ?? error.message}`,
          {
            cause: error,
            details: { host, port: options.port ?? 8080, reason: error.code ?? 'error' },
            ...(error.code === 'EADDRINUSE'
              ? { hint: 'another process holds the port; pick another with --port (0: any free port)' }
              : {}),
          },
        ),
      );
    };
    server.once('error', onError);
    server.listen(options.port ?? 8080, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      const done = once(server, 'close');
      server.close();
      for (const run of runs) run.controller.abort(new AbortedError('the server is shutting down'));
      await Promise.all([...runs].map((r) => r.done));
      server.closeIdleConnections();
      for (const socket of sockets) socket.destroy();
      await done;
    })();
    return closed;
  };
  if (options.signal) {
    if (options.signal.aborted) void close();
    else options.signal.addEventListener('abort', () => void close(), { once: true });
  }
  return {
    url: `http://${shownHost}:${address.port}/v1`,
    host: address.address,
    port: address.port,
    get activeRuns() {
      return runs.size;
    },
    close,
  };
}

/** The progress worth a chunk (in the `marshal.progress` extension), or undefined. */
function progressOf(e: HeavyEvent): Record<string, unknown> | undefined {
  switch (e.type) {
    case 'decompose_done':
      return { type: e.type, subQuestions: e.subQuestions, fallback: e.fallback };
    case 'agent_start':
      return { type: e.type, agentId: e.agentId, question: e.question };
    case 'agent_done':
      return { type: e.type, agentId: e.agentId, status: e.outcome.status };
    case 'combine_start':
      return { type: e.type, strategy: e.strategy };
    case 'budget_reached':
      return { type: e.type, budget: e.budget, limit: e.limit, used: e.used };
    case 'tool_call':
      return { type: e.type, agentId: e.agentId, name: e.name };
    case 'run_start':
    case 'decompose_start':
    case 'agent_step':
    case 'llm_request':
    case 'llm_response':
    case 'llm_delta':
    case 'llm_retry':
    case 'tool_result':
    case 'combine_done':
    case 'run_done':
      return undefined;
    default:
      return assertNever(e, 'heavy event');
  }
}
