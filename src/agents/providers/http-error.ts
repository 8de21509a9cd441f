/**
 * Turning HTTP and network failures into MarshalErrors that carry status and Retry-After but
 * never the API key: messages are sanitised, redacted and truncated.
 */

import { parseRetryAfter } from '../../core/async.ts';
import { MarshalError } from '../../core/errors.ts';
import { redactSecrets, sanitizeForLog } from '../../core/log-hygiene.ts';
import { AGENT_ERRORS } from '../errors.ts';

const MAX_MESSAGE = 300;

/** `scheme://host[:port]/path` without credentials, query or fragment, for messages. */
export function endpointLabel(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/** Makes endpoint-supplied text safe to show: one line, no secrets, bounded. */
export function cleanMessage(text: string, known: readonly string[]): string {
  const one = sanitizeForLog(redactSecrets(text.trim(), known));
  return one.length > MAX_MESSAGE ? `${one.slice(0, MAX_MESSAGE)}...` : one;
}

/** The endpoint's own error message from a JSON `{error: {message}}` / `{error: "..."}` / `{message}` body, else the text. */
export function endpointMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown };
    const err = body?.error;
    if (typeof err === 'string') return err;
    if (err && typeof err === 'object' && typeof (err as { message?: unknown }).message === 'string') {
      return (err as { message: string }).message;
    }
    if (typeof body?.message === 'string') return body.message;
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return text;
}

/** E_LLM_HTTP for a failed response (or a 200 carrying an `error` object: its `code` is used as status). */
export function httpError(
  response: Response,
  text: string,
  endpoint: string,
  known: readonly string[],
): MarshalError {
  let status = response.status;
  if (response.ok) {
    try {
      const code = (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
      status = typeof code === 'number' && code >= 400 ? code : 502;
    } catch {
      status = 502;
    }
  }
  const message = cleanMessage(endpointMessage(text), known) || response.statusText || 'no message';
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), Date.now());
  return new MarshalError(AGENT_ERRORS.E_LLM_HTTP, `${endpoint} answered HTTP ${status}: ${message}`, {
    details: { endpoint, status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) },
    ...(status === 401 || status === 403
      ? { hint: 'check the API key in the environment (OPENROUTER_API_KEY / OPENAI_API_KEY)' }
      : {}),
  });
}

/** E_LLM_NETWORK for a fetch that never produced a response (refused, reset, DNS, timeout, redirect). */
export function describeFetchFailure(
  error: unknown,
  endpoint: string,
  timeoutMs: number | undefined,
  known: readonly string[],
): MarshalError {
  if (error instanceof Error && error.name === 'TimeoutError') {
    return new MarshalError(AGENT_ERRORS.E_LLM_NETWORK, `${endpoint} did not answer within ${timeoutMs} ms`, {
      cause: error,
      details: { endpoint, reason: 'timeout' },
    });
  }
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  const causeText = typeof cause?.message === 'string' ? cause.message : '';
  if (/redirect/i.test(causeText)) {
    return new MarshalError(
      AGENT_ERRORS.E_LLM_NETWORK,
      `${endpoint} answered with a redirect; not following it`,
      {
        cause: error,
        hint: 'the API key is only ever sent to the configured base URL; point the base URL (setting baseUrl) at the final address',
        details: { endpoint, reason: 'redirect', retryable: false },
      },
    );
  }
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  const detail = cleanMessage(
    code ?? (causeText || (error instanceof Error ? error.message : String(error))),
    known,
  );
  return new MarshalError(AGENT_ERRORS.E_LLM_NETWORK, `cannot reach ${endpoint}: ${detail}`, {
    cause: error,
    details: { endpoint, reason: code ?? 'error' },
  });
}

/** The HTTP status an error carries, if any. */
export function statusOf(error: unknown): number | undefined {
  if (!(error instanceof MarshalError)) return undefined;
  const status = error.details?.status;
  return typeof status === 'number' ? status : undefined;
}

/** The server-requested delay an error carries (from Retry-After), if any. */
export function retryAfterOf(error: unknown): number | undefined {
  if (!(error instanceof MarshalError)) return undefined;
  const ms = error.details?.retryAfterMs;
  return typeof ms === 'number' ? ms : undefined;
}
