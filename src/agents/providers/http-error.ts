/**
 * Turning HTTP and network failures into MarshalErrors that carry status and Retry-After but
 * never the API key: messages are sanitised, redacted and truncated.
 */

import { parseRetryAfter } from '../../core/async.ts';
import { assertNever, MarshalError } from '../../core/errors.ts';
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

/** What a request was, for naming the cause of a refusal. */
export interface RequestContext {
  model?: string | undefined;
  /** The variable the key came from. */
  apiKeyEnv?: string | undefined;
  hasKey?: boolean | undefined;
}

/**
 * Why every later request would fail the same way, or undefined: `auth` (401/403), `model`
 * (404, or 400/422 naming the model), `refused` (402 payment required), `tls` (the endpoint's
 * certificate was refused: no reply at all). Such errors end a run at
 * once (fail-fast.ts) instead of being repeated by every agent. Other 4xx (a context too long for
 * one agent, say) stay that agent's failure.
 */
export type FatalKind = 'auth' | 'model' | 'refused' | 'tls';

function fatalKind(status: number, message: string, model: string | undefined): FatalKind | undefined {
  if (status === 401 || status === 403) return 'auth';
  if (status === 402) return 'refused';
  // "this model does not support response_format" is about the request, not an unknown model.
  const aboutFormat = /response_format|json_schema|structured output/i.test(message);
  const namesModel =
    !aboutFormat &&
    ((model !== undefined && model !== '' && message.includes(model)) ||
      /\b(?:unknown|invalid|no such|not a valid)\b[^.]*\bmodel\b|\bmodel\b[^.]*\b(?:not found|does not exist|not exist|unknown|invalid|not available)\b/i.test(
        message,
      ));
  if (status === 404) return namesModel ? 'model' : 'refused';
  if ((status === 400 || status === 422) && namesModel) return 'model';
  return undefined;
}

function fatalHint(kind: FatalKind, context: RequestContext): string {
  switch (kind) {
    case 'auth':
      return context.hasKey === false
        ? 'no API key was sent: export OPENROUTER_API_KEY (OpenRouter) or OPENAI_API_KEY, or name the variable in provider.apiKeyEnv'
        : `the endpoint refused the key from ${context.apiKeyEnv ?? 'the environment'}: check ${context.apiKeyEnv ?? 'OPENROUTER_API_KEY / OPENAI_API_KEY'}`;
    case 'model':
      return `check the model id${context.model ? ` ${JSON.stringify(context.model)}` : ''} (--model); the endpoint does not serve it`;
    case 'refused':
      return 'the endpoint refuses these requests (credits, permissions, or a --base-url without the API path such as /v1)';
    case 'tls':
      return TLS_HINT;
    default:
      return assertNever(kind, 'fatal kind');
  }
}

/**
 * E_LLM_HTTP for a failed response (or a 200 carrying an `error` object: its `code` is used as
 * status). A refusal that every later request would repeat carries `details.fatal` (its kind).
 */
export function httpError(
  response: Response,
  text: string,
  endpoint: string,
  known: readonly string[],
  context: RequestContext = {},
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
  const retryAfterMs = retryAfterFromHeaders(response.headers, Date.now());
  const fatal = fatalKind(status, message, context.model);
  return new MarshalError(AGENT_ERRORS.E_LLM_HTTP, `${endpoint} answered HTTP ${status}: ${message}`, {
    details: {
      endpoint,
      status,
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      ...(fatal !== undefined ? { fatal } : {}),
      ...(fatal === 'model' && context.model !== undefined ? { model: context.model } : {}),
      ...(fatal === 'auth' && context.apiKeyEnv !== undefined ? { apiKeyEnv: context.apiKeyEnv } : {}),
    },
    ...(fatal !== undefined ? { hint: fatalHint(fatal, context) } : {}),
  });
}

const TLS_HINT =
  'for an endpoint with a private CA, set NODE_EXTRA_CA_CERTS to that CA certificate (PEM); the check is never turned off';

/** OpenSSL / Node codes of a certificate that was refused (not retried: it will not change). */
const TLS_FAILURES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

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
  if (code !== undefined && TLS_FAILURES.has(code)) {
    // The certificate will not change between attempts: no retry, and say how to trust a private CA.
    return new MarshalError(
      AGENT_ERRORS.E_LLM_NETWORK,
      `cannot reach ${endpoint}: its TLS certificate was refused (${code})`,
      {
        cause: error,
        hint: TLS_HINT,
        details: { endpoint, reason: code, retryable: false, fatal: 'tls' },
      },
    );
  }
  const detail = cleanMessage(
    code ?? (causeText || (error instanceof Error ? error.message : String(error))),
    known,
  );
  return new MarshalError(AGENT_ERRORS.E_LLM_NETWORK, `cannot reach ${endpoint}: ${detail}`, {
    cause: error,
    details: { endpoint, reason: code ?? 'error' },
  });
}

/**
 * The delay a response asks for, in ms: OpenAI's `retry-after-ms` (milliseconds) when present and
 * valid, else `Retry-After` (delta seconds or an HTTP-date); undefined when neither parses.
 */
export function retryAfterFromHeaders(headers: Headers, nowMs: number): number | undefined {
  const ms = headers.get('retry-after-ms')?.trim();
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms)) return Math.round(Number(ms));
  return parseRetryAfter(headers.get('retry-after'), nowMs);
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

/** The fatal kind an error carries (see {@link FatalKind}), if any. */
export function fatalOf(error: unknown): FatalKind | undefined {
  if (!(error instanceof MarshalError)) return undefined;
  const kind = error.details?.fatal;
  return kind === 'auth' || kind === 'model' || kind === 'refused' || kind === 'tls' ? kind : undefined;
}
