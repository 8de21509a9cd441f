/**
 * The OpenAI-compatible HTTP provider: plain `fetch` to `${baseUrl}/chat/completions` (OpenRouter,
 * Ollama, LM Studio, vLLM, llama.cpp server). The key travels only in the Authorization header,
 * redirects are refused so it never reaches another host, and it is redacted from every message.
 */

import { retry } from '../../core/async.ts';
import { deadline } from '../../core/deadline.ts';
import { isAbortError, MarshalError } from '../../core/errors.ts';
import { AGENT_ERRORS } from '../errors.ts';
import type { ChatModel, ChatRequest, ChatResponse, RetryInfo } from '../model.ts';
import { isOpenRouter } from './api-key.ts';
import { type EndpointLimiter, endpointLimiter, type SlotOutcome } from './endpoint-limiter.ts';
import {
  describeFetchFailure,
  endpointLabel,
  fatalOf,
  httpError,
  retryAfterFromHeaders,
  retryAfterOf,
  statusOf,
} from './http-error.ts';
import { nodeHttpFetch } from './node-http-fetch.ts';
import { readCompletionStream } from './sse-stream.ts';
import { splitCredentials, urlSecrets } from './url-credentials.ts';
import { parseCompletion, toWireRequest } from './wire-format.ts';

export interface OpenAICompatibleOptions {
  /** e.g. `https://openrouter.ai/api/v1` or `http://127.0.0.1:11434/v1`. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <key>` and nowhere else. */
  apiKey?: string | undefined;
  /** The environment variable the key came from, named in the message of a 401/403. */
  apiKeyEnv?: string | undefined;
  /** Retries after the first attempt for 429, 5xx and connection errors; default 3. */
  retries?: number;
  /** First backoff (full jitter) when the server sends no Retry-After; default 1000 ms. */
  baseDelayMs?: number;
  /** Bound on each HTTP attempt; a timed-out attempt is retried like a connection error. */
  timeoutMs?: number | undefined;
  /** Extra headers (e.g. OpenRouter's HTTP-Referer / X-Title). */
  headers?: Record<string, string>;
  fetchImpl?: typeof fetch;
  onRetry?: (info: RetryInfo) => void;
  /** Random source for the jitter; inject for deterministic tests. */
  random?: () => number;
  /**
   * Stream every reply (`stream: true`, SSE) and hand its pieces to `request.onDelta`; default
   * false. A server that answers with plain JSON instead is read as usual.
   */
  stream?: boolean | undefined;
  /** With `stream`: ask for usage in the last chunk (`stream_options.include_usage`); default true. */
  streamUsage?: boolean | undefined;
  /**
   * Most requests in flight to this base URL (setting `concurrency`); default no cap. The
   * endpoint's adaptive limiter (endpoint-limiter.ts, shared by every model of this base URL in
   * the process) lowers it on 429s and raises it again after successes.
   */
  maxConcurrency?: number | undefined;
  /** Inject a limiter instead of the process-wide one of the base URL (tests). */
  limiter?: EndpointLimiter;
}

/** 429s get their own retry budget, this many times `retries`: the limiter is already slowing down. */
export const THROTTLE_RETRY_FACTOR = 2;

/** Creates the HTTP {@link ChatModel}. */
export function createOpenAICompatibleModel(options: OpenAICompatibleOptions): ChatModel {
  // Credentials in the URL (`https://user:pass@host/v1`) never reach a message, a trace or fetch
  // (which refuses such URLs with an error quoting them): they are taken out and sent as Basic
  // authorization when no API key is in use.
  const { url: bareBase, user, password } = splitCredentials(options.baseUrl.replace(/\/+$/, ''));
  const base = bareBase;
  const url = `${base}/chat/completions`;
  const endpoint = endpointLabel(url);
  // node:http with keep-alive, not the global fetch: a fraction of the CPU per call (node-http-fetch.ts).
  const doFetch = options.fetchImpl ?? nodeHttpFetch;
  const known = [options.apiKey, ...urlSecrets(options.baseUrl)].filter(
    (k): k is string => k !== undefined && k !== '',
  );
  const dialect = isOpenRouter(base) ? 'openrouter' : 'openai';
  const retries = options.retries ?? 3;
  const limiter = options.limiter ?? endpointLimiter(base, options.maxConcurrency);
  // Learnt once per model: the endpoint rejected response_format, so later calls skip it.
  let jsonSchemaUnsupported = false;

  const headers: Record<string, string> = {
    ...options.headers,
    'content-type': 'application/json',
    accept: 'application/json',
  };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  else if (user !== undefined || password !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${user ?? ''}:${password ?? ''}`).toString('base64')}`;
  }
  const keyHint = {
    apiKeyEnv: options.apiKeyEnv,
    hasKey: options.apiKey !== undefined && options.apiKey !== '',
  };

  const streaming = options.stream === true;
  const wireBody = (request: ChatRequest, withFormat: boolean): string => {
    const body = toWireRequest(request, withFormat, dialect);
    if (streaming) {
      body.stream = true;
      if (options.streamUsage !== false) body.stream_options = { include_usage: true };
    }
    return JSON.stringify(body);
  };

  async function attempt(request: ChatRequest, withFormat: boolean, signal: AbortSignal | undefined) {
    // A slot of the endpoint's limiter first; the request's own bound starts once it is sent.
    const slot = await limiter.acquire(signal);
    let outcome: SlotOutcome = 'other';
    let pauseMs: number | undefined;
    // A strongly held timer per attempt, cleared when the attempt ends (core/deadline.ts).
    const attemptDeadline = deadline(options.timeoutMs, [signal], `request to ${endpoint}`);
    const attemptSignal = attemptDeadline.signal;
    let response: Response;
    let text = '';
    let streamed: ChatResponse | undefined;
    // Pieces already handed out: a retry after them would show the same text twice.
    let delivered = 0;
    const context = { model: request.model, ...keyHint };
    try {
      response = await doFetch(url, {
        method: 'POST',
        headers: streaming ? { ...headers, accept: 'text/event-stream' } : headers,
        body: wireBody(request, withFormat),
        redirect: 'error',
        signal: attemptSignal,
      });
      if (streaming && response.ok) {
        streamed = await readCompletionStream(response, {
          endpoint,
          known,
          context,
          onDelta: (d) => {
            delivered++;
            request.onDelta?.(d);
          },
        });
      } else text = await response.text();
      outcome = response.status === 429 ? 'throttled' : response.ok ? 'ok' : 'other';
      if (response.status === 429 || response.status === 503) {
        pauseMs = retryAfterFromHeaders(response.headers, Date.now());
      }
    } catch (error) {
      if (signal?.aborted) throw error;
      const failure =
        // An agents error (the stream's own: an error event, a bad chunk) as is; a timeout or a
        // connection failure, also mid-stream, as for any request.
        error instanceof MarshalError && error.code in AGENT_ERRORS
          ? error
          : describeFetchFailure(error, endpoint, options.timeoutMs, known);
      throw delivered > 0 ? notRetryable(failure) : failure;
    } finally {
      attemptDeadline.clear();
      slot.release(outcome, pauseMs);
    }
    if (!response.ok) throw httpError(response, text, endpoint, known, context);
    const completion = streamed ?? parseJsonCompletion(response, text, context);
    // OpenRouter's `error` finish reason: the upstream provider failed mid-reply; retried like a 5xx
    // (unless streamed pieces were already handed out).
    if (completion.finishReason === 'error') {
      const error = new MarshalError(
        AGENT_ERRORS.E_LLM_HTTP,
        `${endpoint} ended the reply with finish_reason "error"`,
        {
          details: { endpoint, status: 502, reason: 'finish_reason_error' },
        },
      );
      throw delivered > 0 ? notRetryable(error) : error;
    }
    return completion;
  }

  function parseJsonCompletion(
    response: Response,
    text: string,
    context: { model: string; apiKeyEnv: string | undefined; hasKey: boolean },
  ): ChatResponse {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new MarshalError(AGENT_ERRORS.E_LLM_RESPONSE, `${endpoint} returned a body that is not JSON`, {
        details: { endpoint, status: response.status },
      });
    }
    // OpenRouter reports some upstream failures as 200 with an `error` object.
    if (body && typeof body === 'object' && 'error' in body && !('choices' in body)) {
      throw httpError(response, text, endpoint, known, context);
    }
    return parseCompletion(body, endpoint);
  }

  function call(request: ChatRequest, withFormat: boolean): Promise<ChatResponse> {
    // Two budgets: `retries` for 5xx/408/network trouble, THROTTLE_RETRY_FACTOR x retries for 429s.
    const throttleRetries = retries * THROTTLE_RETRY_FACTOR;
    let throttled = 0;
    let others = 0;
    return retry((_n, signal) => attempt(request, withFormat, signal), {
      retries: retries + throttleRetries,
      baseDelayMs: options.baseDelayMs ?? 1000,
      signal: request.signal,
      ...(options.random ? { random: options.random } : {}),
      shouldRetry: (error) => {
        if (!isRetryable(error)) return false;
        if (statusOf(error) === 429) return ++throttled <= throttleRetries;
        return ++others <= retries;
      },
      retryAfterMs: retryAfterOf,
      onRetry: ({ attempt: n, delayMs, error }) => {
        const info: RetryInfo = {
          attempt: n,
          delayMs,
          message: error instanceof Error ? error.message : 'error',
        };
        const status = statusOf(error);
        if (status !== undefined) info.status = status;
        options.onRetry?.(info);
        request.onRetry?.(info);
      },
    });
  }

  return {
    label: `openai-compatible ${endpointLabel(base)}`,
    async chat(request: ChatRequest): Promise<ChatResponse> {
      const withFormat = request.responseSchema !== undefined && !jsonSchemaUnsupported;
      try {
        return await call(request, withFormat);
      } catch (error) {
        if (
          withFormat &&
          statusOf(error) === 400 &&
          fatalOf(error) === undefined &&
          !request.signal?.aborted
        ) {
          jsonSchemaUnsupported = true;
          return call(request, false);
        }
        throw error;
      }
    },
  };
}

function isRetryable(error: unknown): boolean {
  if (isAbortError(error)) return false;
  if (!(error instanceof MarshalError)) return false;
  if (error.code === 'E_LLM_NETWORK') return error.details?.retryable !== false;
  if (error.code !== 'E_LLM_HTTP') return false;
  if (error.details?.retryable === false) return false;
  const status = statusOf(error);
  return status === 408 || status === 429 || (status !== undefined && status >= 500);
}

/** The same error, marked not to be retried (streamed pieces of it were already handed out). */
function notRetryable(error: MarshalError): MarshalError {
  return new MarshalError(error.spec, error.message, {
    cause: error.cause,
    details: { ...error.details, retryable: false },
    ...(error.hint ? { hint: error.hint } : {}),
  });
}
