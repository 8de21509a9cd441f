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
import {
  describeFetchFailure,
  endpointLabel,
  fatalOf,
  httpError,
  retryAfterOf,
  statusOf,
} from './http-error.ts';
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
}

/** Creates the HTTP {@link ChatModel}. */
export function createOpenAICompatibleModel(options: OpenAICompatibleOptions): ChatModel {
  // Credentials in the URL (`https://user:pass@host/v1`) never reach a message, a trace or fetch
  // (which refuses such URLs with an error quoting them): they are taken out and sent as Basic
  // authorization when no API key is in use.
  const { url: bareBase, user, password } = splitCredentials(options.baseUrl.replace(/\/+$/, ''));
  const base = bareBase;
  const url = `${base}/chat/completions`;
  const endpoint = endpointLabel(url);
  const doFetch = options.fetchImpl ?? fetch;
  const known = [options.apiKey, ...urlSecrets(options.baseUrl)].filter(
    (k): k is string => k !== undefined && k !== '',
  );
  const dialect = isOpenRouter(base) ? 'openrouter' : 'openai';
  const retries = options.retries ?? 3;
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

  async function attempt(request: ChatRequest, withFormat: boolean, signal: AbortSignal | undefined) {
    // A strongly held timer per attempt, cleared when the attempt ends (core/deadline.ts).
    const attemptDeadline = deadline(options.timeoutMs, [signal], `request to ${endpoint}`);
    const attemptSignal = attemptDeadline.signal;
    let response: Response;
    let text: string;
    try {
      response = await doFetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify(toWireRequest(request, withFormat, dialect)),
        redirect: 'error',
        signal: attemptSignal,
      });
      text = await response.text();
    } catch (error) {
      if (signal?.aborted) throw error;
      throw describeFetchFailure(error, endpoint, options.timeoutMs, known);
    } finally {
      attemptDeadline.clear();
    }
    const context = { model: request.model, ...keyHint };
    if (!response.ok) throw httpError(response, text, endpoint, known, context);
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
    const completion = parseCompletion(body, endpoint);
    // OpenRouter's `error` finish reason: the upstream provider failed mid-reply; retried like a 5xx.
    if (completion.finishReason === 'error') {
      throw new MarshalError(
        AGENT_ERRORS.E_LLM_HTTP,
        `${endpoint} ended the reply with finish_reason "error"`,
        {
          details: { endpoint, status: 502, reason: 'finish_reason_error' },
        },
      );
    }
    return completion;
  }

  function call(request: ChatRequest, withFormat: boolean): Promise<ChatResponse> {
    return retry((_n, signal) => attempt(request, withFormat, signal), {
      retries,
      baseDelayMs: options.baseDelayMs ?? 1000,
      signal: request.signal,
      ...(options.random ? { random: options.random } : {}),
      shouldRetry: isRetryable,
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
  const status = statusOf(error);
  return status === 429 || (status !== undefined && status >= 500);
}
