/**
 * Which API key goes to which endpoint. Keys come from the environment only, never a config file
 * or the command line, and each well-known variable travels only to its own provider:
 *
 * | endpoint                         | key sent                                   |
 * |----------------------------------|--------------------------------------------|
 * | any, with `keyEnv` named         | that variable (missing: E_MISSING_API_KEY) |
 * | openrouter.ai (the default)      | OPENROUTER_API_KEY (missing: exit 2)       |
 * | api.openai.com                   | OPENAI_API_KEY (missing: exit 2)           |
 * | anything else (Ollama, vLLM ...) | none                                       |
 *
 * `keyEnv` is config `provider.apiKeyEnv` or `--api-key-env`. A key never travels over plain
 * http to a host that is not loopback (E_INVALID_INPUT, exit 2), and a key pasted where a
 * variable NAME belongs is refused without being echoed.
 */

import { CORE_ERRORS, MarshalError } from '../../core/errors.ts';
import { AGENT_ERRORS } from '../errors.ts';

/** OpenRouter, the default endpoint. */
export const DEFAULT_BASE_URL = 'https://openrouter.ai/api/v1';
/** The original Make It Heavy's default model. */
export const DEFAULT_MODEL = 'moonshotai/kimi-k2';

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Prefixes of well-known key formats (OpenAI, OpenRouter, Anthropic, GitHub, GitLab, Slack, AWS ...). */
const KEY_PREFIX = /^(?:sk|pk|rk|ak|xox[abprs]|ghp|gho|ghu|ghs|ghr|github_pat|glpat|hf|gsk|AKIA|AIza)[-_]?/;

function hostOf(baseUrl: string): string | undefined {
  try {
    return new URL(baseUrl).hostname.toLowerCase().replace(/^\[|\]$/g, '');
  } catch {
    return undefined;
  }
}

/** True when `baseUrl` points at OpenRouter (which always needs a key). */
export function isOpenRouter(baseUrl: string): boolean {
  const host = hostOf(baseUrl);
  return host === 'openrouter.ai' || (host?.endsWith('.openrouter.ai') ?? false);
}

/** True when `baseUrl` points at OpenAI's own API, the only place OPENAI_API_KEY goes by default. */
export function isOpenAI(baseUrl: string): boolean {
  return hostOf(baseUrl) === 'api.openai.com';
}

/** True for `localhost`, `*.localhost`, 127.0.0.0/8 and ::1 (plain http there stays on this machine). */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  return (
    h === 'localhost' ||
    h.endsWith('.localhost') ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) ||
    h === '::1' ||
    /^::ffff:127\./.test(h)
  );
}

/**
 * True when `value` (meant as a variable name) looks like a key itself: not a valid name, a
 * well-known key prefix, or long. Such a value is never shown in a message.
 */
export function looksLikeKey(value: string): boolean {
  return !VARIABLE_NAME.test(value) || KEY_PREFIX.test(value) || value.length > 48;
}

/** Throws E_INVALID_INPUT (exit 2) when `name` is not an environment variable name; never echoes it. */
export function checkApiKeyEnv(name: string, field = 'apiKeyEnv'): void {
  if (VARIABLE_NAME.test(name) && !looksLikeKey(name)) return;
  throw new MarshalError(
    CORE_ERRORS.E_INVALID_INPUT,
    `${field}: expected the NAME of an environment variable (such as MY_API_KEY); the value given looks like a key itself and is not shown`,
    {
      hint: 'export the key in a variable and name that variable; keys are never read from the command line or a config file',
      details: { field, length: name.length },
    },
  );
}

/** A URL without `user:pass@`, for messages. */
function withoutCredentials(baseUrl: string): string {
  try {
    const u = new URL(baseUrl);
    u.username = '';
    u.password = '';
    return u.href;
  } catch {
    return '(invalid URL)';
  }
}

function missing(name: string, baseUrl: string, why: string, hint: string): MarshalError {
  return new MarshalError(AGENT_ERRORS.E_MISSING_API_KEY, `${name} is not set${why}`, {
    hint,
    details: { variables: [name], baseUrl: withoutCredentials(baseUrl) },
  });
}

/** The variable whose key goes to `baseUrl`, or undefined (no key for this endpoint). */
export function apiKeyVariable(options: {
  baseUrl: string;
  keyEnv?: string | undefined;
}): string | undefined {
  if (options.keyEnv !== undefined && options.keyEnv !== '') return options.keyEnv;
  if (isOpenRouter(options.baseUrl)) return 'OPENROUTER_API_KEY';
  if (isOpenAI(options.baseUrl)) return 'OPENAI_API_KEY';
  return undefined;
}

/**
 * The API key for `baseUrl` (see the table above). Empty values count as unset. Throws
 * E_MISSING_API_KEY (exit 2) when the endpoint needs a key it does not have, naming the variable;
 * E_INVALID_INPUT (exit 2) when `keyEnv` is not a variable name or the key would cross plain http
 * to a host that is not loopback.
 */
export function resolveApiKey(
  env: Readonly<Record<string, string | undefined>>,
  options: { baseUrl: string; keyEnv?: string | undefined },
): string | undefined {
  if (options.keyEnv !== undefined && options.keyEnv !== '') checkApiKeyEnv(options.keyEnv);
  const name = apiKeyVariable(options);
  if (name === undefined) return undefined;
  const value = env[name]?.trim();
  if (!value) {
    if (name === options.keyEnv) {
      throw missing(
        name,
        options.baseUrl,
        ' (named by apiKeyEnv / --api-key-env)',
        `export ${name}=... (keys are read only from the environment)`,
      );
    }
    const openAiSet = name === 'OPENROUTER_API_KEY' && Boolean(env.OPENAI_API_KEY?.trim());
    throw missing(
      name,
      options.baseUrl,
      openAiSet ? ' (OPENAI_API_KEY is set, but it is sent only to api.openai.com)' : '',
      `export ${name}=... (keys are read only from the environment)${
        openAiSet ? ', or pass --api-key-env OPENAI_API_KEY to send that key to this endpoint' : ''
      }, or point the base URL (setting baseUrl) at a local OpenAI-compatible server`,
    );
  }
  refusePlainHttp(options.baseUrl, name);
  return value;
}

function refusePlainHttp(baseUrl: string, name: string): void {
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    return;
  }
  if (url.protocol !== 'http:' || isLoopbackHost(url.hostname)) return;
  const shown = withoutCredentials(baseUrl);
  throw new MarshalError(
    CORE_ERRORS.E_INVALID_INPUT,
    `baseUrl: refusing to send the key from ${name} over plain http to ${url.hostname} (${shown}); use https, or http only to a loopback address`,
    { details: { field: 'baseUrl', value: shown } },
  );
}
